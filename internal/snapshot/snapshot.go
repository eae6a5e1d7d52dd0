package snapshot

import (
	"sort"
	"strings"
	"sync"
)

// Snapshot is the indexed, read-only set of objects every check reads.
// Build it once with New; it is safe for concurrent readers.
type Snapshot struct {
	byKind map[string][]*Object // each slice sorted by namespace, name
	byKey  map[objKey]*Object
	byNS   map[nsKindKey][]*Object
	// hostIdx holds one lazily built *hostIndex per kind key.
	hostIdx sync.Map

	// Live is set when the objects came from a running cluster, so that
	// the live parts of items can be evaluated.
	Live *LiveInfo
	// InputErrors are documents that could not be used (malformed, duplicate, nameless).
	InputErrors []InputError
	// KindErrors holds, per kind key, why that kind could not be read
	// (a 403, a missing CRD); items reading it report `error`.
	KindErrors map[string]KindError
}

// LiveInfo describes the cluster a live snapshot came from.
type LiveInfo struct {
	Context       string // kubeconfig context, or "in-cluster"
	ServerVersion string // e.g. "v1.37.2"
}

// KindError explains why one kind could not be listed, and how to fix it.
type KindError struct {
	Message     string
	Remediation string // e.g. the RBAC rule to add
}

type objKey struct{ kind, ns, name string }
type nsKindKey struct{ kind, ns string }

// New indexes objects. Duplicates must have been removed by the source.
func New(objs []*Object) *Snapshot {
	s := &Snapshot{
		byKind:     map[string][]*Object{},
		byKey:      make(map[objKey]*Object, len(objs)),
		byNS:       map[nsKindKey][]*Object{},
		KindErrors: map[string]KindError{},
	}
	for _, o := range objs {
		s.byKind[o.Key] = append(s.byKind[o.Key], o)
		s.byKey[objKey{o.Key, o.Namespace, o.Name}] = o
	}
	for k, list := range s.byKind {
		sort.Slice(list, func(i, j int) bool {
			if list[i].Namespace != list[j].Namespace {
				return list[i].Namespace < list[j].Namespace
			}
			return list[i].Name < list[j].Name
		})
		for _, o := range list {
			nk := nsKindKey{k, o.Namespace}
			s.byNS[nk] = append(s.byNS[nk], o)
		}
	}
	return s
}

// List returns every object of a kind key, sorted by namespace and name.
func (s *Snapshot) List(kind string) []*Object { return s.byKind[kind] }

// InNamespace returns the objects of a kind in one namespace, sorted by name.
func (s *Snapshot) InNamespace(kind, ns string) []*Object { return s.byNS[nsKindKey{kind, ns}] }

// Get returns one object or nil.
func (s *Snapshot) Get(kind, ns, name string) *Object { return s.byKey[objKey{kind, ns, name}] }

// Kinds returns the kind keys present, sorted.
func (s *Snapshot) Kinds() []string {
	out := make([]string, 0, len(s.byKind))
	for k := range s.byKind {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// All returns every object, in kind, namespace, name order.
func (s *Snapshot) All() []*Object {
	var out []*Object
	for _, k := range s.Kinds() {
		out = append(out, s.byKind[k]...)
	}
	return out
}

// Typed returns the typed objects of a kind key.
func Typed[T any](s *Snapshot, kind string) []T {
	list := s.byKind[kind]
	out := make([]T, 0, len(list))
	for _, o := range list {
		if t, ok := o.Typed.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// SelectorMatches reports whether every key of sel is in labels with the same value.
// An empty selector matches everything, as Kubernetes' matchLabels does.
func SelectorMatches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

// FQDN returns the name Istio gives a host written in namespace ns: a short
// name without dots ("qwen-llm") becomes "qwen-llm.<ns>.svc.cluster.local";
// any name with a dot is taken literally, as Istio does (so "qwen-llm.devmentor"
// is not the Service: write the full name).
func FQDN(host, ns string) string {
	if host == "" || strings.HasPrefix(host, "*") || strings.Contains(host, ".") {
		return host
	}
	return host + "." + ns + ".svc.cluster.local"
}
