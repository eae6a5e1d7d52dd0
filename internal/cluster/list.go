package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/meshready/meshready/internal/loader"
	"github.com/meshready/meshready/internal/snapshot"
)

// lastApplied holds a whole object as kubectl applied it: on a Secret its
// values, on a ConfigMap its data. It is dropped from objects read as
// metadata only.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// maxRestarts bounds the restarts of one list after expired continue tokens.
const maxRestarts = 3

var userRE = regexp.MustCompile(`User "([^"]+)"`)

// page is one answer to a list request.
type page struct {
	cont      string // continue token; "" on the last page
	remaining *int64 // objects after this page, when the server says
	objs      []*snapshot.Object
	errs      []snapshot.InputError
}

// fetchFunc reads one page.
type fetchFunc func(ctx context.Context, opts metav1.ListOptions) (page, error)

// Splitting a big list by namespace: a namespaced kind with more than
// splitMin objects is listed namespace by namespace, concurrently, when
// that takes at most splitRatio times the requests of one paged list.
// One list of 10,000 pods is 20 requests in a row; per namespace they run
// side by side (each namespace's list is consistent in itself).
const (
	splitMin   = 4 * DefaultPageSize
	splitRatio = 4
)

// run lists every job concurrently; Options.Concurrency bounds the
// requests in flight. The first fatal error cancels the others and is
// returned.
func (l *session) run(ctx context.Context, jobs []*job) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.listJob(ctx, j); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// fetch runs one request within the concurrency bound.
func (l *session) fetch(ctx context.Context, j *job, f fetchFunc, opts metav1.ListOptions) (page, error) {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return page{}, ctx.Err()
	}
	defer func() { <-l.sem }()
	l.requests.Add(1)
	j.pages.Add(1)
	return f(ctx, opts)
}

// listJob lists one kind. Errors that only make this kind unreadable
// become KindErrors; the others are returned.
func (l *session) listJob(ctx context.Context, j *job) error {
	begin := time.Now()
	objs, errs, err := l.list(ctx, j)
	j.took = time.Since(begin)
	if err == nil {
		j.objs = objs
		if len(errs) > 0 {
			l.mu.Lock()
			l.res.InputErrors = append(l.res.InputErrors, errs...)
			l.mu.Unlock()
		}
		return nil
	}
	if ctx.Err() != nil || isFatal(err, j.custom) {
		return err
	}
	j.failed = true
	switch {
	case apierrors.IsForbidden(err):
		l.kindError(j.key, forbidden(err, j.gv.Group, j.resource, verbsFor(j.key)))
	case apierrors.IsNotFound(err) && j.custom && !istioGroups[j.gv.Group]:
		// The CRD went away since discovery: there are none.
		l.mu.Lock()
		l.res.Absent = append(l.res.Absent, j.key)
		l.mu.Unlock()
	default:
		l.kindError(j.key, snapshot.KindError{
			Message:     fmt.Sprintf("listing %s %s failed: %v", j.gv, j.resource, err),
			Remediation: fmt.Sprintf("check that `kubectl get %s.%s -A` works; for a custom resource, check its CRD's conversion webhook or API service", j.resource, j.gv.Group),
		})
	}
	return nil
}

// list reads every object of a kind. A namespaced kind is first asked
// for one object, which tells how many there are: few are then paged
// from there, many are split by namespace.
func (l *session) list(ctx context.Context, j *job) ([]*snapshot.Object, []snapshot.InputError, error) {
	all := l.fetcher(j, "")
	if j.clusterScoped {
		return l.pages(ctx, j, all, nil)
	}
	probe, err := l.fetch(ctx, j, all, metav1.ListOptions{Limit: 1})
	if err != nil {
		return nil, nil, err
	}
	if probe.cont == "" {
		return probe.objs, probe.errs, nil
	}
	if probe.remaining != nil {
		total := *probe.remaining + 1
		if nss, err := l.namespaceNames(ctx); err == nil && total > splitMin && len(nss) > 1 &&
			int64(len(nss)) <= splitRatio*(total/l.o.PageSize+1) {
			return l.split(ctx, j, nss)
		}
	}
	return l.pages(ctx, j, all, &probe)
}

// split lists a kind namespace by namespace, concurrently.
func (l *session) split(ctx context.Context, j *job, nss []string) ([]*snapshot.Object, []snapshot.InputError, error) {
	type part struct {
		objs []*snapshot.Object
		errs []snapshot.InputError
		err  error
	}
	parts := make([]part, len(nss))
	var wg sync.WaitGroup
	for i, ns := range nss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[i].objs, parts[i].errs, parts[i].err = l.pages(ctx, j, l.fetcher(j, ns), nil)
		}()
	}
	wg.Wait()
	var objs []*snapshot.Object
	var errs []snapshot.InputError
	for _, p := range parts {
		if p.err != nil && !apierrors.IsNotFound(p.err) { // a namespace deleted meanwhile
			return nil, nil, p.err
		}
		objs = append(objs, p.objs...)
		errs = append(errs, p.errs...)
	}
	j.split = len(nss)
	return objs, errs, nil
}

