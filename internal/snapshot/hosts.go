package snapshot

import (
	"strings"
	"sync"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// hostIndex maps host FQDNs to the objects that name them, built on first use.
type hostIndex struct {
	once sync.Once
	m    map[string][]*Object
}

// ByHost returns the objects of kind whose hosts include fqdn:
// Service (its cluster-local name), VirtualService and ServiceEntry (spec.hosts),
// DestinationRule (spec.host). Short names are resolved in the object's
// namespace, as Istio does. Wildcard hosts are indexed as written ("*.example.com").
func (s *Snapshot) ByHost(kind, fqdn string) []*Object {
	v, _ := s.hostIdx.LoadOrStore(kind, &hostIndex{})
	hi := v.(*hostIndex)
	hi.once.Do(func() {
		hi.m = map[string][]*Object{}
		for _, o := range s.byKind[kind] {
			for _, h := range ObjectHosts(o) {
				hi.m[h] = append(hi.m[h], o)
			}
		}
	})
	out := hi.m[fqdn]
	if out == nil && !strings.HasPrefix(fqdn, "*") {
		// A wildcard host "*.example.com" covers "api.example.com".
		if i := strings.IndexByte(fqdn, '.'); i > 0 {
			out = hi.m["*"+fqdn[i:]]
		}
	}
	return out
}

// ObjectHosts returns the host FQDNs an object declares.
func ObjectHosts(o *Object) []string {
	var hosts []string
	switch t := o.Typed.(type) {
	case *networkingv1.VirtualService:
		for _, h := range t.Spec.GetHosts() {
			hosts = append(hosts, FQDN(h, o.Namespace))
		}
	case *networkingv1.DestinationRule:
		hosts = append(hosts, FQDN(t.Spec.GetHost(), o.Namespace))
	case *networkingv1.ServiceEntry:
		hosts = append(hosts, t.Spec.GetHosts()...)
	default:
		if o.Key == Service {
			hosts = append(hosts, o.Name+"."+o.Namespace+".svc.cluster.local")
		}
	}
	return hosts
}
