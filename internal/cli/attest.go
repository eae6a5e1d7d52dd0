package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshready/meshready/internal/attest"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/report"
)

// StoreOptions locate the attestation store.
type StoreOptions struct {
	ConfigPath string // meshready.yaml; its `attestations` names the store
	File       string // the store file, overriding the config
	Now        time.Time
}

func (s *StoreOptions) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.ConfigPath, "config", "", "meshready.yaml (default ./meshready.yaml) whose `attestations` names the store")
	cmd.Flags().StringVar(&s.File, "file", "", "the attestation store file (overrides the config)")
}

// path returns the store file: --file, else the config's attestations, else
// attestations.yaml beside the config.
func (s *StoreOptions) path() (string, error) {
	if s.File != "" {
		return s.File, nil
	}
	cfgPath := s.ConfigPath
	if cfgPath == "" {
		cfgPath = config.FileName
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		if s.ConfigPath == "" && errors.Is(err, os.ErrNotExist) {
			return "attestations.yaml", nil
		}
		return "", exitcode.Usagef(err)
	}
	if cfg.Attestations != "" {
		return cfg.Resolve(cfg.Attestations), nil
	}
	return filepath.Join(filepath.Dir(cfgPath), "attestations.yaml"), nil
}

func (s *StoreOptions) now() time.Time {
	if s.Now.IsZero() {
		return time.Now().UTC().Truncate(time.Second)
	}
	return s.Now
}

// identity returns who is recording: --by, else git's user.name. It is
// recorded as given, never trusted as proof of identity.
func identity(by string) (string, error) {
	if by != "" {
		return by, nil
	}
	if out, err := exec.Command("git", "config", "user.name").Output(); err == nil {
		if name := strings.TrimSpace(string(out)); name != "" {
			return name, nil
		}
	}
	return "", exitcode.Usagef(errors.New("say who you are with --by NAME (no git user.name found)"))
}

func itemMeta(id string) (string, bool) {
	for _, m := range checks.Catalog() {
		if m.ID == id {
			return m.Kind, true
		}
	}
	return "", false
}

// AttestOptions are the flags of `meshready attest`.
type AttestOptions struct {
	StoreOptions
	Item, By, Evidence, Expires, Note string
}

func newAttestCmd(io IO) *cobra.Command {
	o := &AttestOptions{}
	cmd := &cobra.Command{
		Use:   "attest ITEM --by NAME --evidence URL",
		Short: "Record a human attestation for a manual or docs item",
		Example: `  meshready attest team.trained --by "Dana Ops" --evidence https://wiki.example.com/istio-training --expires 180d
  meshready attest logging.retention --evidence https://wiki.example.com/log-retention --note "30 days hot, 1 year cold"`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return completeItemIDs(nil, nil, "")
		},
		RunE: func(_ *cobra.Command, args []string) error {
			o.Item = args[0]
			return RunAttest(io, o)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&o.By, "by", "", "who attests (default: git user.name)")
	cmd.Flags().StringVar(&o.Evidence, "evidence", "", "link to the evidence (required)")
	cmd.Flags().StringVar(&o.Expires, "expires", "90d", "how long it holds: a duration (90d, 720h) or a date (2027-03-31)")
	cmd.Flags().StringVar(&o.Note, "note", "", "a note shown in reports")
	return cmd
}

// parseExpiry turns "90d" or a date into an absolute time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := config.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	t, err := config.ParseDate(s)
	if err != nil {
		return time.Time{}, exitcode.Usagef(fmt.Errorf("--expires %q: want a duration (90d) or a date (2027-03-31)", s))
	}
	return t, nil
}

