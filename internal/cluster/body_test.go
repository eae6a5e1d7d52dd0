package cluster

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

func samplePodList() *corev1.PodList {
	return &corev1.PodList{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"},
		ListMeta: metav1.ListMeta{Continue: "token-1", ResourceVersion: "42"},
		Items: []corev1.Pod{{
			ObjectMeta: metav1.ObjectMeta{Name: "api-0", Namespace: "shop", Labels: map[string]string{"app": "api"},
				Annotations:   map[string]string{"sidecar.istio.io/status": `{"containers":["istio-proxy"]}`},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{}}`)}}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Image: "istio/proxyv2:1.28.0",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.7"},
		}},
	}
}

// protobufBody encodes a list as the API server answers in protobuf.
func protobufBody(t *testing.T, obj runtime.Object) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Encode(obj, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDecodeListProtobuf: a page decodes to the object encoded, and what
// it decoded does not point into the page's buffer, which is reused.
func TestDecodeListProtobuf(t *testing.T) {
	want := samplePodList()
	body := protobufBody(t, want)
	if !bytes.HasPrefix(body, protobufMagic) {
		t.Fatalf("the serializer wrote no protobuf envelope: %q", body[:8])
	}
	var got corev1.PodList
	if err := decodeList(body, &got, "PodList"); err != nil {
		t.Fatal(err)
	}
	for i := range body { // the buffer going back to the pool
		body[i] = 'x'
	}
	got.TypeMeta = want.TypeMeta // a list's items are decoded, not its envelope
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, *want)
	}
}

func TestDecodeListJSON(t *testing.T) {
	want := samplePodList()
	body, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got corev1.PodList
	if err := decodeList(body, &got, "PodList"); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Items, want.Items) || got.Continue != want.Continue {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, *want)
	}
}

func TestDecodeListRejects(t *testing.T) {
	svcs := protobufBody(t, &corev1.ServiceList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceList"}})
	for _, c := range []struct {
		name string
		body []byte
		want string
	}{
		{"another kind", svcs, "a ServiceList, not a PodList"},
		{"truncated", svcs[:len(svcs)-3], "malformed protobuf"},
		{"envelope without object", []byte("k8s\x00"), "malformed protobuf"},
		{"neither protobuf nor JSON", []byte("<html>proxy error</html>"), "neither protobuf nor JSON"},
	} {
		var l corev1.PodList
		err := decodeList(c.body, &l, "PodList")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to say %q", c.name, err, c.want)
		}
	}
}

// TestNewListOfEveryBuiltin: each built-in kind has a list type to decode into.
func TestNewListOfEveryBuiltin(t *testing.T) {
	for key, b := range builtins {
		kind, _ := splitKey(key)
		l, err := newList(schema.GroupVersion{Group: b.group, Version: b.version}, kind)
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if _, ok := l.(protoUnmarshaler); !ok {
			t.Errorf("%s: %T cannot be decoded from protobuf", key, l)
		}
	}
}

// BenchmarkDecodePodPage: one page of 500 pods, as client-go's protobuf
// serializer decodes it (through runtime.Unknown) and as decodeList does.
func BenchmarkDecodePodPage(b *testing.B) {
	page := samplePodList()
	for len(page.Items) < 500 {
		p := page.Items[0].DeepCopy()
		p.Name = "api-" + strings.Repeat("x", len(page.Items)%7) + string(rune('a'+len(page.Items)%26))
		page.Items = append(page.Items, *p)
	}
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Encode(page, &buf); err != nil {
		b.Fatal(err)
	}
	body := buf.Bytes()
	b.Run("client-go", func(b *testing.B) {
		codec := scheme.Codecs.UniversalDeserializer()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var l corev1.PodList
			if _, _, err := codec.Decode(append([]byte(nil), body...), nil, &l); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeList", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var l corev1.PodList
			if err := decodeList(body, &l, "PodList"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
