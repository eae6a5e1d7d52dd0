package attest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ConfigMap store defaults.
const (
	DefaultConfigMapName = "meshready-attestations"
	// ConfigMapKey holds the store, byte for byte what a FileStore writes,
	// so `kubectl get configmap -o yaml` shows it as a pull request would.
	ConfigMapKey = "attestations.yaml"
	// MaxConfigMapBytes is the most meshready writes under ConfigMapKey:
	// the API server refuses objects over 1 MiB, and the ConfigMap's
	// metadata needs room too.
	MaxConfigMapBytes = 900 << 10
	// DefaultAttempts bounds the re-reads after a concurrent writer won.
	DefaultAttempts = 10
	fieldManager    = "meshready"
)

// ConfigMapStore keeps the store in a ConfigMap of a live cluster. Writes
// are get → change → update with the resourceVersion read (optimistic
// concurrency): when another writer got there first, the update is refused
// with a conflict and is done again on the new content, so no record is lost.
type ConfigMapStore struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string // default DefaultConfigMapName
	// Attempts bounds the writes tried (default DefaultAttempts).
	Attempts int

	conflicts atomic.Int64
}

// Describe names the ConfigMap.
func (s *ConfigMapStore) Describe() string {
	return fmt.Sprintf("ConfigMap %s/%s", s.Namespace, s.name())
}

func (s *ConfigMapStore) name() string {
	if s.Name == "" {
		return DefaultConfigMapName
	}
	return s.Name
}

// Conflicts is how many writes were refused because another writer changed
// the ConfigMap in between (each was redone on the new content).
func (s *ConfigMapStore) Conflicts() int { return int(s.conflicts.Load()) }

// Load reads the store with one GET; a missing ConfigMap, or one without
// the key, is an empty store.
func (s *ConfigMapStore) Load(ctx context.Context) (*File, error) {
	cm, err := s.Client.CoreV1().ConfigMaps(s.Namespace).Get(ctx, s.name(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &File{}, nil
	}
	if err != nil {
		return nil, s.apiError(err, false)
	}
	return s.parse(cm)
}

// ErrTooLarge is wrapped by the error of a write the ConfigMap cannot hold.
var ErrTooLarge = errors.New("attestation store too large for a ConfigMap")

// errRetry marks a write another writer beat.
var errRetry = errors.New("the ConfigMap changed since it was read")

// Update applies fn to the store and writes it, redoing both when another
// writer changed the ConfigMap in between (at most Attempts times). A
// ConfigMap that does not parse is not written.
func (s *ConfigMapStore) Update(ctx context.Context, fn func(*File) error) error {
	attempts := s.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	for attempt := 1; ; attempt++ {
		err := s.updateOnce(ctx, fn)
		if !errors.Is(err, errRetry) {
			return err
		}
		s.conflicts.Add(1)
		if attempt >= attempts {
			return &StoreError{
				Reason: fmt.Sprintf("%s: other writers changed it %d times in a row", s.Describe(), attempts),
				Fix:    "nothing was written; run the command again",
				Err:    err,
			}
		}
		// Randomised, growing back-off spreads the writers out.
		base := 20 * time.Millisecond << min(attempt-1, 5)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(base/2 + rand.N(base/2)):
		}
	}
}

