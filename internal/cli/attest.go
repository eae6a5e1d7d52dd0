package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/meshready/meshready/internal/attest"
	"github.com/meshready/meshready/internal/checks"
	"github.com/meshready/meshready/internal/cluster"
	"github.com/meshready/meshready/internal/config"
	"github.com/meshready/meshready/internal/engine"
	"github.com/meshready/meshready/internal/exitcode"
	"github.com/meshready/meshready/internal/report"
	"github.com/meshready/meshready/internal/version"
)

// StoreOptions locate the attestation store.
type StoreOptions struct {
	ConfigPath string // meshready.yaml; its `attestations` names the store file
	File       string // the store file, overriding the config
	Store      StoreFlags
	// Kubeconfig and Context name the cluster of --store configmap (and of
	// the Kubernetes user, when nobody is named otherwise).
	Kubeconfig, Context string
	Now                 time.Time
}

func (s *StoreOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.ConfigPath, "config", "", "meshready.yaml (default ./meshready.yaml), whose attestations: names the store file")
	f.StringVar(&s.File, "file", "", "the attestation store file (overrides the config)")
	s.Store.register(f)
	f.StringVar(&s.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster holding --store configmap (default $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.StringVar(&s.Context, "context", "", "kubeconfig context of that cluster (default the current context)")
}

// Store kinds of --store.
const (
	storeFile      = "file"
	storeConfigMap = "configmap"
)

// StoreFlags choose where the records live: the YAML file in the repository
// (reviewable in pull requests) or a ConfigMap in the live cluster.
type StoreFlags struct {
	Kind      string // storeFile (default) or storeConfigMap
	Namespace string // the ConfigMap's; default the config's control-plane namespace
	Name      string // the ConfigMap's; default attest.DefaultConfigMapName
}

func (s *StoreFlags) register(f *pflag.FlagSet) {
	f.StringVar(&s.Kind, "store", "", "where attestations, sign-offs and waivers live: file (the YAML file named by attestations: in meshready.yaml) or configmap (a ConfigMap in the cluster) (default attestationStore.kind of meshready.yaml, else file)")
	f.StringVar(&s.Namespace, "store-namespace", "", "with --store configmap: the ConfigMap's namespace (default attestationStore.namespace, else the config's controlPlaneNamespace, istio-system)")
	f.StringVar(&s.Name, "store-name", "", "with --store configmap: the ConfigMap's name (default attestationStore.name, else "+attest.DefaultConfigMapName+")")
}

// withConfig fills what the flags leave unset from meshready.yaml's
// attestationStore: flags win, and an explicit --store file ignores the
// config's ConfigMap settings.
func (s StoreFlags) withConfig(cfg *config.Config) StoreFlags {
	c := cfg.AttestationStore
	if s.Kind == "" {
		s.Kind = c.Kind
	}
	if s.Kind == storeConfigMap && c.Kind == storeConfigMap {
		if s.Namespace == "" {
			s.Namespace = c.Namespace
		}
		if s.Name == "" {
			s.Name = c.Name
		}
	}
	return s
}

// configMap reports whether --store is configmap, after checking that the
// store flags agree with each other.
func (s *StoreFlags) configMap() (bool, error) {
	switch s.Kind {
	case "", storeFile:
		if s.Namespace != "" || s.Name != "" {
			return false, exitcode.Usagef(errors.New("--store-namespace and --store-name need --store configmap"))
		}
		return false, nil
	case storeConfigMap:
		return true, nil
	}
	return false, exitcode.Usagef(fmt.Errorf("--store %q: want file or configmap", s.Kind))
}

// open connects the ConfigMap store on the cluster of kubeconfig and
// context, in the given namespace unless --store-namespace says otherwise.
func (s *StoreFlags) open(kubeconfig, context, namespace string) (*attest.ConfigMapStore, error) {
	client, err := kubeClient(kubeconfig, context)
	if err != nil {
		return nil, fmt.Errorf("--store configmap: %w", err)
	}
	if s.Namespace != "" {
		namespace = s.Namespace
	}
	if namespace == "" {
		namespace = "istio-system"
	}
	name := s.Name
	if name == "" {
		name = attest.DefaultConfigMapName
	}
	return &attest.ConfigMapStore{Client: client, Namespace: namespace, Name: name}, nil
}

// kubeClient is a clientset for the cluster live mode would read; a bad
// kubeconfig or context is a usage error.
func kubeClient(kubeconfig, context string) (kubernetes.Interface, error) {
	rc, _, err := cluster.RESTConfig(kubeconfig, context)
	if err != nil {
		return nil, exitcode.Usagef(err)
	}
	rc.UserAgent = "meshready/" + version.String()
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, exitcode.Usagef(err)
	}
	return client, nil
}

