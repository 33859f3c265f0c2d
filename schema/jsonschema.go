package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// JSON Schema: the schema and the ones it references ($ref by the names of
// its registry references) are compiled with
// github.com/santhosh-tekuri/jsonschema (srclient's validator); a document
// that validates is written as compact JSON. Nothing is loaded from
// anywhere else: a $ref to a file or URL that is no reference fails the
// compilation.

type jsonCodec struct {
	schema *jsonschema.Schema
	str    bool
}

// jsonBase is where the main schema sits, for relative $refs.
const jsonBase = "mem://registry/schema.json"

// compileJSONSchema compiles schema with refs, reference name → text.
func compileJSONSchema(schema string, refs map[string]string) (*jsonCodec, error) {
	c := jsonschema.NewCompiler()
	c.LoadURL = func(u string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("%s is not one of the schema's registry references", u)
	}
	base, _ := url.Parse(jsonBase)
	for name, text := range refs {
		u, err := url.Parse(name)
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", name, err)
		}
		if err := c.AddResource(base.ResolveReference(u).String(), strings.NewReader(text)); err != nil {
			return nil, fmt.Errorf("reference %q: %w", name, err)
		}
	}
	if err := c.AddResource(jsonBase, strings.NewReader(schema)); err != nil {
		return nil, err
	}
	compiled, err := c.Compile(jsonBase)
	if err != nil {
		return nil, err
	}
	return &jsonCodec{schema: compiled, str: len(compiled.Types) == 1 && compiled.Types[0] == "string"}, nil
}

func (c *jsonCodec) stringTyped() bool { return c.str }
func (c *jsonCodec) indexes() []int    { return nil }

func (c *jsonCodec) encode(doc []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return nil, mismatch("$", "the body is not one JSON value")
	}
	if err := c.schema.Validate(v); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			leaf := deepest(ve)
			return nil, mismatch(jsonPath(leaf.InstanceLocation), "%s", leaf.Message)
		}
		return nil, mismatch("$", "%v", err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, doc); err != nil {
		return nil, mismatch("$", "%v", err)
	}
	return out.Bytes(), nil
}

// deepest follows the first cause down: the most specific failure.
func deepest(ve *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	return ve
}

// jsonPath turns a JSON pointer ("/order/items/0") into the path the
// other formats' errors use ("$.order.items[0]").
func jsonPath(pointer string) string {
	if pointer == "" {
		return "$"
	}
	var b strings.Builder
	b.WriteString("$")
	for _, part := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		if part != "" && strings.Trim(part, "0123456789") == "" {
			b.WriteString("[" + part + "]")
		} else {
			b.WriteString("." + part)
		}
	}
	return b.String()
}
