package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// List pages are read into reused buffers: client-go's Do reads each
// answer with io.ReadAll, growing (and clearing) a new buffer per page,
// which cost a tenth of the client's CPU on a 40,000-object load. Every
// decoder used on a page copies what it keeps (generated protobuf code
// copies strings and bytes, encoding/json too, internal/loader copies the
// text into a string), so a buffer is reused as soon as its page is
// decoded. The buffers belong to one load (at most Options.Concurrency of
// them, as many as requests in flight) and are garbage when it ends.
type bodyBuffers chan *bytes.Buffer

// maxKeptBody keeps one unusually big answer from pinning its buffer.
const maxKeptBody = 64 << 20

// readBody sends a GET and returns the answer's body; release must be
// called once the body is decoded. An error status becomes the API
// server's StatusError (a 403 stays recognisable as one).
func (bb bodyBuffers) readBody(ctx context.Context, req *rest.Request) (body []byte, release func(), err error) {
	rc, err := req.Stream(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	var buf *bytes.Buffer
	select {
	case buf = <-bb:
		buf.Reset()
	default:
		buf = new(bytes.Buffer)
	}
	release = func() {
		if buf.Cap() > maxKeptBody {
			return
		}
		select {
		case bb <- buf:
		default:
		}
	}
	if _, err := buf.ReadFrom(rc); err != nil {
		release()
		return nil, nil, err
	}
	return buf.Bytes(), release, nil
}

// protobufMagic starts every protobuf answer of the API server: "k8s\0",
// then a runtime.Unknown holding the type and the encoded object.
var protobufMagic = []byte("k8s\x00")

// protoUnmarshaler is implemented by the API types (generated code).
type protoUnmarshaler interface{ Unmarshal([]byte) error }

// decodeList decodes a list page of a built-in kind into into, whose kind
// (e.g. PodList) the answer must have. The protobuf envelope is read in
// place rather than through runtime.Unknown, which would copy the whole
// page once more before decoding it. A JSON answer (a proxy that does not
// pass protobuf through) is decoded too.
func decodeList(body []byte, into runtime.Object, kind string) error {
	if !bytes.HasPrefix(body, protobufMagic) {
		if len(bytes.TrimSpace(body)) > 0 && bytes.TrimSpace(body)[0] == '{' {
			_, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, into)
			return err
		}
		return fmt.Errorf("the answer is neither protobuf nor JSON (%d bytes)", len(body))
	}
	raw, gotKind, err := unwrapProtobuf(body[len(protobufMagic):])
	if err != nil {
		return fmt.Errorf("malformed protobuf answer: %v", err)
	}
	if gotKind != kind {
		return fmt.Errorf("the answer is a %s, not a %s", gotKind, kind)
	}
	u, ok := into.(protoUnmarshaler)
	if !ok {
		return fmt.Errorf("%T has no protobuf form", into)
	}
	return u.Unmarshal(raw)
}

// unwrapProtobuf reads a runtime.Unknown: field 1 is its TypeMeta
// (field 2 of which is the kind), field 2 the encoded object. raw is a
// slice of b, not a copy.
func unwrapProtobuf(b []byte) (raw []byte, kind string, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, "", protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, "", protowire.ParseError(n)
			}
			b = b[n:]
			if num == 2 {
				raw = v
				continue
			}
			if kind, err = typeMetaKind(v); err != nil {
				return nil, "", err
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, "", protowire.ParseError(n)
		}
		b = b[n:]
	}
	if raw == nil {
		return nil, "", io.ErrUnexpectedEOF
	}
	return raw, kind, nil
}

func typeMetaKind(b []byte) (string, error) {
	var kind string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		b = b[n:]
		if num == 2 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return "", protowire.ParseError(n)
			}
			kind, b = string(v), b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		b = b[n:]
	}
	return kind, nil
}