// config is --config, else ./meshready.yaml when there is one, else the
// defaults.
func (s *StoreOptions) config() (*config.Config, string, error) {
	cfgPath := s.ConfigPath
	if cfgPath == "" {
		cfgPath = config.FileName
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		if s.ConfigPath == "" && errors.Is(err, os.ErrNotExist) {
			return config.Default(), "", nil
		}
		return nil, "", exitcode.Usagef(err)
	}
	return cfg, cfgPath, nil
}

// path returns the store file: --file, else the config's attestations, else
// attestations.yaml beside the config.
func (s *StoreOptions) path() (string, error) {
	if s.File != "" {
		return s.File, nil
	}
	cfg, cfgPath, err := s.config()
	if err != nil {
		return "", err
	}
	if cfgPath == "" {
		return "attestations.yaml", nil
	}
	if cfg.Attestations != "" {
		return cfg.Resolve(cfg.Attestations), nil
	}
	return filepath.Join(filepath.Dir(cfgPath), "attestations.yaml"), nil
}

// open returns the store to write and, when a cluster is configured, a
// client of it (to name the Kubernetes user).
func (s *StoreOptions) open() (attest.Store, kubernetes.Interface, error) {
	cfg, _, err := s.config()
	if err != nil {
		return nil, nil, err
	}
	flags := s.Store.withConfig(cfg)
	cm, err := flags.configMap()
	if err != nil {
		return nil, nil, err
	}
	if !cm {
		path, err := s.path()
		if err != nil {
			return nil, nil, err
		}
		var client kubernetes.Interface
		if s.Kubeconfig != "" || s.Context != "" {
			if client, err = kubeClient(s.Kubeconfig, s.Context); err != nil {
				return nil, nil, err
			}
		}
		return attest.FileStore{Path: path}, client, nil
	}
	if s.File != "" {
		return nil, nil, exitcode.Usagef(errors.New("--file and --store configmap name two stores: give one (or --store file)"))
	}
	st, err := flags.open(s.Kubeconfig, s.Context, cfg.ControlPlaneNamespace)
	if err != nil {
		return nil, nil, err
	}
	return st, st.Client, nil
}

// record identifies the writer, then applies add to the store; it returns
// who recorded and where.
func (s *StoreOptions) record(io IO, by string, add func(f *attest.File, by string)) (string, string, error) {
	st, client, err := s.open()
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	who, err := attest.Identity(ctx, by, client)
	if err != nil {
		return "", "", exitcode.Usagef(err)
	}
	if err := st.Update(ctx, func(f *attest.File) error {
		add(f, who)
		return nil
	}); err != nil {
		return "", "", storeError(err)
	}
	if cm, ok := st.(*attest.ConfigMapStore); ok && cm.Conflicts() > 0 {
		fmt.Fprintf(io.Err, "meshready: %s changed under this write %d time(s); re-read and written again, nothing lost\n", cm.Describe(), cm.Conflicts())
	}
	return who, st.Describe(), nil
}

func (s *StoreOptions) now() time.Time {
	if s.Now.IsZero() {
		return time.Now().UTC().Truncate(time.Second)
	}
	return s.Now
}

// storeTimeout bounds the store's requests (and the identity look-up).
const storeTimeout = cluster.DefaultTimeout

