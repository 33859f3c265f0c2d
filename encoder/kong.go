package encoder

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// envelope is the record value. Fields holding `any` are omitted only when
// nil, so an empty object still shows as {} like in Kong's messages.
type envelope struct {
	Method     string  `json:"method,omitempty"`
	URI        *string `json:"uri,omitempty"`
	URIArgs    any     `json:"uri_args,omitempty"`
	Headers    any     `json:"headers,omitempty"`
	Body       *string `json:"body,omitempty"`
	BodyArgs   any     `json:"body_args,omitempty"`
	BodyBase64 bool    `json:"body_base64,omitempty"`
}

// kong returns Kong's envelope for r. The only error is a *BodyError: the
// body claims a structured media type and does not parse.
func (e *Encoder) kong(r *message.Request) ([]byte, error) {
	var env envelope
	if e.forward.Method {
		env.Method = pseudo(r.Headers, ":method")
	}
	if e.forward.URI {
		path := pseudo(r.Headers, ":path")
		env.URI = &path
		query := ""
		if i := strings.IndexByte(path, '?'); i >= 0 {
			query = path[i+1:]
		}
		env.URIArgs = queryArgs(query)
	}
	if e.forward.Headers {
		env.Headers = headerObject(r.Headers)
	}
	if e.forward.Body {
		if err := encodeBody(&env, contentType(r.Headers), r.Body); err != nil {
			return nil, err
		}
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keep <, > and & as they are: the consumer is not an HTML page.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&env); err != nil {
		// Every value above is a string, a map of strings or validated JSON.
		panic("encoder: envelope does not marshal: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// encodeBody fills body, body_args and body_base64 by Kong's rules
// (an empty body with a JSON or multipart type gives "" and {}):
// form, multipart and JSON bodies are kept as text and parsed into
// body_args; text/plain, text/html and the XML types are kept as text with
// body_args {}; anything else, a missing content type included, is
// base64-encoded with body_base64 true. Media types are compared without
// their parameters (Kong compares the whole header, so "text/plain;
// charset=utf-8" is base64-encoded there, which is a bug we don't copy).
// A body that is not valid UTF-8 cannot be a JSON string, so it is
// base64-encoded whatever its type.
func encodeBody(env *envelope, ct mediaType, body []byte) error {
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
		args, text = formArgs(string(body)), true
	case ct.name == "multipart/form-data":
		parsed, err := multipartArgs(body, ct)
		if err != nil {
			return &BodyError{MediaType: ct.name, Err: err}
		}
		args, text = parsed, true
	case rawTextTypes[ct.name]:
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

// rawTextTypes are Kong's raw_content_types: bodies of these types are sent
// as text without parsing.
var rawTextTypes = map[string]bool{
	"text/plain":           true,
	"text/html":            true,
	"application/xml":      true,
	"text/xml":             true,
	"application/soap+xml": true,
}

// pseudo returns the first value of a pseudo-header.
func pseudo(hs []message.Header, name string) string {
	for _, h := range hs {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// headerObject maps each header name to its value, or to the list of its
// values when repeated (Kong's kong.request.get_headers shape). Pseudo-headers
// are left out, except :authority, which becomes "host" as on HTTP/1.1.
func headerObject(hs []message.Header) map[string]any {
	out := make(map[string]any, len(hs))
	var authority string
	for _, h := range hs {
		if strings.HasPrefix(h.Name, ":") {
			if h.Name == ":authority" {
				authority = h.Value
			}
			continue
		}
		addArg(out, h.Name, latin1IfNotUTF8(h.Value))
	}
	if _, ok := out["host"]; !ok && authority != "" {
		out["host"] = authority
	}
	return out
}

// latin1IfNotUTF8 keeps text that JSON cannot hold as it is: HTTP allows
// bytes 0x80-0xFF in header values (obs-text), and %-escapes may decode to
// them; encoding/json would replace each with U+FFFD. Read as Latin-1, the
// historical charset of HTTP headers, every byte survives as one character.
func latin1IfNotUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r)
}

// addArg records a value under name, turning repeats into a list.
func addArg(args map[string]any, name string, value any) {
	switch prev := args[name].(type) {
	case nil:
		args[name] = value
	case []any:
		args[name] = append(prev, value)
	default:
		args[name] = []any{prev, value}
	}
}
