package encoder

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// kong returns Kong's envelope for r. The only error is a *BodyError: the
// body claims a structured media type and does not parse.
//
// The envelope is written straight into one buffer, sized up front, in the
// shape encoding/json gave the struct it used to be (kongref_test.go keeps
// that version, and the tests require the same bytes): keys in the order
// method, uri, uri_args, headers, body, body_args, body_base64, each only
// when its forward_* flag is on; method also only when not empty; the
// strings escaped as jsonstring.go says; the objects as argobject.go says.
func (e *Encoder) kong(r *message.Request) ([]byte, error) {
	path := pseudo(r.Headers, ":path")
	var ct mediaType
	if e.forward.Body {
		ct = bodyMediaType(r.Headers)
	}
	dst := make([]byte, 0, e.kongSize(r, path, ct))
	dst = append(dst, '{')
	if e.forward.Method {
		if method := pseudo(r.Headers, ":method"); method != "" {
			dst = appendString(appendKey(dst, "method"), method)
		}
	}
	// Room for about 16 pairs on the stack: requests carry about ten
	// headers or arguments.
	var argsBuf [16]arg
	if e.forward.URI {
		dst = appendString(appendKey(dst, "uri"), path)
		query := ""
		if i := strings.IndexByte(path, '?'); i >= 0 {
			query = path[i+1:]
		}
		dst = appendArgObject(appendKey(dst, "uri_args"), queryArgs(argsBuf[:0], query))
	}
	if e.forward.Headers {
		dst = appendArgObject(appendKey(dst, "headers"), headerArgs(argsBuf[:0], r.Headers))
	}
	if e.forward.Body {
		var err error
		if dst, err = appendBody(dst, ct, r.Body); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// appendKey appends an envelope key and its colon, after a comma unless it
// is the first (dst holds only the opening brace).
func appendKey(dst []byte, key string) []byte {
	if len(dst) > 1 {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// kongSize is about the envelope's length, so that it is written without
// growing the buffer: the headers (the path among them) with some room for
// escapes, plus the body twice (as a string, escaped, and as body_args) or,
// when its type says it will be, exactly as base64 (the allocation, and
// its share of GC, is a good part of the cost of a binary body).
func (e *Encoder) kongSize(r *message.Request, path string, ct mediaType) int {
	n := 64
	if e.forward.URI {
		n += 2*len(path) + 32
	}
	if e.forward.Headers {
		for _, h := range r.Headers {
			n += len(h.Name) + len(h.Value) + 8
		}
	}
	if e.forward.Body {
		if !isTextType(ct) {
			n += (len(r.Body) + 2) / 3 * 4
		} else {
			// Enough for a JSON body with a quote every eighth byte and
			// its compacted copy, and for base64 (4/3) of text that is
			// not UTF-8.
			n += 2*len(r.Body) + len(r.Body)/8 + 64
		}
	}
	return n + n/16
}

// isTextType reports whether a body of type ct is kept as text when it is
// UTF-8 (appendBody): JSON, forms, multipart and rawTextTypes.
func isTextType(ct mediaType) bool {
	return ct.isJSON() || ct.name == "application/x-www-form-urlencoded" || ct.name == "multipart/form-data" || rawTextTypes[ct.name]
}

// bodyMediaType is contentType without the cost of mime.ParseMediaType
// (a map per request) in the common case where it cannot matter: no
// parameters, ASCII, and not multipart, the one type whose parameters (and
// their parse error) are used. mime.ParseMediaType's name is the lower-case
// text before ";" without surrounding space, parameters or not.
func bodyMediaType(hs []message.Header) mediaType {
	for _, h := range hs {
		if h.Name != "content-type" {
			continue
		}
		if strings.IndexByte(h.Value, ';') < 0 && isASCII(h.Value) {
			if name := strings.ToLower(strings.TrimSpace(h.Value)); name != "multipart/form-data" {
				return mediaType{name: name}
			}
		}
		return parseMediaType(h.Value)
	}
	return mediaType{}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendBody appends body, body_args and body_base64 by Kong's rules
// (an empty body with a JSON or multipart type gives "" and {}):
// form, multipart and JSON bodies are kept as text and parsed into
// body_args; text/plain, text/html and the XML types are kept as text with
// body_args {}; anything else, a missing content type included, is
// base64-encoded with body_base64 true. Media types are compared without
// their parameters (Kong compares the whole header, so "text/plain;
// charset=utf-8" is base64-encoded there, which is a bug we don't copy).
// A body that is not valid UTF-8 cannot be a JSON string, so it is
// base64-encoded whatever its type.
func appendBody(dst []byte, ct mediaType, body []byte) ([]byte, error) {
	if ct.isJSON() && len(body) > 0 {
		return appendJSONBody(dst, ct, body)
	}
	// Many clients send a JSON content-type on every request, bodyless
	// ones included: an empty body is an empty body, not bad JSON.
	var args []arg
	switch ct.name {
	case "application/x-www-form-urlencoded":
		args = formArgs(string(body))
	case "multipart/form-data":
		parsed, err := multipartArgs(body, ct)
		if err != nil {
			return nil, &BodyError{MediaType: ct.name, Err: err}
		}
		args = parsed
	}
	text := isTextType(ct)
	asText := text && utf8.Valid(body)
	dst = appendKey(dst, "body")
	if asText {
		dst = appendText(dst, body)
	} else {
		// base64 needs no escaping.
		dst = append(dst, '"')
		dst = appendBase64(dst, body)
		dst = append(dst, '"')
	}
	dst = appendArgObject(appendKey(dst, "body_args"), args)
	if !asText {
		dst = append(appendKey(dst, "body_base64"), "true"...)
	}
	return dst, nil
}

// appendJSONBody appends a JSON body as the body string and, compacted, as
// body_args: valid JSON is embedded as it is, which keeps numbers exact and
// costs no decode. appendJSONText validates it while writing the string.
func appendJSONBody(dst []byte, ct mediaType, body []byte) ([]byte, error) {
	if !utf8.Valid(body) {
		return nil, &BodyError{MediaType: ct.name, Err: checkJSON(body)}
	}
	dst = appendKey(dst, "body")
	if out, spaced, ok := appendJSONText(dst, body); ok {
		out = appendKey(out, "body_args")
		if spaced {
			return appendWithoutSpace(out, body), nil
		}
		return append(out, body...), nil // already compact: one copy
	}
	// Slow path: encoding/json says what is wrong. Were it to accept what
	// appendJSONText refused, its string and compaction are the answer (and
	// a bug of ours, which the differential tests are there to catch).
	if err := checkJSON(body); err != nil {
		return nil, &BodyError{MediaType: ct.name, Err: err}
	}
	dst = appendKey(appendText(dst, body), "body_args")
	var compact bytes.Buffer
	_ = json.Compact(&compact, body) // valid: checked above
	return append(dst, compact.Bytes()...), nil
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

// headerArgs appends each header's name and value (appendArgObject makes
// repeats a list: Kong's kong.request.get_headers shape). Pseudo-headers are
// left out, except :authority, which becomes "host" as on HTTP/1.1. Values
// are read as Latin-1 when not UTF-8; names (and :authority) are not, as
// before.
func headerArgs(args []arg, hs []message.Header) []arg {
	var authority string
	hasHost := false
	for _, h := range hs {
		if strings.HasPrefix(h.Name, ":") {
			if h.Name == ":authority" {
				authority = h.Value
			}
			continue
		}
		hasHost = hasHost || h.Name == "host"
		args = append(args, arg{name: h.Name, value: latin1IfNotUTF8(h.Value)})
	}
	if !hasHost && authority != "" {
		args = append(args, arg{name: "host", value: authority})
	}
	return args
}
