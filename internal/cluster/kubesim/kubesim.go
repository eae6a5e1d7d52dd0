// Package kubesim creates, in a test cluster that runs no kubelet and no
// controllers (internal/testcluster), the objects they would have created
// for the workloads and Services already applied: Nodes, ReplicaSets, Pods
// (rewritten by Istio's sidecar injector where injection applies) made
// Running and Ready through the status subresource, the workloads' status,
// EndpointSlices, and LoadBalancer addresses.
//
// Addresses are data only, never contacted: node addresses come from
// 198.51.100.0/24 (TEST-NET-2), load balancer addresses from 192.0.2.0/24
// (TEST-NET-1), pod addresses from 10.244.0.0/16.
//
// Options.Pod sees every pod before it is created, Running and Ready, and
// may change it (a pod not ready, on another node, without its proxy) to
// build a live defect; the workload statuses and EndpointSlices follow.
package kubesim

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Options shape what is created.
type Options struct {
	Nodes int      // default 3
	Zones []string // default zone-a, zone-b, zone-c
	// Namespaces limits the workloads and Services handled (default all).
	Namespaces []string
	// LoadBalancerIPs are given in turn to LoadBalancer Services
	// (default 192.0.2.10, 192.0.2.11, ...).
	LoadBalancerIPs []string
	// Pod, if set, sees each pod (spec and status) before it is created
	// and may change it; returning false drops the pod.
	Pod func(p *corev1.Pod) bool
	// Workers bounds concurrent requests (default 16).
	Workers int
	// KubeletVersion of the Nodes (default: the server's version).
	KubeletVersion string
}

// Stats count what was created.
type Stats struct {
	Nodes, ReplicaSets, Pods, EndpointSlices, LoadBalancers int
}

type sim struct {
	cs      kubernetes.Interface
	o       Options
	nodes   []*corev1.Node
	now     metav1.Time
	ips     atomic.Int64
	inj     *Injector
	nsLbl   map[string]map[string]string
	created map[string][]*corev1.Pod // pods by namespace
	mu      sync.Mutex
	stats   Stats
}

