package services

// Effective PeerAuthentication (mTLS mode) of a sidecar workload, as
// istiod composes it: mesh (root namespace, no selector), then namespace
// (no selector), then workload (selector, not in the root namespace), each
// level overriding the one above unless its mode is UNSET; port-level modes
// come from the workload-level policy only. Several policies at one level:
// the oldest wins.

import (
	"sort"

	security "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/snapshot"
)

const (
	modeStrict     = "STRICT"
	modePermissive = "PERMISSIVE"
	modeDisable    = "DISABLE"
)

type paRef struct {
	Obj *snapshot.Object
	PA  *securityv1.PeerAuthentication
}

// mtlsResult is the effective mTLS mode of a workload and where it comes from.
type mtlsResult struct {
	Mode  string
	From  *snapshot.Object // nil: nothing set it (Istio's default, PERMISSIVE)
	Level string           // "mesh-wide", "namespace", "workload" or "default"
	Field string
	Mesh  *snapshot.Object // the mesh-wide policy, if any
	// MeshMode is the mesh-wide mode ("" when there is no mesh-wide policy).
	MeshMode string
	// Ports are port-level modes (container ports) from the workload policy.
	Ports    map[uint32]string
	portFrom *snapshot.Object
	// Ambiguous names levels where several policies compete and their age is unknown.
	Ambiguous []string
}

func modeName(m security.PeerAuthentication_MutualTLS_Mode) string {
	switch m {
	case security.PeerAuthentication_MutualTLS_STRICT:
		return modeStrict
	case security.PeerAuthentication_MutualTLS_PERMISSIVE:
		return modePermissive
	case security.PeerAuthentication_MutualTLS_DISABLE:
		return modeDisable
	}
	return ""
}

func modeRank(m security.PeerAuthentication_MutualTLS_Mode) int {
	switch m {
	case security.PeerAuthentication_MutualTLS_DISABLE:
		return 0
	case security.PeerAuthentication_MutualTLS_PERMISSIVE:
		return 1
	case security.PeerAuthentication_MutualTLS_STRICT:
		return 3
	}
	return 2 // UNSET: inherits
}

// pick chooses the policy of one level: the oldest when every creation
// time is known (istiod's rule); otherwise the weakest, and the level is
// reported ambiguous.
func pick(cands []paRef) (paRef, bool) {
	if len(cands) == 1 {
		return cands[0], false
	}
	known := true
	for _, p := range cands {
		if p.PA.CreationTimestamp.IsZero() {
			known = false
		}
	}
	sorted := append([]paRef(nil), cands...)
	if known {
		sort.SliceStable(sorted, func(i, j int) bool {
			return sorted[i].PA.CreationTimestamp.Before(&sorted[j].PA.CreationTimestamp)
		})
		return sorted[0], false
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		return modeRank(sorted[i].PA.Spec.GetMtls().GetMode()) < modeRank(sorted[j].PA.Spec.GetMtls().GetMode())
	})
	return sorted[0], true
}

func effectiveMTLS(c *check.Context, rootNS, ns string, labels map[string]string) mtlsResult {
	var meshC, nsC, wlC []paRef
	nss := []string{ns}
	if rootNS != ns {
		nss = append(nss, rootNS)
	}
	for _, n := range nss {
		for _, o := range c.InNamespace(snapshot.PeerAuthentication, n) {
			pa, ok := o.Typed.(*securityv1.PeerAuthentication)
			if !ok {
				continue
			}
			sel := pa.Spec.GetSelector().GetMatchLabels()
			switch {
			case len(sel) == 0 && n == rootNS:
				meshC = append(meshC, paRef{o, pa})
			case len(sel) == 0:
				nsC = append(nsC, paRef{o, pa})
			case n != rootNS && snapshot.SelectorMatches(sel, labels):
				wlC = append(wlC, paRef{o, pa})
			}
		}
	}
	r := mtlsResult{Mode: modePermissive, Level: "default"}
	apply := func(cands []paRef, level string) *paRef {
		if len(cands) == 0 {
			return nil
		}
		p, amb := pick(cands)
		if amb {
			r.Ambiguous = append(r.Ambiguous, level)
		}
		if m := modeName(p.PA.Spec.GetMtls().GetMode()); m != "" {
			r.Mode, r.From, r.Level, r.Field = m, p.Obj, level, "spec.mtls.mode"
		}
		return &p
	}
	if m := apply(meshC, "mesh-wide"); m != nil {
		r.Mesh = m.Obj
		r.MeshMode = modeName(m.PA.Spec.GetMtls().GetMode())
		if r.MeshMode == "" {
			r.MeshMode = modePermissive + " (UNSET)"
		}
	}
	apply(nsC, "namespace")
	if w := apply(wlC, "workload"); w != nil && len(w.PA.Spec.GetPortLevelMtls()) > 0 {
		r.Ports = map[uint32]string{}
		for port, m := range w.PA.Spec.GetPortLevelMtls() {
			if mn := modeName(m.GetMode()); mn != "" {
				r.Ports[port] = mn
			} else {
				r.Ports[port] = r.Mode
			}
		}
		// Port-level findings point at the workload policy.
		r.portFrom = w.Obj
	}
	return r
}
