package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/snapshot"
)

// served is what discovery says the server serves.
type served struct {
	groups    map[string]*metav1.APIGroup
	resources map[schema.GroupVersion][]metav1.APIResource
	failed    map[schema.GroupVersion]error // group versions whose discovery failed
}

// discover asks the server which resources it serves (aggregated
// discovery: one or two requests). Discovery takes no context, so it runs
// aside and the load stops waiting for it when ctx ends.
func (l *session) discover(ctx context.Context) (*served, error) {
	type answer struct {
		groups []*metav1.APIGroup
		lists  []*metav1.APIResourceList
		err    error
	}
	ch := make(chan answer, 1)
	l.requests.Add(2)
	go func() {
		g, r, err := l.disc.ServerGroupsAndResources()
		ch <- answer{g, r, err}
	}()
	var a answer
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case a = <-ch:
	}
	s := &served{groups: map[string]*metav1.APIGroup{}, resources: map[schema.GroupVersion][]metav1.APIResource{}, failed: map[schema.GroupVersion]error{}}
	if a.err != nil {
		var partial *discovery.ErrGroupDiscoveryFailed
		if !errors.As(a.err, &partial) {
			return nil, a.err
		}
		for gv, err := range partial.Groups {
			s.failed[gv] = err
		}
	}
	for _, g := range a.groups {
		s.groups[g.Name] = g
	}
	for _, rl := range a.lists {
		gv, err := schema.ParseGroupVersion(rl.GroupVersion)
		if err != nil {
			continue
		}
		s.resources[gv] = rl.APIResources
	}
	return s, nil
}

// find returns the resource of a group version named resource, if served.
func (s *served) find(gv schema.GroupVersion, resource string) (metav1.APIResource, bool) {
	for _, r := range s.resources[gv] {
		if r.Name == resource {
			return r, true
		}
	}
	return metav1.APIResource{}, false
}

// versionsOf returns the group versions serving kind, the group's
// preferred version first, then in the server's priority order.
func (s *served) versionsOf(group, kind string) []schema.GroupVersion {
	g := s.groups[group]
	if g == nil {
		return nil
	}
	var order []string
	if g.PreferredVersion.Version != "" {
		order = append(order, g.PreferredVersion.Version)
	}
	for _, v := range g.Versions {
		if v.Version != g.PreferredVersion.Version {
			order = append(order, v.Version)
		}
	}
	var out []schema.GroupVersion
	for _, v := range order {
		gv := schema.GroupVersion{Group: group, Version: v}
		for _, r := range s.resources[gv] {
			if r.Kind == kind && !strings.Contains(r.Name, "/") {
				out = append(out, gv)
				break
			}
		}
	}
	return out
}

// groupFailed returns the discovery error of a group, if any of its versions failed.
func (s *served) groupFailed(group string) error {
	for gv, err := range s.failed {
		if gv.Group == group {
			return err
		}
	}
	return nil
}

// mode is how a kind is listed.
type mode int

const (
	modeTyped    mode = iota // typed clientset, protobuf
	modeJSON                 // JSON, decoded by internal/loader
	modeMetadata             // metadata only
	modeTable                // Table form: metadata and printed columns (Secrets)
)

// job lists one kind.
type job struct {
	key           string
	kind          string
	gv            schema.GroupVersion
	resource      string
	mode          mode
	custom        bool
	clusterScoped bool

	objs     []*snapshot.Object
	pages    atomic.Int64
	restarts atomic.Int64
	split    int // namespaces listed one by one, when split
	failed   bool
	took     time.Duration
}