// storeError makes the store errors the user fixes (a corrupt store, one
// too large, missing rights) usage errors; an unreachable cluster stays internal.
func storeError(err error) error {
	if errors.Is(err, attest.ErrCorrupt) || errors.Is(err, attest.ErrTooLarge) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return exitcode.Usagef(err)
	}
	return err
}

// checkStore reads the records and waivers `meshready check` uses. The
// file store's errors stop the run, as a bad config does. The ConfigMap is
// read with one GET (check stays read-only); when that fails, the error is
// returned as storeErr for the manual and sign-off items to show, and the
// run goes on.
func checkStore(io IO, flags StoreFlags, kubeconfig, kctx string, timeout time.Duration, cfg *config.Config) (_ *attest.File, storeErr, err error) {
	flags = flags.withConfig(cfg)
	cm, err := flags.configMap()
	if err != nil {
		return nil, nil, err
	}
	if !cm {
		if cfg.Attestations == "" {
			return &attest.File{}, nil, nil
		}
		f, err := attest.LoadFile(cfg.Resolve(cfg.Attestations))
		if err != nil {
			return nil, nil, exitcode.Usagef(fmt.Errorf("attestations: %w", err))
		}
		return f, nil, nil
	}
	st, err := flags.open(kubeconfig, kctx, cfg.ControlPlaneNamespace)
	if err != nil {
		return nil, nil, err
	}
	if timeout <= 0 {
		timeout = storeTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	f, err := st.Load(ctx)
	if err != nil {
		reason, _ := attest.Explain(err)
		fmt.Fprintf(io.Err, "meshready: warning: attestations: %s (the manual and sign-off items say error; the store's waivers are not applied)\n", reason)
		return &attest.File{}, err, nil
	}
	return f, nil, nil
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
	cmd.Flags().StringVar(&o.By, "by", "", "who attests (default: git user.name <user.email>, else the Kubernetes user)")
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
	now := o.now()
	exp, err := parseExpiry(o.Expires, now)
	if err != nil {
		return err
	}
	by, where, err := o.record(io, o.By, func(f *attest.File, by string) {
		f.Attestations = append(f.Attestations, attest.Record{Item: o.Item, By: by, At: now, Evidence: o.Evidence, Expires: exp, Note: o.Note})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "recorded: %s attested by %s, evidence %s, until %s (in %s)\n", o.Item, by, o.Evidence, expiryText(exp), where)
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
	cmd.Flags().StringVar(&o.By, "by", "", "who signs (default: git user.name <user.email>, else the Kubernetes user)")
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
	by, where, err := o.record(io, o.By, func(f *attest.File, by string) {
		f.Attestations = append(f.Attestations, attest.Record{Item: item, By: by, At: now, Evidence: o.Evidence, Expires: exp, Note: o.Note, Digest: rep.Digest, Statuses: statuses, AcceptedRisk: o.AcceptRisk})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "recorded: %s team sign-off by %s on state %s (in %s)\n", o.Team, by, rep.Digest, where)
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
	cmd.Flags().StringVar(&o.By, "by", "", "who waives (default: git user.name <user.email>, else the Kubernetes user)")
	return cmd
}

// RunWaive records a waiver.
func RunWaive(io IO, o *WaiveOptions) error {
	if _, ok := itemMeta(o.Item); !ok && !customRuleExists(o.ConfigPath, o.Item) {
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
	now := o.now()
	exp, err := parseExpiry(o.Expires, now)
	if err != nil {
		return err
	}
	if !exp.After(now) {
		return exitcode.Usagef(fmt.Errorf("--expires %s is in the past", o.Expires))
	}
	by, where, err := o.record(io, o.By, func(f *attest.File, by string) {
		f.Waivers = append(f.Waivers, attest.Waiver{Item: o.Item, Object: o.Object, Reason: o.Reason, By: by, At: now, Expires: exp})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "recorded: waiver of %s on %q until %s by %s (in %s)\n", o.Item, o.Object, expiryText(exp), by, where)
	return nil
}
