package attest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Store is where the records live: a YAML file in the repository
// (FileStore) or a ConfigMap in the cluster (ConfigMapStore). Both hold the
// same bytes, written by Marshal.
type Store interface {
	// Load reads the whole store; a store not created yet is empty.
	Load(ctx context.Context) (*File, error)
	// Update applies fn to the current content and writes the result so
	// that no concurrent writer's record is lost. A store that does not
	// parse is left untouched.
	Update(ctx context.Context, fn func(*File) error) error
	// Describe names the store for messages ("attestations.yaml",
	// "ConfigMap istio-system/meshready-attestations").
	Describe() string
}

// FileStore is the YAML file kept in the repository.
type FileStore struct{ Path string }

// Load reads the file; a missing file is an empty store.
func (s FileStore) Load(context.Context) (*File, error) { return LoadFile(s.Path) }

// Update is Update on the file.
func (s FileStore) Update(_ context.Context, fn func(*File) error) error { return Update(s.Path, fn) }

// Describe is the file's path.
func (s FileStore) Describe() string { return s.Path }

// Update applies fn to the store at path under an exclusive lock and writes
// the result atomically. A store that does not parse is left untouched and
// the error names the line.
func Update(path string, fn func(*File) error) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	f, err := LoadFile(path)
	if err != nil {
		return fmt.Errorf("%w (the file was not changed: fix it by hand first)", err)
	}
	if err := fn(f); err != nil {
		return err
	}
	data, err := Marshal(f)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".attest-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
