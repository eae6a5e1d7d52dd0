// Package snapshot holds one immutable, indexed view of a mesh's objects.
// Sources (manifest files, a live cluster) build it; checks only read it.
package snapshot

import "fmt"

// Origin says where an object came from: a file and the line its document
// starts at, or the cluster it was listed from (File "cluster", Line 0).
type Origin struct {
	File string
	Line int
}

func (o Origin) String() string {
	if o.Line > 0 {
		return fmt.Sprintf("%s:%d", o.File, o.Line)
	}
	return o.File
}

// Object is one Kubernetes object with its identity and, for the kinds
// meshready understands, its typed form.
type Object struct {
	APIVersion  string
	Kind        string // the plain kind, e.g. "Deployment"
	Key         string // the kind key, e.g. "Deployment.apps" (see kinds.go)
	Namespace   string
	Name        string
	Labels      map[string]string
	Annotations map[string]string
	Origin      Origin
	// Typed is the decoded object: *appsv1.Deployment, *networkingv1.VirtualService
	// (istio.io/client-go, whatever apiVersion the input used), *monitoring.PrometheusRule...
	// It is nil for kinds meshready ignores.
	Typed any
}

// ID is "Kind/namespace/name" (or "Kind/name" when cluster-scoped): the
// string waivers and messages name objects by.
func (o *Object) ID() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// InputError is a problem with one input document; the rest is still evaluated.
type InputError struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func (e InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Message)
}