// Run creates what kubelets and controllers would for the cluster's
// workloads and Services.
func Run(ctx context.Context, cs kubernetes.Interface, o Options) (*Stats, error) {
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	if len(o.Zones) == 0 {
		o.Zones = []string{"zone-a", "zone-b", "zone-c"}
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if len(o.LoadBalancerIPs) == 0 {
		for i := 10; i < 250; i++ {
			o.LoadBalancerIPs = append(o.LoadBalancerIPs, "192.0.2."+strconv.Itoa(i))
		}
	}
	if o.KubeletVersion == "" {
		v, err := cs.Discovery().ServerVersion()
		if err != nil {
			return nil, err
		}
		o.KubeletVersion = v.GitVersion
	}
	s := &sim{cs: cs, o: o, now: metav1.NewTime(time.Now().Truncate(time.Second)), nsLbl: map[string]map[string]string{}, created: map[string][]*corev1.Pod{}}
	if err := s.ensureNodes(ctx); err != nil {
		return nil, err
	}
	nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, ns := range nss.Items {
		s.nsLbl[ns.Name] = ns.Labels
	}
	deps, err := cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	sts, err := cs.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	dss, err := cs.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	if s.inj, err = s.injector(ctx, deps.Items, dss.Items); err != nil {
		return nil, err
	}
	err = parallel(ctx, len(deps.Items), o.Workers, func(i int) error {
		d := &deps.Items[i]
		if !s.wanted(d.Namespace) {
			return nil
		}
		return s.deployment(ctx, d)
	})
	if err != nil {
		return nil, err
	}
	err = parallel(ctx, len(sts.Items), o.Workers, func(i int) error {
		if !s.wanted(sts.Items[i].Namespace) {
			return nil
		}
		return s.statefulSet(ctx, &sts.Items[i])
	})
	if err != nil {
		return nil, err
	}
	err = parallel(ctx, len(dss.Items), o.Workers, func(i int) error {
		if !s.wanted(dss.Items[i].Namespace) {
			return nil
		}
		return s.daemonSet(ctx, &dss.Items[i])
	})
	if err != nil {
		return nil, err
	}
	if err := s.services(ctx); err != nil {
		return nil, err
	}
	return &s.stats, nil
}

func (s *sim) wanted(ns string) bool {
	if len(s.o.Namespaces) == 0 {
		return true
	}
	for _, n := range s.o.Namespaces {
		if n == ns {
			return true
		}
	}
	return false
}

// parallel runs fn(0..n-1) on up to workers goroutines; the first error wins.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for w := 0; w < workers && w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func (s *sim) ensureNodes(ctx context.Context) error {
	for i := 0; i < s.o.Nodes; i++ {
		name := fmt.Sprintf("node-%d", i)
		zone := s.o.Zones[i%len(s.o.Zones)]
		n, err := s.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			n, err = s.cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Labels: map[string]string{
					"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
					"topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "region-1",
				},
			}}, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("create node %s: %w", name, err)
			}
			capacity := corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"), corev1.ResourcePods: resource.MustParse("250"),
			}
			n.Status = corev1.NodeStatus{
				Capacity:    capacity,
				Allocatable: capacity,
				Conditions: []corev1.NodeCondition{
					{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status", LastHeartbeatTime: s.now, LastTransitionTime: s.now},
					{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: s.now, LastTransitionTime: s.now},
					{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", LastHeartbeatTime: s.now, LastTransitionTime: s.now},
					{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", LastHeartbeatTime: s.now, LastTransitionTime: s.now},
				},
				Addresses: []corev1.NodeAddress{
					{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("198.51.100.%d", 10+i)},
					{Type: corev1.NodeHostName, Address: name},
				},
				NodeInfo: corev1.NodeSystemInfo{
					KubeletVersion: s.o.KubeletVersion, OperatingSystem: "linux", Architecture: "amd64",
					ContainerRuntimeVersion: "containerd://2.1.4", OSImage: "Ubuntu 24.04 LTS", KernelVersion: "6.8.0",
				},
			}
			if n, err = s.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("node %s status: %w", name, err)
			}
			s.stats.Nodes++
		}
		s.nodes = append(s.nodes, n)
	}
	return nil
}

// injector reads the sidecar injector's values (ConfigMap
// istio-sidecar-injector in any namespace), istiod's image and whether the
// Istio CNI node agent runs.
func (s *sim) injector(ctx context.Context, deps []appsv1.Deployment, dss []appsv1.DaemonSet) (*Injector, error) {
	cms, err := s.cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=istio-sidecar-injector"})
	if err != nil {
		return nil, err
	}
	values := ""
	if len(cms.Items) > 0 {
		values = cms.Items[0].Data["values"]
	}
	istiod := ""
	for _, d := range deps {
		if d.Name == "istiod" || d.Labels["app"] == "istiod" {
			for _, c := range d.Spec.Template.Spec.Containers {
				if c.Name == "discovery" || istiod == "" {
					istiod = c.Image
				}
			}
		}
	}
	cni := false
	for _, d := range dss {
		if d.Name == "istio-cni-node" || d.Labels["k8s-app"] == "istio-cni-node" {
			cni = true
		}
	}
	return injectorFromValues(values, istiod, cni), nil
}

func hash(parts ...string) uint32 {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32()
}

// suffix is a stable 5-character name suffix, as controllers generate.
func suffix(parts ...string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	v := hash(parts...)
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[v%uint32(len(alphabet))]
		v /= uint32(len(alphabet))
	}
	return string(b)
}

func templateHash(t *corev1.PodTemplateSpec, name string) string {
	return strconv.FormatUint(uint64(hash(name, t.String())), 36)
}

func controllerRef(kind, apiVersion string, m metav1.ObjectMeta) []metav1.OwnerReference {
	t := true
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: m.Name, UID: m.UID, Controller: &t, BlockOwnerDeletion: &t}}
}

func replicas(p *int32) int {
	if p == nil {
		return 1
	}
	return int(*p)
}

