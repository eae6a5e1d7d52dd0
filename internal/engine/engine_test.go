package engine

import (
	"testing"
	"time"

	"github.com/meshready/meshready/internal/attest"
	"github.com/meshready/meshready/internal/check"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/snapshot"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func obj(kind, ns, name string) *snapshot.Object {
	return &snapshot.Object{Kind: kind, Key: kind, Namespace: ns, Name: name, Origin: snapshot.Origin{File: "m.yaml", Line: 3}}
}

func item(id, kind string, sev report.Severity, c *check.Check) check.Item {
	c.ID = id
	return check.Item{Meta: check.Meta{ID: id, Section: "S", Group: "G", Title: id, Kind: kind, Severity: sev}, Check: c}
}

func failOn(name string) func(*check.Context) {
	return func(c *check.Context) {
		for _, o := range c.List("PeerAuthentication") {
			if o.Name == name {
				c.Fail(o, "PERMISSIVE").Fix("set STRICT")
			} else {
				c.Pass(o, "STRICT")
			}
		}
	}
}

func run(t *testing.T, cfg *config.Config, items []check.Item, recs []attest.Record, objs ...*snapshot.Object) *report.Report {
	t.Helper()
	if cfg == nil {
		cfg = config.Default()
	}
	return Run(snapshot.New(objs), Options{Config: cfg, Items: items, Now: now, Attestations: recs})
}

func TestItemStatusIsWorstOfParts(t *testing.T) {
	pa := obj("PeerAuthentication", "a", "legacy")
	cases := []struct {
		name string
		kind string
		fn   func(*check.Context)
		want report.Status
	}{
		{"config fails offline", "config+live", failOn("legacy"), report.Fail},
		{"config passes, live pending offline", "config+live", failOn("other"), report.Pending},
		{"config only passes", "config", failOn("other"), report.Pass},
		{"telemetry without prometheus is pending", "telemetry", nil, report.Pending},
		{"manual without attestation is pending", "manual", nil, report.Pending},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &check.Check{Reads: []string{"PeerAuthentication"}, Config: tc.fn}
			r := run(t, nil, []check.Item{item("x.y", tc.kind, report.Blocker, c)}, nil, pa)
			if got := r.Items[0].Status; got != tc.want {
				t.Fatalf("status %s, want %s (%+v)", got, tc.want, r.Items[0].Parts)
			}
			if r.Verdict != report.NotReady && tc.want != report.Pass {
				t.Fatalf("verdict %s with a blocker at %s", r.Verdict, tc.want)
			}
		})
	}
}

func TestVerdictReadyOnlyWhenBlockersPass(t *testing.T) {
	pa := obj("PeerAuthentication", "a", "legacy")
	ok := &check.Check{Reads: []string{"PeerAuthentication"}, Config: failOn("none")}
	minorFail := &check.Check{Reads: []string{"PeerAuthentication"}, Config: failOn("legacy")}
	r := run(t, nil, []check.Item{item("a.ok", "config", report.Blocker, ok), item("a.minor", "config", report.Minor, minorFail)}, nil, pa)
	if r.Verdict != report.Ready {
		t.Fatalf("verdict %s: a failing minor item must not block", r.Verdict)
	}
	if r.Summary.Fail != 1 || r.Summary.Pass != 1 {
		t.Fatalf("summary %+v", r.Summary)
	}
}

func TestWaiverAppliesUntilExpiry(t *testing.T) {
	pa := obj("PeerAuthentication", "legacy", "permissive")
	c := &check.Check{Reads: []string{"PeerAuthentication"}, Config: failOn("permissive")}
	items := []check.Item{item("security.mtls", "config", report.Blocker, c)}

	cfg := config.Default()
	cfg.Waivers = []config.Waiver{{Item: "security.mtls", Object: "PeerAuthentication/legacy/*", Reason: "migration", Expires: config.Date{Time: now.Add(24 * time.Hour)}}}
	r := run(t, cfg, items, nil, pa)
	if r.Items[0].Status != report.Pass || r.Items[0].Findings[0].Waiver == nil || r.Waivers[0].Used != 1 {
		t.Fatalf("waiver not applied: %+v %+v", r.Items[0], r.Waivers)
	}

	cfg.Waivers[0].Expires = config.Date{Time: now.Add(-time.Hour)}
	r = run(t, cfg, items, nil, pa)
	if r.Items[0].Status != report.Fail || !r.Waivers[0].Expired || r.Waivers[0].Used != 0 {
		t.Fatalf("expired waiver still applied: %+v %+v", r.Items[0], r.Waivers)
	}

	cfg.Waivers[0].Expires = config.Date{Time: now.Add(time.Hour)}
	cfg.Waivers[0].Object = "PeerAuthentication/other/*"
	if r = run(t, cfg, items, nil, pa); r.Items[0].Status != report.Fail {
		t.Fatalf("waiver for another object applied")
	}
}