// namespaceNames lists the namespaces' names once per load.
func (l *session) namespaceNames(ctx context.Context) ([]string, error) {
	l.nsOnce.Do(func() {
		j := &job{key: snapshot.Namespace, kind: "Namespace", gv: schema.GroupVersion{Version: "v1"}, resource: "namespaces", mode: modeMetadata, clusterScoped: true}
		objs, _, err := l.pages(ctx, j, l.fetcher(j, ""), nil)
		for _, o := range objs {
			l.nsNames = append(l.nsNames, o.Name)
		}
		l.nsErr = err
	})
	return l.nsNames, l.nsErr
}

// pages runs a paged list: Options.PageSize objects per request, following
// continue tokens, from the first page when one was read already. When a
// continue token has expired (410 Gone: the snapshot it pointed into was
// compacted), the list starts over, since pages of different snapshots do
// not make one consistent list.
func (l *session) pages(ctx context.Context, j *job, f fetchFunc, first *page) ([]*snapshot.Object, []snapshot.InputError, error) {
	var out []*snapshot.Object
	var errs []snapshot.InputError
	opts := metav1.ListOptions{Limit: l.o.PageSize}
	if first != nil {
		out, errs, opts.Continue = first.objs, first.errs, first.cont
	}
	restarts := 0
	for {
		p, err := l.fetch(ctx, j, f, opts)
		if err != nil {
			if opts.Continue != "" && (apierrors.IsResourceExpired(err) || apierrors.IsGone(err)) && restarts < maxRestarts {
				restarts++
				j.restarts.Add(1)
				out, errs, opts.Continue = nil, nil, ""
				continue
			}
			return nil, nil, err
		}
		out = append(out, p.objs...)
		errs = append(errs, p.errs...)
		if p.cont == "" {
			return out, errs, nil
		}
		opts.Continue = p.cont
	}
}

// fetcher returns how to read pages of a kind, in one namespace or all.
func (l *session) fetcher(j *job, ns string) fetchFunc {
	switch j.mode {
	case modeJSON:
		return l.fetchJSON(j, ns)
	case modeMetadata:
		return l.fetchMetadata(j, ns)
	case modeTable:
		return l.fetchTable(j, ns)
	}
	return l.fetchTyped(j, ns)
}

func newObject(j *job, m metav1.Object, typed any) *snapshot.Object {
	return &snapshot.Object{
		APIVersion:  j.gv.String(),
		Kind:        j.kind,
		Key:         j.key,
		Namespace:   m.GetNamespace(),
		Name:        m.GetName(),
		Labels:      m.GetLabels(),
		Annotations: m.GetAnnotations(),
		Origin:      snapshot.Origin{File: Origin},
		Typed:       typed,
	}
}

// fetchTyped lists a built-in kind in protobuf, into the Go type of the
// client-go clientset (the one the loader decodes).
func (l *session) fetchTyped(j *job, ns string) fetchFunc {
	gvk := j.gv.WithKind(j.kind)
	path := apiPath(j.gv, ns, j.resource)
	return func(ctx context.Context, opts metav1.ListOptions) (page, error) {
		list, err := newList(j.gv, j.kind)
		if err != nil {
			return page{}, err
		}
		body, release, err := l.bodies.readBody(ctx, l.listRequest(l.pb, path, opts))
		if err != nil {
			return page{}, err
		}
		err = decodeList(body, list, j.kind+"List")
		release()
		if err != nil {
			return page{}, fmt.Errorf("%s: %v", path, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return page{}, err
		}
		out := make([]*snapshot.Object, 0, len(items))
		for _, it := range items {
			m, err := meta.Accessor(it)
			if err != nil {
				return page{}, err
			}
			// Items of a list carry no apiVersion and kind; the
			// loader's objects do.
			it.GetObjectKind().SetGroupVersionKind(gvk)
			m.SetManagedFields(nil)
			out = append(out, newObject(j, m, it))
		}
		lm, err := meta.ListAccessor(list)
		if err != nil {
			return page{}, err
		}
		return page{cont: lm.GetContinue(), remaining: lm.GetRemainingItemCount(), objs: out}, nil
	}
}

func apiPath(gv schema.GroupVersion, ns, resource string) string {
	p := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		p = "/api/" + gv.Version
	}
	if ns != "" {
		p += "/namespaces/" + ns
	}
	return p + "/" + resource
}

// listRequest builds the GET of one list page.
func (l *session) listRequest(c rest.Interface, path string, opts metav1.ListOptions, params ...string) *rest.Request {
	req := c.Get().AbsPath(path).Param("limit", strconv.FormatInt(opts.Limit, 10))
	if opts.Continue != "" {
		req = req.Param("continue", opts.Continue)
	}
	for i := 0; i+1 < len(params); i += 2 {
		req = req.Param(params[i], params[i+1])
	}
	return req
}

