package encoder

// The reference implementation of Kong's refEnvelope: kong.go and the argument
// parsers of args.go as they were before the hand-written appender (issue 9):
// a struct of `any` fields, written as encoding/json v1 wrote it. Test-only: the
// differential and fuzz tests (kong_diff_test.go) require the production
// encoder to produce exactly these bytes for every request.
// checkJSON, contentType and BodyError are shared: they did not change.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// refEnvelope is the record value. Fields holding `any` are omitted only when
// nil, so an empty object still shows as {} like in Kong's messages.
type refEnvelope struct {
	Method     string
	URI        *string
	URIArgs    any
	Headers    any
	Body       *string
	BodyArgs   any
	BodyBase64 bool
}

// kong returns Kong's refEnvelope for r. The only error is a *BodyError: the
// body claims a structured media type and does not parse.
func kongRef(e *Encoder, r *message.Request) ([]byte, error) {
	var env refEnvelope
	if e.forward.Method {
		env.Method = refPseudo(r.Headers, ":method")
	}
	if e.forward.URI {
		path := refPseudo(r.Headers, ":path")
		env.URI = &path
		query := ""
		if i := strings.IndexByte(path, '?'); i >= 0 {
			query = path[i+1:]
		}
		env.URIArgs = refQueryArgs(query)
	}
	if e.forward.Headers {
		env.Headers = refHeaderObject(r.Headers)
	}
	if e.forward.Body {
		if err := refEncodeBody(&env, contentType(r.Headers), r.Body); err != nil {
			return nil, err
		}
	}

	return env.appendJSON(nil), nil
}

// appendJSON writes the envelope as encoding/json v1 did with
// SetEscapeHTML(false), by hand, so that the reference stays put as
// encoding/json changes: Go 1.27's writes invalid UTF-8 as a raw U+FFFD and
// escapes U+2028 in a json.RawMessage, where v1 wrote \ufffd and kept the
// raw message's bytes. Fields go in struct order; the omitempty ones are
// left out when empty (an `any` only when nil).
func (env *refEnvelope) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	field := func(name string, v any) {
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
		dst = refAppendValue(append(refQuote(dst, name), ':'), v)
	}
	if env.Method != "" {
		field("method", env.Method)
	}
	if env.URI != nil {
		field("uri", *env.URI)
	}
	if env.URIArgs != nil {
		field("uri_args", env.URIArgs)
	}
	if env.Headers != nil {
		field("headers", env.Headers)
	}
	if env.Body != nil {
		field("body", *env.Body)
	}
	if env.BodyArgs != nil {
		field("body_args", env.BodyArgs)
	}
	if env.BodyBase64 {
		field("body_base64", true)
	}
	return append(dst, '}')
}

// refAppendValue writes what the reference's envelope holds: strings,
// booleans, lists, objects with their keys sorted bytewise (encoding/json's
// order for map keys), and valid JSON compacted.
func refAppendValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return refQuote(dst, v)
	case bool:
		return strconv.AppendBool(dst, v)
	case json.RawMessage:
		var compact bytes.Buffer
		if err := json.Compact(&compact, v); err != nil {
			panic("encoder: refEnvelope holds invalid JSON: " + err.Error())
		}
		return append(dst, compact.Bytes()...)
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = refAppendValue(dst, e)
		}
		return append(dst, ']')
	case map[string]any:
		dst = append(dst, '{')
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = refAppendValue(append(refQuote(dst, k), ':'), v[k])
		}
		return append(dst, '}')
	}
	panic(fmt.Sprintf("encoder: refEnvelope holds a %T", v))
}