func (s *sim) deployment(ctx context.Context, d *appsv1.Deployment) error {
	hash := templateHash(&d.Spec.Template, d.Name)
	n := replicas(d.Spec.Replicas)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace,
			Labels:          merge(d.Spec.Template.Labels, map[string]string{"pod-template-hash": hash}),
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": "1", "deployment.kubernetes.io/desired-replicas": strconv.Itoa(n)},
			OwnerReferences: controllerRef("Deployment", "apps/v1", d.ObjectMeta),
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: d.Spec.Replicas,
			Selector: &metav1.LabelSelector{MatchLabels: merge(selectorLabels(d.Spec.Selector), map[string]string{"pod-template-hash": hash})},
			Template: *d.Spec.Template.DeepCopy(),
		},
	}
	rs.Spec.Template.Labels = merge(rs.Spec.Template.Labels, map[string]string{"pod-template-hash": hash})
	rs, err := s.cs.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("replicaset of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	s.count(func(st *Stats) { st.ReplicaSets++ })
	var names []string
	for i := 0; i < n; i++ {
		names = append(names, rs.Name+"-"+suffix(rs.Name, strconv.Itoa(i)))
	}
	total, ready, err := s.pods(ctx, d.Namespace, names, &rs.Spec.Template, controllerRef("ReplicaSet", "apps/v1", rs.ObjectMeta), d.Name, nil)
	if err != nil {
		return err
	}
	rs.Status = appsv1.ReplicaSetStatus{Replicas: int32(total), FullyLabeledReplicas: int32(total), ReadyReplicas: int32(ready), AvailableReplicas: int32(ready), ObservedGeneration: rs.Generation}
	if _, err := s.cs.AppsV1().ReplicaSets(d.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("replicaset %s/%s status: %w", rs.Namespace, rs.Name, err)
	}
	avail := corev1.ConditionTrue
	if ready < n {
		avail = corev1.ConditionFalse
	}
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: int32(total), UpdatedReplicas: int32(total),
		ReadyReplicas: int32(ready), AvailableReplicas: int32(ready), UnavailableReplicas: int32(max(0, n-ready)),
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: avail, Reason: "MinimumReplicasAvailable", LastUpdateTime: s.now, LastTransitionTime: s.now},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable", Message: fmt.Sprintf("ReplicaSet %q has successfully progressed.", rs.Name), LastUpdateTime: s.now, LastTransitionTime: s.now},
		},
	}
	if _, err := s.cs.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("deployment %s/%s status: %w", d.Namespace, d.Name, err)
	}
	return nil
}

func (s *sim) statefulSet(ctx context.Context, st *appsv1.StatefulSet) error {
	n := replicas(st.Spec.Replicas)
	rev := st.Name + "-" + templateHash(&st.Spec.Template, st.Name)
	var names []string
	for i := 0; i < n; i++ {
		names = append(names, st.Name+"-"+strconv.Itoa(i))
	}
	total, ready, err := s.pods(ctx, st.Namespace, names, &st.Spec.Template, controllerRef("StatefulSet", "apps/v1", st.ObjectMeta), st.Name, func(p *corev1.Pod) {
		p.Labels["controller-revision-hash"] = rev
		p.Labels["statefulset.kubernetes.io/pod-name"] = p.Name
		p.Labels["apps.kubernetes.io/pod-index"] = p.Name[len(st.Name)+1:]
		p.Spec.Hostname, p.Spec.Subdomain = p.Name, st.Spec.ServiceName
		// The controller adds a volume per claim template, bound to the
		// claim it creates for the pod.
		for _, ct := range st.Spec.VolumeClaimTemplates {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: ct.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ct.Name + "-" + p.Name},
			}})
		}
	})
	if err != nil {
		return err
	}
	for _, name := range names {
		for _, ct := range st.Spec.VolumeClaimTemplates {
			pvc := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: ct.Name + "-" + name, Namespace: st.Namespace, Labels: merge(selectorLabels(st.Spec.Selector), nil)},
				Spec:       *ct.Spec.DeepCopy(),
			}
			if _, err := s.cs.CoreV1().PersistentVolumeClaims(st.Namespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("claim %s/%s: %w", st.Namespace, pvc.Name, err)
			}
		}
	}
	st.Status = appsv1.StatefulSetStatus{
		ObservedGeneration: st.Generation, Replicas: int32(total), ReadyReplicas: int32(ready), CurrentReplicas: int32(total),
		UpdatedReplicas: int32(total), AvailableReplicas: int32(ready), CurrentRevision: rev, UpdateRevision: rev,
	}
	if _, err := s.cs.AppsV1().StatefulSets(st.Namespace).UpdateStatus(ctx, st, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("statefulset %s/%s status: %w", st.Namespace, st.Name, err)
	}
	return nil
}

