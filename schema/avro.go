package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"
)

// Avro: the schema is parsed with github.com/hamba/avro (its references
// first, into the same cache, so named types resolve), the JSON document
// is turned into Avro's native values by the schema (walkAvro, which says
// where a document is wrong), and hamba writes the binary encoding.
//
// JSON forms accepted, beyond the obvious ones:
//   - unions: the value as it is (null, or one of the branches, picked by
//     the JSON type, then the first record/map branch that fits), or,
//     with avro_json "avro", Avro's JSON encoding {"branch": value};
//   - bytes and fixed: a string, its characters' code points as bytes
//     (Avro's JSON encoding), or base64 prefixed "base64:";
//   - timestamp-*, local-timestamp-*: RFC 3339 text or epoch numbers;
//     date: "2006-01-02" or days; time-*: "15:04:05.000" or the number;
//     decimal: a JSON number or numeric text; uuid: the canonical text.

type avroCodec struct {
	schema   avro.Schema
	avroJSON bool
	// defaults holds each field default's native value (*avro.Field →
	// any), made at its first use: read only after, shared by requests.
	defaults sync.Map
}

// compileAvro parses schema after the schemas it references (refs, in
// dependency order).
func compileAvro(schema string, refs []string, avroJSON bool) (*avroCodec, error) {
	cache := &avro.SchemaCache{}
	for _, r := range refs {
		if _, err := avro.ParseWithCache(r, "", cache); err != nil {
			return nil, fmt.Errorf("a referenced schema: %w", err)
		}
	}
	s, err := avro.ParseWithCache(schema, "", cache)
	if err != nil {
		return nil, err
	}
	return &avroCodec{schema: s, avroJSON: avroJSON}, nil
}

func (c *avroCodec) stringTyped() bool { return c.schema.Type() == avro.String }
func (c *avroCodec) indexes() []int    { return nil }

func (c *avroCodec) encode(doc []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, mismatch("$", "the body is not JSON: %v", err)
	}
	if d.More() {
		return nil, mismatch("$", "the body holds more than one JSON value")
	}
	native, err := c.walk(c.schema, v, "$")
	if err != nil {
		return nil, err
	}
	out, err := avro.Marshal(c.schema, native)
	if err != nil {
		return nil, mismatch("$", "%v", err)
	}
	return out, nil
}

