package export

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ReadmeName is the file that says what the export holds and what it does not.
const ReadmeName = "README.txt"

// readmeMarker starts every README.txt this package writes; it marks a
// directory as a previous export that --overwrite may replace.
const readmeMarker = "meshready export:"

// ErrExists is returned when the target directory holds something else.
var ErrExists = errors.New("exists and is not empty")

// Write writes the export to dir. dir must not exist, be empty, or (with
// overwrite) hold a previous export, which is replaced as a whole: a stale
// file left beside the new ones would be applied with them. The files are
// written to a temporary sibling directory first, then renamed into place.
func (e *Export) Write(dir string, overwrite bool) error {
	dir = filepath.Clean(dir)
	replace := false
	if entries, err := os.ReadDir(dir); err == nil {
		if len(entries) > 0 {
			head, _ := os.ReadFile(filepath.Join(dir, ReadmeName))
			if !strings.HasPrefix(string(head), readmeMarker) {
				return fmt.Errorf("%s %w (and is not a previous export): choose a new directory", dir, ErrExists)
			}
			if !overwrite {
				return fmt.Errorf("%s holds a previous export: give --overwrite to replace it", dir)
			}
		}
		replace = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	for _, f := range e.Files {
		data, err := Encode(f.Docs)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		p := filepath.Join(tmp, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, append([]byte(fileHeader(f)), data...), 0o644); err != nil {
			return err
		}
	}
	for _, in := range e.Installs {
		p := filepath.Join(tmp, filepath.FromSlash(in.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, in.Content, 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ReadmeName), []byte(e.Readme(dir)), 0o644); err != nil {
		return err
	}
	if replace {
		old := tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return err
		}
		if err := os.Rename(tmp, dir); err != nil {
			_ = os.Rename(old, dir)
			return err
		}
		return os.RemoveAll(old)
	}
	return os.Rename(tmp, dir)
}

func fileHeader(f File) string {
	kind, _, _ := strings.Cut(f.Kind, ".")
	where := "cluster-scoped"
	if f.Namespace != "" {
		where = "namespace " + f.Namespace
	}
	return fmt.Sprintf("# %s (%s): %d object(s), written by meshready export.\n", kind, where, len(f.Objects))
}

// Readme says what dir holds, how to restore it, and what must be restored
// from elsewhere (Secrets above all).
func (e *Export) Readme(dir string) string {
	var b strings.Builder
	n := 0
	for _, f := range e.Files {
		n += len(f.Objects)
	}
	fmt.Fprintf(&b, "%s %d objects of the mesh configuration in %d files.\n", readmeMarker, n, len(e.Files))
	if len(e.Incomplete) > 0 {
		fmt.Fprintf(&b, "\nINCOMPLETE: %d object(s) could not be exported (see the end of this file).\n", len(e.Incomplete))
	}
	fmt.Fprintf(&b, `
Restore (files apply in name order: namespaces first, then config maps and
webhooks, the gateways, and Istio's objects, DestinationRules before the
VirtualServices that use their subsets, policies last):

  kubectl diff -f %[1]s      # what would change
  kubectl apply -f %[1]s
  kubectl diff -f %[1]s      # nothing left: the cluster matches the export

kubectl apply does not delete objects created after this export; delete
those by name. Status, managedFields, resourceVersion, uid,
creationTimestamp, generation, owner references, kubectl's
last-applied-configuration, Services' allocated cluster IPs and the
webhooks' CA bundles (istiod writes them) are left out on purpose.
`, dir)

	fmt.Fprintf(&b, "\nFiles:\n")
	width := 0
	for _, f := range e.Files {
		width = max(width, len(f.Name))
	}
	for _, f := range e.Files {
		kind, _, _ := strings.Cut(f.Kind, ".")
		note := ""
		if strings.HasPrefix(f.Name, "install/") {
			note = "  (istioctl input, not applied by kubectl apply -f)"
		}
		fmt.Fprintf(&b, "  %-*s %3d %s%s\n", width, f.Name, len(f.Objects), kind, note)
	}
	if len(e.Installs) > 0 {
		b.WriteString("\nControl plane (istioctl input in install/, which kubectl apply -f does not read):\n")
		for _, in := range e.Installs {
			fmt.Fprintf(&b, "  %s: reinstalls istiod revision %s as exported:\n", in.Name, in.Revision)
			fmt.Fprintf(&b, "      istio-<version>/bin/istioctl install -y -f %s/%s\n", dir, in.Name)
		}
	}

	b.WriteString("\nSecrets: NOT exported. Restore each from its own source (the secret store,\ncert-manager, your CA) before the objects that use them:\n")
	if len(e.Secrets) == 0 {
		b.WriteString("  (the exported configuration references none)\n")
	}
	for _, s := range e.Secrets {
		state := "not among the inputs"
		if s.Present {
			state = "present"
			if s.Type != "" {
				state += ", type " + s.Type
			}
		}
		if s.ManagedBy != "" {
			state += ", managed by " + s.ManagedBy
		}
		fmt.Fprintf(&b, "  %s/%s (%s)\n", s.Namespace, s.Name, state)
		for _, u := range s.UsedBy {
			fmt.Fprintf(&b, "      used by %s\n", u)
		}
	}
	if len(e.MissingNamespaces) > 0 {
		b.WriteString("\nNamespaces the inputs hold no Namespace object for (create them, with\ntheir injection labels, before applying):\n")
		for _, ns := range e.MissingNamespaces {
			fmt.Fprintf(&b, "  %s\n", ns)
		}
	}
	if len(e.Left) > 0 {
		b.WriteString("\nNot exported on purpose:\n")
		for _, p := range e.Left {
			fmt.Fprintf(&b, "  %s: %s\n", p.Object, p.Reason)
		}
	}
	if len(e.Incomplete) > 0 {
		b.WriteString("\nCould not be exported (this export is INCOMPLETE):\n")
		for _, p := range e.Incomplete {
			fmt.Fprintf(&b, "  %s: %s\n", p.Object, p.Reason)
		}
	}
	return b.String()
}

// Count returns the number of exported objects.
func (e *Export) Count() int { return len(e.Objects()) }