func (s *ConfigMapStore) updateOnce(ctx context.Context, fn func(*File) error) error {
	cms := s.Client.CoreV1().ConfigMaps(s.Namespace)
	cm, err := cms.Get(ctx, s.name(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm, err = nil, nil
	}
	if err != nil {
		return s.apiError(err, true)
	}
	f := &File{}
	if cm != nil {
		if f, err = s.parse(cm); err != nil {
			return err
		}
	}
	if err := fn(f); err != nil {
		return err
	}
	data, err := Marshal(f)
	if err != nil {
		return err
	}
	if len(data) > MaxConfigMapBytes {
		return &StoreError{
			Err:    ErrTooLarge,
			Reason: fmt.Sprintf("%s: the store would be %d KiB, over the %d KiB meshready writes into one ConfigMap (the API server refuses objects over 1 MiB)", s.Describe(), len(data)>>10, MaxConfigMapBytes>>10),
			Fix:    fmt.Sprintf("nothing was written; remove expired or superseded records (kubectl -n %s edit configmap %s), or keep the records in a file (--store file)", s.Namespace, s.name()),
		}
	}
	if cm == nil {
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: s.name(), Namespace: s.Namespace,
				Labels:      map[string]string{"app.kubernetes.io/managed-by": "meshready"},
				Annotations: map[string]string{"meshready.io/store": "attestations, sign-offs and waivers; written by meshready attest, signoff and waive"},
			},
			Data: map[string]string{ConfigMapKey: string(data)},
		}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) {
			return errRetry
		}
	} else {
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[ConfigMapKey] = string(data)
		// cm carries the resourceVersion read: the server refuses the
		// update if anyone wrote since.
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager})
		if apierrors.IsConflict(err) {
			return errRetry
		}
	}
	if err != nil {
		return s.apiError(err, true)
	}
	return nil
}

// parse decodes the key; errors name the ConfigMap, the key and the line
// (counted from the key value's first line).
func (s *ConfigMapStore) parse(cm *corev1.ConfigMap) (*File, error) {
	data, ok := cm.Data[ConfigMapKey]
	if !ok {
		return &File{}, nil
	}
	f, err := ParseFile(fmt.Sprintf("%s, key %s", s.Describe(), ConfigMapKey), []byte(data))
	if err != nil {
		return nil, &StoreError{
			Reason: err.Error(),
			Fix:    fmt.Sprintf("the ConfigMap was not changed: correct it with kubectl -n %s edit configmap %s (lines count from the first line of %s)", s.Namespace, s.name(), ConfigMapKey),
			Err:    err,
		}
	}
	return f, nil
}

// apiError explains a failed request, with the RBAC rule to add when the
// identity may not do it.
func (s *ConfigMapStore) apiError(err error, write bool) error {
	switch {
	case apierrors.IsForbidden(err):
		return &StoreError{Reason: fmt.Sprintf("%s: %v", s.Describe(), err), Fix: RBACFix(s.Namespace, s.name(), write), Err: err}
	case apierrors.IsUnauthorized(err):
		return &StoreError{Reason: fmt.Sprintf("%s: the API server rejected the credentials (%v)", s.Describe(), err), Fix: "log in again, or give --kubeconfig/--context of a valid identity", Err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return &StoreError{Reason: fmt.Sprintf("%s: %v", s.Describe(), err), Fix: "check that the API server of --kubeconfig/--context is reachable", Err: err}
	}
	if apierrors.ReasonForError(err) == metav1.StatusReasonUnknown {
		return &StoreError{Reason: fmt.Sprintf("%s: %v", s.Describe(), err), Fix: "check that the API server of --kubeconfig/--context is reachable", Err: err}
	}
	return &StoreError{Reason: fmt.Sprintf("%s: %v", s.Describe(), err), Err: err}
}

// RBACFix is the rule an identity needs for the ConfigMap store: get to
// read it; get, update and create to write it (create cannot be limited to
// one name: the object does not exist when it is authorised).
func RBACFix(namespace, name string, write bool) string {
	var b strings.Builder
	if !write {
		fmt.Fprintf(&b, "grant the reader get on it, in a Role in namespace %s (the ClusterRole of deploy/rbac.yaml has it):\n", namespace)
		fmt.Fprintf(&b, "  - apiGroups: [\"\"]\n    resources: [\"configmaps\"]\n    resourceNames: [%q]\n    verbs: [\"get\"]", name)
		return b.String()
	}
	fmt.Fprintf(&b, "grant the writer these rules in a Role in namespace %s (deploy/attestation-store-rbac.yaml):\n", namespace)
	fmt.Fprintf(&b, "  - apiGroups: [\"\"]\n    resources: [\"configmaps\"]\n    resourceNames: [%q]\n    verbs: [\"get\", \"update\"]\n", name)
	b.WriteString("  - apiGroups: [\"\"]\n    resources: [\"configmaps\"]\n    verbs: [\"create\"]")
	return b.String()
}