// plan resolves each kind key to what and how to list, recording a
// KindError for kinds that cannot be listed.
func (l *session) plan(s *served, kinds []string) []*job {
	var jobs []*job
	var istioMissing []string
	noIstio := true
	for g := range istioGroups {
		if s.groups[g] != nil {
			noIstio = false
		}
	}
	for _, key := range sortedUnique(kinds) {
		kind, group := splitKey(key)
		if b, ok := builtins[key]; ok {
			gv := schema.GroupVersion{Group: b.group, Version: b.version}
			r, ok := s.find(gv, b.resource)
			if !ok {
				msg := fmt.Sprintf("this API server (%s) does not serve %s %s", l.res.Live.ServerVersion, gv, kind)
				if err := s.failed[gv]; err != nil {
					msg = fmt.Sprintf("discovery of %s failed: %v", gv, err)
				}
				l.kindError(key, snapshot.KindError{Message: msg,
					Remediation: "meshready reads " + gv.String() + " " + kind + " (Kubernetes 1.25 or later serves it)"})
				continue
			}
			j := &job{key: key, kind: kind, gv: gv, resource: b.resource, mode: modeTyped, clusterScoped: !r.Namespaced}
			switch key {
			case snapshot.ConfigMap:
				j.mode = modeMetadata
			case snapshot.Secret:
				j.mode = modeTable
			}
			jobs = append(jobs, j)
			continue
		}
		gvs := s.versionsOf(group, kind)
		if len(gvs) == 0 {
			_, resource := resourceOf(key)
			switch {
			case s.groupFailed(group) != nil:
				l.kindError(key, snapshot.KindError{
					Message:     fmt.Sprintf("discovery of the API group %s failed: %v", group, s.groupFailed(group)),
					Remediation: "check the API service of " + group + ": kubectl get apiservices | grep " + group,
				})
			case istioGroups[group] && noIstio:
				istioMissing = append(istioMissing, key)
				l.kindError(key, snapshot.KindError{
					Message: "Istio's CRDs are not installed in this cluster (it serves no networking.istio.io, security.istio.io or telemetry.istio.io API): " +
						"is Istio installed, and is this the mesh's cluster (--context)?",
					Remediation: "install Istio (istioctl install, or the istio/base Helm chart, which holds the CRDs), or point meshready at the mesh's cluster with --context",
				})
			case istioGroups[group]:
				l.kindError(key, snapshot.KindError{
					Message:     fmt.Sprintf("the CRD %s.%s is not installed, although other Istio CRDs are: this Istio installation is incomplete or older than meshready expects", resource, group),
					Remediation: "install Istio's CRDs of the running Istio version (istioctl install, or helm upgrade istio-base istio/base)",
				})
			default:
				l.res.Absent = append(l.res.Absent, key)
			}
			continue
		}
		j := &job{key: key, kind: kind, gv: gvs[0], mode: modeMetadata, custom: true}
		for _, gv := range gvs {
			if loaderDecodes(gv.String(), kind) {
				j.gv, j.mode = gv, modeJSON
				break
			}
		}
		for _, res := range s.resources[j.gv] {
			if res.Kind == kind && !strings.Contains(res.Name, "/") {
				j.resource, j.clusterScoped = res.Name, !res.Namespaced
				break
			}
		}
		jobs = append(jobs, j)
	}
	if len(istioMissing) > 0 {
		l.res.Warnings = append(l.res.Warnings, fmt.Sprintf(
			"Istio's CRDs are not installed in the cluster of context %s: the items reading Istio resources (%s) report error. Is this the mesh's cluster?",
			l.context, joinMax(istioMissing, 3)))
	}
	return jobs
}

var decodes sync.Map // "apiVersion kind" -> bool

// loaderDecodes reports whether internal/loader keeps a typed form of an
// object of this apiVersion and kind; kinds it does not are listed as
// metadata only, which is all the snapshot keeps of them.
func loaderDecodes(apiVersion, kind string) bool {
	k := apiVersion + " " + kind
	if v, ok := decodes.Load(k); ok {
		return v.(bool)
	}
	doc := fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":{"name":"probe","namespace":"probe"}}`, apiVersion, kind)
	objs, _ := loader.LoadBytes("probe.json", []byte(doc))
	ok := len(objs) == 1 && objs[0].Typed != nil
	decodes.Store(k, ok)
	return ok
}