// refQuote writes s as encoding/json v1 did with SetEscapeHTML(false): its
// valid UTF-8 runs through encoding/json (which every version writes alike:
// quotes, backslashes and control characters escaped, U+2028 and U+2029 as
// \u2028 and \u2029), each byte that is not UTF-8 as \ufffd.
func refQuote(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for len(s) > 0 {
		n := 0
		for n < len(s) {
			r, size := utf8.DecodeRuneInString(s[n:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			n += size
		}
		if n > 0 {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(s[:n]); err != nil {
				panic(err)
			}
			quoted := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
			dst = append(dst, quoted[1:len(quoted)-1]...)
			s = s[n:]
			continue
		}
		dst = append(dst, `\ufffd`...)
		s = s[1:]
	}
	return append(dst, '"')
}

// refEncodeBody fills body, body_args and body_base64 by Kong's rules
// (an empty body with a JSON or multipart type gives "" and {}):
// form, multipart and JSON bodies are kept as text and parsed into
// body_args; text/plain, text/html and the XML types are kept as text with
// body_args {}; anything else, a missing content type included, is
// base64-encoded with body_base64 true. Media types are compared without
// their parameters (Kong compares the whole header, so "text/plain;
// charset=utf-8" is base64-encoded there, which is a bug we don't copy).
// A body that is not valid UTF-8 cannot be a JSON string, so it is
// base64-encoded whatever its type.
func refEncodeBody(env *refEnvelope, ct mediaType, body []byte) error {
	var args any = map[string]any{}
	text := false
	switch {
	case ct.isJSON() && len(body) == 0:
		// Many clients send a JSON content-type on every request, bodyless
		// ones included: an empty body is an empty body, not bad JSON.
		text = true
	case ct.isJSON():
		if err := checkJSON(body); err != nil {
			return &BodyError{MediaType: ct.name, Err: err}
		}
		// Valid JSON is embedded as it is (json.Marshal compacts it), which
		// keeps numbers exact and costs no decode.
		args, text = json.RawMessage(body), true
	case ct.name == "application/x-www-form-urlencoded":
		args, text = refFormArgs(string(body)), true
	case ct.name == "multipart/form-data":
		parsed, err := refMultipartArgs(body, ct)
		if err != nil {
			return &BodyError{MediaType: ct.name, Err: err}
		}
		args, text = parsed, true
	case refRawTextTypes[ct.name]:
		text = true
	}

	env.BodyArgs = args
	if text && utf8.Valid(body) {
		s := string(body)
		env.Body = &s
		return nil
	}
	s := base64.StdEncoding.EncodeToString(body)
	env.Body = &s
	env.BodyBase64 = true
	return nil
}

// refRawTextTypes are Kong's raw_content_types: bodies of these types are sent
// as text without parsing.
var refRawTextTypes = map[string]bool{
	"text/plain":           true,
	"text/html":            true,
	"application/xml":      true,
	"text/xml":             true,
	"application/soap+xml": true,
}

// pseudo returns the first value of a pseudo-header.
func refPseudo(hs []message.Header, name string) string {
	for _, h := range hs {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// refHeaderObject maps each header name to its value, or to the list of its
// values when repeated (Kong's kong.request.get_headers shape). Pseudo-headers
// are left out, except :authority, which becomes "host" as on HTTP/1.1.
func refHeaderObject(hs []message.Header) map[string]any {
	out := make(map[string]any, len(hs))
	var authority string
	for _, h := range hs {
		if strings.HasPrefix(h.Name, ":") {
			if h.Name == ":authority" {
				authority = h.Value
			}
			continue
		}
		refAddArg(out, h.Name, refLatin1(h.Value))
	}
	if _, ok := out["host"]; !ok && authority != "" {
		out["host"] = authority
	}
	return out
}

// refLatin1 keeps text that JSON cannot hold as it is: HTTP allows
// bytes 0x80-0xFF in header values (obs-text), and %-escapes may decode to
// them; encoding/json would replace each with U+FFFD. Read as Latin-1, the
// historical charset of HTTP headers, every byte survives as one character.
func refLatin1(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r)
}

// refAddArg records a value under name, turning repeats into a list.
func refAddArg(args map[string]any, name string, value any) {
	switch prev := args[name].(type) {
	case nil:
		args[name] = value
	case []any:
		args[name] = append(prev, value)
	default:
		args[name] = []any{prev, value}
	}
}

// refQueryArgs parses a query string the way nginx's ngx.req.get_uri_args
// (and so Kong's uri_args) does: repeated names become lists, a name without
// "=" is true. A query string is never a reason to refuse a request Envoy
// already accepted, so a bad %-escape keeps its raw text.
func refQueryArgs(query string) map[string]any {
	args := map[string]any{}
	for _, pair := range strings.Split(query, "&") {
		if pair == "" {
			continue
		}
		name, value, hasValue := strings.Cut(pair, "=")
		name = refLatin1(refUnescape(name))
		if !hasValue {
			refAddArg(args, name, true)
			continue
		}
		refAddArg(args, name, refLatin1(refUnescape(value)))
	}
	return args
}

func refUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// refFormArgs parses an application/x-www-form-urlencoded body exactly as
// refQueryArgs parses a query string, leniently: a client sending a literal
// "%" (comment=100%) means it, and nginx's ngx.decode_args (so Kong) keeps
// a bad escape as written too. A form body therefore never fails to parse.
func refFormArgs(body string) map[string]any {
	return refQueryArgs(body)
}

// refMultipartArgs maps each form field's name to its content (lists when
// repeated). Parts whose content is not UTF-8 text (binary files) are left
// out: JSON cannot hold them as strings, and the body itself carries them.
// An empty body is an empty form.
func refMultipartArgs(body []byte, ct mediaType) (map[string]any, error) {
	args := map[string]any{}
	if len(body) == 0 {
		return args, nil
	}
	boundary := ct.params["boundary"]
	if ct.paramErr != nil {
		return nil, fmt.Errorf("content-type parameters do not parse (%v), so the boundary is unknown", ct.paramErr)
	}
	if boundary == "" {
		return nil, errors.New("content-type has no boundary parameter")
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			return args, nil
		}
		if err != nil {
			return nil, err
		}
		content, err := io.ReadAll(part)
		if err != nil {
			return nil, err
		}
		name := part.FormName()
		if name == "" || !utf8.Valid(content) {
			continue
		}
		refAddArg(args, name, string(content))
	}
}