func (s *sim) daemonSet(ctx context.Context, ds *appsv1.DaemonSet) error {
	var names []string
	for _, n := range s.nodes {
		names = append(names, ds.Name+"-"+suffix(ds.Name, n.Name))
	}
	i := 0
	total, ready, err := s.pods(ctx, ds.Namespace, names, &ds.Spec.Template, controllerRef("DaemonSet", "apps/v1", ds.ObjectMeta), ds.Name, func(p *corev1.Pod) {
		p.Spec.NodeName = s.nodes[i%len(s.nodes)].Name // one per node
		i++
	})
	if err != nil {
		return err
	}
	ds.Status = appsv1.DaemonSetStatus{
		ObservedGeneration: ds.Generation, CurrentNumberScheduled: int32(total), DesiredNumberScheduled: int32(len(s.nodes)),
		NumberReady: int32(ready), NumberAvailable: int32(ready), UpdatedNumberScheduled: int32(total), NumberUnavailable: int32(len(s.nodes) - ready),
	}
	if _, err := s.cs.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, ds, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("daemonset %s/%s status: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}

func selectorLabels(sel *metav1.LabelSelector) map[string]string {
	if sel == nil {
		return nil
	}
	return sel.MatchLabels
}

func merge(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// pods creates a workload's pods, Running and Ready, and returns how many
// were created and how many are ready.
func (s *sim) pods(ctx context.Context, ns string, names []string, t *corev1.PodTemplateSpec, owner []metav1.OwnerReference, workload string, adjust func(*corev1.Pod)) (total, ready int, err error) {
	start := int(hash(ns, workload)) % len(s.nodes)
	for i, name := range names {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: ns,
				Labels: merge(t.Labels, nil), Annotations: merge(t.Annotations, nil), OwnerReferences: owner,
			},
			Spec: *t.Spec.DeepCopy(),
		}
		p.Spec.NodeName = s.nodes[(start+i)%len(s.nodes)].Name
		if adjust != nil {
			adjust(p)
		}
		if Injected(s.nsLbl[ns], p) {
			p.GenerateName = workload + "-"
			s.inj.Inject(p)
			p.GenerateName = ""
		}
		s.running(p)
		if s.o.Pod != nil && !s.o.Pod(p) {
			continue
		}
		st := p.Status
		created, err := s.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			return 0, 0, fmt.Errorf("create pod %s/%s: %w", ns, name, err)
		}
		st.QOSClass = created.Status.QOSClass
		created.Status = st
		if created, err = s.cs.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return 0, 0, fmt.Errorf("pod %s/%s status: %w", ns, name, err)
		}
		total++
		if PodReady(created) {
			ready++
		}
		s.mu.Lock()
		s.created[ns] = append(s.created[ns], created)
		s.stats.Pods++
		s.mu.Unlock()
	}
	return total, ready, nil
}

func (s *sim) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

func (s *sim) node(name string) *corev1.Node {
	for _, n := range s.nodes {
		if n.Name == name {
			return n
		}
	}
	return s.nodes[0]
}