// RunAttest records an attestation.
func RunAttest(io IO, o *AttestOptions) error {
	kind, ok := itemMeta(o.Item)
	if !ok {
		return exitcode.Usagef(fmt.Errorf("no item %q (see meshready checks list)", o.Item))
	}
	if !strings.Contains(kind, "manual") && !strings.Contains(kind, "docs") {
		return exitcode.Usagef(fmt.Errorf("%s is a %s item: only manual and docs items take attestations (the others are evaluated)", o.Item, kind))
	}
	if strings.HasPrefix(o.Item, "signoff.") {
		return exitcode.Usagef(fmt.Errorf("record team approvals with meshready signoff %s", strings.TrimPrefix(o.Item, "signoff.")))
	}
	if o.Evidence == "" {
		return exitcode.Usagef(errors.New("--evidence URL is required: an attestation without evidence is only a claim"))
	}
	by, err := identity(o.By)
	if err != nil {
		return err
	}
	now := o.now()
	exp, err := parseExpiry(o.Expires, now)
	if err != nil {
		return err
	}
	path, err := o.path()
	if err != nil {
		return err
	}
	rec := attest.Record{Item: o.Item, By: by, At: now, Evidence: o.Evidence, Expires: exp, Note: o.Note}
	if err := attest.Update(path, func(f *attest.File) error {
		f.Attestations = append(f.Attestations, rec)
		return nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "recorded: %s attested by %s, evidence %s, until %s (in %s)\n", o.Item, by, o.Evidence, expiryText(exp), path)
	return nil
}

func expiryText(t time.Time) string {
	if t.IsZero() {
		return "no expiry"
	}
	return t.UTC().Format(time.RFC3339)
}

// SignoffOptions are the flags of `meshready signoff`.
type SignoffOptions struct {
	StoreOptions
	Team, By, Report, Evidence, Expires, Note string
	AcceptRisk                                []string
}

func newSignoffCmd(io IO) *cobra.Command {
	o := &SignoffOptions{}
	cmd := &cobra.Command{
		Use:   "signoff TEAM --by NAME --report report.json",
		Short: "Record a team's approval, bound to the digest of the report it approved",
		Long: `Record a team's approval of the evaluated state in a JSON report. The approval is
bound to the report's digest (item IDs, statuses and evidence; not timestamps): when a
later check evaluates a different state, the sign-off shows as stale until renewed.
A sign-off on a not-ready report is refused unless --accept-risk names every blocking item.`,
		Example: `  meshready check ./manifests -o json=report.json
  meshready signoff security --by "Sam Sec" --report report.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Team = args[0]
			return RunSignoff(io, o)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&o.By, "by", "", "who signs (default: git user.name)")
	cmd.Flags().StringVar(&o.Report, "report", "", "the JSON report approved (required)")
	cmd.Flags().StringVar(&o.Evidence, "evidence", "", "link to the review (optional)")
	cmd.Flags().StringVar(&o.Expires, "expires", "", "how long it holds (default: until the state changes)")
	cmd.Flags().StringVar(&o.Note, "note", "", "a note shown in reports")
	cmd.Flags().StringSliceVar(&o.AcceptRisk, "accept-risk", nil, "blocking item IDs whose risk this sign-off accepts")
	return cmd
}

// RunSignoff records a sign-off.
func RunSignoff(io IO, o *SignoffOptions) error {
	item := "signoff." + o.Team
	if _, ok := itemMeta(item); !ok {
		return exitcode.Usagef(fmt.Errorf("no team %q: the checklist's teams are platform, security, development, operations", o.Team))
	}
	if o.Report == "" {
		return exitcode.Usagef(errors.New("--report report.json is required: a sign-off approves one evaluated state"))
	}
	data, err := os.ReadFile(o.Report)
	if err != nil {
		return exitcode.Usagef(err)
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil || rep.SchemaVersion != report.SchemaVersion {
		return exitcode.Usagef(fmt.Errorf("%s is not a meshready JSON report (%v)", o.Report, err))
	}
	if got := engine.Digest(&rep); got != rep.Digest {
		return exitcode.Usagef(fmt.Errorf("%s: its digest does not match its content (edited by hand?): recorded %s, computed %s", o.Report, rep.Digest, got))
	}
	blocking := map[string]bool{}
	for _, id := range rep.Blocking {
		if !strings.HasPrefix(id, "signoff.") {
			blocking[id] = true
		}
	}
	for _, id := range o.AcceptRisk {
		if !blocking[id] {
			return exitcode.Usagef(fmt.Errorf("--accept-risk %s: not a blocking item of this report", id))
		}
		delete(blocking, id)
	}
	if len(blocking) > 0 {
		var ids []string
		for _, id := range rep.Blocking {
			if blocking[id] {
				ids = append(ids, id)
			}
		}
		return &exitcode.NotReadyError{Reason: fmt.Sprintf("refused: the report is not ready; %d blocking item(s) not accepted: %s (name them with --accept-risk to accept the risk)", len(ids), strings.Join(ids, ", "))}
	}
	by, err := identity(o.By)
	if err != nil {
		return err
	}
	now := o.now()
	exp, err := parseExpiry(o.Expires, now)
	if err != nil {
		return err
	}
	statuses := map[string]string{}
	for _, it := range rep.Items {
		if !strings.HasPrefix(it.ID, "signoff.") {
			statuses[it.ID] = string(it.Status)
		}
	}
	path, err := o.path()
	if err != nil {
		return err
	}
	rec := attest.Record{Item: item, By: by, At: now, Evidence: o.Evidence, Expires: exp, Note: o.Note, Digest: rep.Digest, Statuses: statuses, AcceptedRisk: o.AcceptRisk}
	if err := attest.Update(path, func(f *attest.File) error {
		f.Attestations = append(f.Attestations, rec)
		return nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "recorded: %s team sign-off by %s on state %s (in %s)\n", o.Team, by, rep.Digest, path)
	return nil
}

// WaiveOptions are the flags of `meshready waive`.
type WaiveOptions struct {
	StoreOptions
	Item, Object, Reason, Expires, By string
}

func newWaiveCmd(io IO) *cobra.Command {
	o := &WaiveOptions{}
	cmd := &cobra.Command{
		Use:     "waive ITEM --object PATTERN --reason TEXT --expires DATE",
		Short:   "Record a waiver: accept an item's findings on matching objects until a date",
		Example: `  meshready waive security.mtls --object 'PeerAuthentication/legacy/*' --reason "legacy batch jobs, migration JIRA-123" --expires 2027-01-31`,
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Item = args[0]
			return RunWaive(io, o)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&o.Object, "object", "", "glob on Kind/namespace/name (empty: every object of the item)")
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why the risk is accepted (required)")
	cmd.Flags().StringVar(&o.Expires, "expires", "", "when the waiver ends: a date or a duration (required)")
	cmd.Flags().StringVar(&o.By, "by", "", "who waives (default: git user.name)")
	return cmd
}

// RunWaive records a waiver.
func RunWaive(io IO, o *WaiveOptions) error {
	if _, ok := itemMeta(o.Item); !ok {
		if ok, _ := filepath.Match(o.Item, "x"); !ok && !strings.ContainsAny(o.Item, "*?[") {
			return exitcode.Usagef(fmt.Errorf("no item %q (see meshready checks list)", o.Item))
		}
	}
	if strings.TrimSpace(o.Reason) == "" || o.Expires == "" {
		return exitcode.Usagef(errors.New("--reason and --expires are required: a waiver without an end date is a permanent hole"))
	}
	if _, err := filepath.Match(o.Object, ""); err != nil {
		return exitcode.Usagef(fmt.Errorf("--object %q: %v", o.Object, err))
	}
	by, err := identity(o.By)
	if err != nil {
		return err
	}
	now := o.now()
	exp, err := parseExpiry(o.Expires, now)
	if err != nil {
		return err
	}
	if !exp.After(now) {
		return exitcode.Usagef(fmt.Errorf("--expires %s is in the past", o.Expires))
	}
	path, err := o.path()
	if err != nil {
		return err
	}
	w := attest.Waiver{Item: o.Item, Object: o.Object, Reason: o.Reason, By: by, At: now, Expires: exp}
	if err := attest.Update(path, func(f *attest.File) error {
		f.Waivers = append(f.Waivers, w)
		return nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "recorded: waiver of %s on %q until %s by %s (in %s)\n", o.Item, o.Object, expiryText(exp), by, path)
	return nil
}