// walk turns the JSON value v at path into s's native value.
func (c *avroCodec) walk(s avro.Schema, v any, path string) (any, error) {
	switch s := s.(type) {
	case *avro.RefSchema:
		return c.walk(s.Schema(), v, path)
	case *avro.UnionSchema:
		return c.union(s, v, path)
	case *avro.RecordSchema:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, expected(path, "an object ("+s.FullName()+")", v)
		}
		out := make(map[string]any, len(s.Fields()))
		for _, f := range s.Fields() {
			fv, present := obj[f.Name()]
			if !present {
				if f.HasDefault() {
					n, err := c.defaultOf(f, path+"."+f.Name())
					if err != nil {
						return nil, err
					}
					out[f.Name()] = n
					continue
				}
				if nullable(f.Type()) {
					out[f.Name()] = nil
					continue
				}
				return nil, mismatch(path+"."+f.Name(), "is required")
			}
			n, err := c.walk(f.Type(), fv, path+"."+f.Name())
			if err != nil {
				return nil, err
			}
			out[f.Name()] = n
		}
		for name := range obj {
			if !hasField(s, name) {
				return nil, mismatch(path+"."+name, "is not a field of %s", s.FullName())
			}
		}
		return out, nil
	case *avro.ArraySchema:
		arr, ok := v.([]any)
		if !ok {
			return nil, expected(path, "an array", v)
		}
		out := make([]any, len(arr))
		for i, item := range arr {
			n, err := c.walk(s.Items(), item, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case *avro.MapSchema:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, expected(path, "an object (a map)", v)
		}
		out := make(map[string]any, len(obj))
		for k, item := range obj {
			n, err := c.walk(s.Values(), item, path+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case *avro.EnumSchema:
		str, ok := v.(string)
		if !ok {
			return nil, expected(path, "a string (one of "+strings.Join(s.Symbols(), ", ")+")", v)
		}
		for _, sym := range s.Symbols() {
			if sym == str {
				return str, nil
			}
		}
		return nil, mismatch(path, "%q is not one of %s", str, strings.Join(s.Symbols(), ", "))
	case *avro.FixedSchema:
		if l := s.Logical(); l != nil && l.Type() == avro.Decimal {
			return decimal(v, path)
		}
		b, err := bytesOf(v, path)
		if err == nil && len(b) != s.Size() {
			return nil, mismatch(path, "expected %d bytes (fixed %s), got %d", s.Size(), s.FullName(), len(b))
		}
		if err != nil {
			return nil, err
		}
		// hamba takes a fixed as a byte array of its size, not a slice.
		arr := reflect.New(reflect.ArrayOf(s.Size(), reflect.TypeFor[byte]())).Elem()
		reflect.Copy(arr, reflect.ValueOf(b))
		return arr.Interface(), nil
	case *avro.PrimitiveSchema:
		return primitive(s, v, path)
	case *avro.NullSchema:
		if v != nil {
			return nil, expected(path, "null", v)
		}
		return nil, nil
	}
	return nil, mismatch(path, "schema type %s is not supported", s.Type())
}

// defaultOf is a field's default as a native value: the schema's JSON
// default, walked like a document (in plain form: Avro's defaults of a
// union are the first branch's, unwrapped).
func (c *avroCodec) defaultOf(f *avro.Field, path string) (any, error) {
	if v, ok := c.defaults.Load(f); ok {
		return v, nil
	}
	v, err := c.walkDefault(f, path)
	if err == nil {
		c.defaults.Store(f, v)
	}
	return v, err
}

func (c *avroCodec) walkDefault(f *avro.Field, path string) (any, error) {
	js, err := json.Marshal(bytesAsText(f.Default()))
	if err != nil {
		return nil, mismatch(path, "the schema's default: %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, mismatch(path, "the schema's default: %v", err)
	}
	plain := &avroCodec{schema: c.schema}
	return plain.walk(f.Type(), v, path)
}

// bytesAsText turns the bytes and fixed values in a default as hamba
// returns it ([]byte, [N]byte, also inside maps and lists) into the text
// walk reads as bytes ("base64:..."): json.Marshal would write a slice as
// bare base64 and an array as a list of numbers.
func bytesAsText(v any) any {
	switch v := v.(type) {
	case []byte:
		return "base64:" + base64.StdEncoding.EncodeToString(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = bytesAsText(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = bytesAsText(e)
		}
		return out
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(b), rv)
		return bytesAsText(b)
	}
	return v
}

// union picks the branch of v: Avro's JSON encoding names it; plain JSON
// picks by the value's type.
func (c *avroCodec) union(s *avro.UnionSchema, v any, path string) (any, error) {
	if v == nil {
		if !nullable(s) {
			return nil, mismatch(path, "expected one of %s, got null", branchNames(s))
		}
		return nil, nil
	}
	if c.avroJSON {
		obj, ok := v.(map[string]any)
		if !ok || len(obj) != 1 {
			return nil, mismatch(path, `expected a union value as {"<branch>": value} (avro_json "avro"), got %s`, jsonType(v))
		}
		for name, inner := range obj {
			for _, t := range s.Types() {
				if branchName(t) == name {
					n, err := c.walk(t, inner, path)
					if err != nil {
						return nil, err
					}
					return map[string]any{name: n}, nil
				}
			}
			return nil, mismatch(path, "%q is not a branch of the union (%s)", name, branchNames(s))
		}
	}
	var firstErr error
	for _, t := range s.Types() {
		if t.Type() == avro.Null {
			continue
		}
		n, err := c.walk(t, v, path)
		if err == nil {
			return map[string]any{branchName(t): n}, nil
		}
		if firstErr == nil || !strings.HasPrefix(err.Error(), path+": expected") {
			firstErr = err // a nested error says more than "expected X"
		}
	}
	if len(s.Types()) == 1 || (len(s.Types()) == 2 && nullable(s)) {
		return nil, firstErr
	}
	return nil, mismatch(path, "expected one of %s, got %s", branchNames(s), jsonType(v))
}

func nullable(s avro.Schema) bool {
	u, ok := s.(*avro.UnionSchema)
	if !ok {
		return s.Type() == avro.Null
	}
	for _, t := range u.Types() {
		if t.Type() == avro.Null {
			return true
		}
	}
	return false
}

func hasField(s *avro.RecordSchema, name string) bool {
	for _, f := range s.Fields() {
		if f.Name() == name {
			return true
		}
	}
	return false
}

// branchName is a union branch's key in hamba's map form (and Avro's JSON
// encoding): the full name of a named type, else the type, with its
// logical type ("long.timestamp-millis").
func branchName(s avro.Schema) string {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	if p, ok := s.(*avro.PrimitiveSchema); ok && p.Logical() != nil {
		return string(p.Type()) + "." + string(p.Logical().Type())
	}
	return string(s.Type())
}

func branchNames(u *avro.UnionSchema) string {
	names := make([]string, len(u.Types()))
	for i, t := range u.Types() {
		names[i] = branchName(t)
	}
	return strings.Join(names, ", ")
}

func expected(path, what string, got any) *Error {
	return mismatch(path, "expected %s, got %s", what, jsonType(got))
}

// jsonType names a decoded JSON value's type as an error should.
func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}