// running fills the status a kubelet reports for a started, ready pod.
func (s *sim) running(p *corev1.Pod) {
	n := s.node(p.Spec.NodeName)
	hostIP := n.Status.Addresses[0].Address
	k := s.ips.Add(1)
	ip := fmt.Sprintf("10.244.%d.%d", (k/250)%256, k%250+1)
	cond := func(t corev1.PodConditionType) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: s.now}
	}
	st := corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    hostIP,
		HostIPs:   []corev1.HostIP{{IP: hostIP}},
		PodIP:     ip,
		PodIPs:    []corev1.PodIP{{IP: ip}},
		StartTime: &s.now,
		Conditions: []corev1.PodCondition{
			cond(corev1.PodReadyToStartContainers), cond(corev1.PodInitialized), cond(corev1.PodReady),
			cond(corev1.ContainersReady), cond(corev1.PodScheduled),
		},
	}
	cid := func(c string) string { return fmt.Sprintf("containerd://%064x", uint64(hash(p.Namespace, p.Name, c))) }
	imageID := func(image string) string { return fmt.Sprintf("%s@sha256:%064x", image, uint64(hash(image))) }
	for _, c := range p.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: cid(c.Name), Ready: true,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: s.now, FinishedAt: s.now, ContainerID: cid(c.Name)}},
		})
	}
	started := true
	for _, c := range p.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: cid(c.Name), Ready: true, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: s.now}},
		})
	}
	p.Status = st
}

// PodReady reports whether a pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// SetNotReady marks a pod's containers (or the named ones) not ready, and the pod with them.
func SetNotReady(p *corev1.Pod, containers ...string) {
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		if len(containers) == 0 || contains(containers, cs.Name) {
			cs.Ready = false
		}
	}
	for i := range p.Status.Conditions {
		c := &p.Status.Conditions[i]
		if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			c.Status, c.Reason = corev1.ConditionFalse, "ContainersNotReady"
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// services creates the EndpointSlices of the Services with a selector and
// gives LoadBalancer Services an address.
func (s *sim) services(ctx context.Context) error {
	svcs, err := s.cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var lbs []int
	for i := range svcs.Items {
		if svcs.Items[i].Spec.Type == corev1.ServiceTypeLoadBalancer && s.wanted(svcs.Items[i].Namespace) {
			lbs = append(lbs, i)
		}
	}
	sort.Slice(lbs, func(a, b int) bool {
		x, y := &svcs.Items[lbs[a]], &svcs.Items[lbs[b]]
		return x.Namespace+"/"+x.Name < y.Namespace+"/"+y.Name
	})
	for k, i := range lbs {
		svc := &svcs.Items[i]
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: s.o.LoadBalancerIPs[k%len(s.o.LoadBalancerIPs)], IPMode: ptr(corev1.LoadBalancerIPModeVIP)}}
		if _, err := s.cs.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("service %s/%s status: %w", svc.Namespace, svc.Name, err)
		}
		s.stats.LoadBalancers++
	}
	return parallel(ctx, len(svcs.Items), s.o.Workers, func(i int) error {
		svc := &svcs.Items[i]
		if !s.wanted(svc.Namespace) || len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
			return nil
		}
		return s.endpointSlice(ctx, svc)
	})
}

func (s *sim) endpointSlice(ctx context.Context, svc *corev1.Service) error {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var pods []*corev1.Pod
	for _, p := range s.created[svc.Namespace] {
		if sel.Matches(labels.Set(p.Labels)) {
			pods = append(pods, p)
		}
	}
	t := true
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: svc.Name + "-" + suffix(svc.Namespace, svc.Name), Namespace: svc.Namespace,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: svc.Name,
				discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID, Controller: &t, BlockOwnerDeletion: &t}},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, sp := range svc.Spec.Ports {
		port := sp.TargetPort.IntVal
		if sp.TargetPort.StrVal != "" {
			port = namedPort(pods, sp.TargetPort.StrVal)
		} else if port == 0 {
			port = sp.Port
		}
		if port == 0 {
			continue
		}
		name, proto := sp.Name, sp.Protocol
		es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: &name, Port: ptr(port), Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	for _, p := range pods {
		ready := PodReady(p)
		zone := s.node(p.Spec.NodeName).Labels["topology.kubernetes.io/zone"]
		node := p.Spec.NodeName
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready), Serving: ptr(ready), Terminating: ptr(false)},
			NodeName:   &node,
			Zone:       &zone,
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		})
	}
	if _, err := s.cs.DiscoveryV1().EndpointSlices(svc.Namespace).Create(ctx, es, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("endpointslice of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	s.count(func(st *Stats) { st.EndpointSlices++ })
	return nil
}

func namedPort(pods []*corev1.Pod, name string) int32 {
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == name {
					return cp.ContainerPort
				}
			}
		}
	}
	return 0
}