func TestManualAttestation(t *testing.T) {
	items := []check.Item{item("team.trained", "manual", report.Blocker, &check.Check{})}
	at := now.Add(-48 * time.Hour)
	cases := []struct {
		name string
		rec  attest.Record
		want report.Status
	}{
		{"valid", attest.Record{Item: "team.trained", By: "ana", At: at, Evidence: "https://x", Expires: now.Add(time.Hour)}, report.Pass},
		{"expired", attest.Record{Item: "team.trained", By: "ana", At: at, Evidence: "https://x", Expires: now.Add(-time.Hour)}, report.Fail},
		{"no evidence", attest.Record{Item: "team.trained", By: "ana", At: at}, report.Warn},
		{"other item", attest.Record{Item: "team.procedures", By: "ana", At: at, Evidence: "https://x"}, report.Pending},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, items, []attest.Record{tc.rec})
			if r.Items[0].Status != tc.want {
				t.Fatalf("status %s, want %s: %+v", r.Items[0].Status, tc.want, r.Items[0].Findings)
			}
		})
	}
}

func TestPerServiceExpansionAndOrder(t *testing.T) {
	cfg := config.Default()
	cfg.CriticalServices = []config.Service{{Name: "qwen-llm", Namespace: "dm", Title: "QWEN"}, {Name: "qdrant", Namespace: "dm"}}
	noop := func(c *check.Context) { c.Pass(nil, "ok") }
	items := []check.Item{
		item("a.first", "config", report.Blocker, &check.Check{Config: noop}),
		item("service.S.traffic", "config", report.Blocker, &check.Check{Config: noop}),
		item("service.S.security", "config", report.Blocker, &check.Check{Config: noop}),
		item("z.last", "config", report.Blocker, &check.Check{Config: noop}),
	}
	r := run(t, cfg, items, nil)
	var ids []string
	for _, it := range r.Items {
		ids = append(ids, it.ID)
	}
	want := []string{"a.first", "service.qwen-llm.traffic", "service.qwen-llm.security", "service.qdrant.traffic", "service.qdrant.security", "z.last"}
	if len(ids) != len(want) {
		t.Fatalf("ids %v", ids)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("ids %v, want %v", ids, want)
		}
	}
	if r.Items[1].Group != "QWEN" || r.Items[1].Service != "qwen-llm" {
		t.Fatalf("group/service %+v", r.Items[1])
	}
}

func TestSilentCheckIsAnErrorAndPanicIsContained(t *testing.T) {
	items := []check.Item{
		item("a.silent", "config", report.Blocker, &check.Check{Config: func(*check.Context) {}}),
		item("a.panics", "config", report.Blocker, &check.Check{Config: func(*check.Context) { panic("boom") }}),
	}
	r := run(t, nil, items, nil)
	for _, it := range r.Items {
		if it.Status != report.Error {
			t.Errorf("%s: status %s, want error", it.ID, it.Status)
		}
	}
}

func TestOnlySkip(t *testing.T) {
	noop := func(c *check.Context) { c.Pass(nil, "ok") }
	items := []check.Item{
		item("security.mtls", "config", report.Blocker, &check.Check{Config: noop}),
		item("security.authorization", "config", report.Blocker, &check.Check{Config: noop}),
		item("traffic.routing-rules", "config", report.Blocker, &check.Check{Config: noop}),
	}
	r := Run(snapshot.New(nil), Options{Config: config.Default(), Items: items, Now: now, Only: []string{"security"}, Skip: []string{"security.authorization"}})
	if len(r.Items) != 1 || r.Items[0].ID != "security.mtls" {
		t.Fatalf("items %+v", r.Items)
	}
}

func TestDigestIgnoresTimeAndSignoffs(t *testing.T) {
	pa := obj("PeerAuthentication", "a", "legacy")
	c := &check.Check{Reads: []string{"PeerAuthentication"}, Config: failOn("legacy")}
	items := []check.Item{item("security.mtls", "config", report.Blocker, c), item("signoff.platform", "manual", report.Blocker, &check.Check{})}
	r1 := run(t, nil, items, nil, pa)
	r2 := Run(snapshot.New([]*snapshot.Object{pa}), Options{Config: config.Default(), Items: items, Now: now.Add(time.Hour),
		Attestations: []attest.Record{{Item: "signoff.platform", By: "x", At: now, Evidence: "e"}}})
	if r1.Digest != r2.Digest {
		t.Fatalf("digest changed with time or a sign-off: %s %s", r1.Digest, r2.Digest)
	}
	r3 := run(t, nil, items, nil, obj("PeerAuthentication", "a", "fixed"))
	if r3.Digest == r1.Digest {
		t.Fatal("digest did not change with the evaluated state")
	}
}