// fetchJSON lists a custom kind as JSON and decodes each page with
// internal/loader, so that its objects are exactly what the same
// manifests in a file would give.
func (l *session) fetchJSON(j *job, ns string) fetchFunc {
	path := apiPath(j.gv, ns, j.resource)
	return func(ctx context.Context, opts metav1.ListOptions) (page, error) {
		body, release, err := l.bodies.readBody(ctx, l.listRequest(l.raw, path, opts))
		if err != nil {
			return page{}, err
		}
		defer release()
		lm, err := listMeta(body)
		if err != nil {
			return page{}, fmt.Errorf("%s: %v", path, err)
		}
		objs, errs := loader.LoadBytes("cluster.json", body)
		for _, o := range objs {
			o.Origin = snapshot.Origin{File: Origin}
			if j.clusterScoped {
				o.Namespace = ""
			}
			dropManagedFields(o.Typed)
		}
		for i := range errs {
			errs[i].File, errs[i].Line = Origin, 0
		}
		return page{cont: lm.Continue, remaining: lm.RemainingItemCount, objs: objs, errs: errs}, nil
	}
}

// listMeta reads the metadata of a JSON list. The API server writes it
// last ({"apiVersion","items","kind","metadata"}), so it is looked for at
// the end first, sparing a scan of the items; anything else gets the full
// decode.
func listMeta(body []byte) (metav1.ListMeta, error) {
	var lm metav1.ListMeta
	if i := bytes.LastIndex(body, []byte(`"metadata":`)); i > 0 {
		d := json.NewDecoder(bytes.NewReader(body[i+len(`"metadata":`):]))
		if d.Decode(&lm) == nil {
			rest := bytes.TrimSpace(body[i+len(`"metadata":`)+int(d.InputOffset()):])
			if len(rest) == 1 && rest[0] == '}' {
				return lm, nil
			}
		}
	}
	var head struct {
		Metadata metav1.ListMeta `json:"metadata"`
	}
	err := json.Unmarshal(body, &head)
	return head.Metadata, err
}

func dropManagedFields(typed any) {
	switch t := typed.(type) {
	case metav1.Object:
		t.SetManagedFields(nil)
	case map[string]any:
		if m, ok := t["metadata"].(map[string]any); ok {
			delete(m, "managedFields")
		}
	}
}

// fetchMetadata lists a kind as metadata only. ConfigMaps get a typed
// form without data (configmaps.go adds the data of the few that need it);
// other kinds listed this way have no typed form, as from files.
func (l *session) fetchMetadata(j *job, ns string) fetchFunc {
	gvr := j.gv.WithResource(j.resource)
	return func(ctx context.Context, opts metav1.ListOptions) (page, error) {
		list, err := l.meta.Resource(gvr).Namespace(ns).List(ctx, opts)
		if err != nil {
			return page{}, err
		}
		out := make([]*snapshot.Object, 0, len(list.Items))
		for i := range list.Items {
			pm := &list.Items[i]
			pm.ManagedFields = nil
			delete(pm.Annotations, lastApplied)
			var typed any
			if j.key == snapshot.ConfigMap {
				typed = &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: pm.ObjectMeta}
			}
			out = append(out, newObject(j, pm, typed))
		}
		return page{cont: list.Continue, remaining: list.RemainingItemCount, objs: out}, nil
	}
}

// fetchTable lists Secrets in the server's Table form with the objects'
// metadata: name, labels, annotations and the printed type, never the
// data.
func (l *session) fetchTable(j *job, ns string) fetchFunc {
	path := apiPath(j.gv, ns, j.resource)
	return func(ctx context.Context, opts metav1.ListOptions) (page, error) {
		req := l.listRequest(l.raw, path, opts, "includeObject", "Metadata").SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		body, release, err := l.bodies.readBody(ctx, req)
		if err != nil {
			return page{}, err
		}
		var t metav1.Table
		err = json.Unmarshal(body, &t)
		release()
		if err != nil {
			return page{}, fmt.Errorf("%s: %v", path, err)
		}
		if t.Kind != "Table" {
			return page{}, fmt.Errorf("%s: the server answered a %s, not the Table meshready asked for (it does not read Secrets any other way)", path, t.Kind)
		}
		typeCol := -1
		for i, c := range t.ColumnDefinitions {
			if c.Name == "Type" {
				typeCol = i
			}
		}
		out := make([]*snapshot.Object, 0, len(t.Rows))
		for _, row := range t.Rows {
			var pm metav1.PartialObjectMetadata
			if err := json.Unmarshal(row.Object.Raw, &pm); err != nil || pm.Name == "" {
				return page{}, fmt.Errorf("%s: a Table row without object metadata", path)
			}
			pm.ManagedFields = nil
			delete(pm.Annotations, lastApplied)
			var typed any
			if typeCol >= 0 && typeCol < len(row.Cells) {
				if st, ok := row.Cells[typeCol].(string); ok {
					typed = &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: pm.ObjectMeta, Type: corev1.SecretType(st)}
				}
			}
			out = append(out, newObject(j, &pm, typed))
		}
		return page{cont: t.Continue, remaining: t.RemainingItemCount, objs: out}, nil
	}
}
