package schema

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Protobuf: the schema is a .proto file; its imports are its registry
// references (by the import path each reference is named by) or the
// well-known types. github.com/bufbuild/protocompile compiles them, the
// JSON document is read into a dynamic message with protojson (so field
// names in JSON form or as written, enums by name, well-known types in
// their JSON forms), and the wire bytes follow the message's index path.

type protoCodec struct {
	msg  protoreflect.MessageDescriptor
	path []int
}

var positionRE = regexp.MustCompile(`^\(line \d+:\d+\): `)

// mainProto is the file name the schema is compiled under.
const mainProto = "registry-schema.proto"

// compileProtobuf compiles schema with refs (import path → text) and
// picks message (full name), or the file's first message.
func compileProtobuf(schema string, refs map[string]string, message string) (*protoCodec, error) {
	files := map[string]string{mainProto: schema}
	for name, text := range refs {
		files[name] = text
	}
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: func(path string) (io.ReadCloser, error) {
			text, ok := files[path]
			if !ok {
				return nil, fmt.Errorf("%s is not one of the schema's registry references", path)
			}
			return io.NopCloser(strings.NewReader(text)), nil
		},
	})}
	linked, err := c.Compile(context.Background(), mainProto)
	if err != nil {
		return nil, err
	}
	fd := linked[0]
	if fd.Messages().Len() == 0 {
		return nil, fmt.Errorf("the schema has no message")
	}
	if message == "" {
		return &protoCodec{msg: fd.Messages().Get(0), path: []int{0}}, nil
	}
	md, path := findMessage(fd.Messages(), protoreflect.FullName(message), nil)
	if md == nil {
		return nil, fmt.Errorf("the schema has no message %s", message)
	}
	return &protoCodec{msg: md, path: path}, nil
}

// findMessage looks for name among ms and their nested messages, with
// the index path Confluent's framing writes.
func findMessage(ms protoreflect.MessageDescriptors, name protoreflect.FullName, prefix []int) (protoreflect.MessageDescriptor, []int) {
	for i := range ms.Len() {
		m := ms.Get(i)
		path := append(append([]int(nil), prefix...), i)
		if m.FullName() == name {
			return m, path
		}
		if found, p := findMessage(m.Messages(), name, path); found != nil {
			return found, p
		}
	}
	return nil, nil
}

func (c *protoCodec) stringTyped() bool { return false }
func (c *protoCodec) indexes() []int    { return c.path }

func (c *protoCodec) encode(doc []byte) ([]byte, error) {
	m := dynamicpb.NewMessage(c.msg)
	if err := protojson.Unmarshal(doc, m); err != nil {
		// protojson names the field and says why; its "proto:" prefix
		// (followed by a space or, at random, a no-break space) and the
		// position say nothing more to a client.
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "proto:"); ok {
			msg = strings.TrimLeftFunc(rest, unicode.IsSpace)
		}
		return nil, mismatch("$", "%s", positionRE.ReplaceAllString(msg, ""))
	}
	out, err := proto.Marshal(m)
	if err != nil {
		return nil, mismatch("$", "%v", err)
	}
	return out, nil
}
