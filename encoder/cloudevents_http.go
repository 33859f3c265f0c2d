package encoder

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// The CloudEvents HTTP protocol binding, v1.0.2: an event from a request,
// in binary mode or in structured mode with the JSON event format.

// binaryEvent reads a binary-mode request: ce-* headers are the
// attributes, content-type is datacontenttype, the body is the data.
func binaryEvent(r *message.Request) (event, error) {
	var ev event
	for _, h := range r.Headers {
		name, ok := strings.CutPrefix(h.Name, "ce-")
		if !ok {
			continue
		}
		switch {
		case !validName(name):
			return ev, eventErrorf("invalid CloudEvents attribute name %q", name)
		case name == "data":
			return ev, eventErrorf("invalid CloudEvents attribute name %q (reserved for the event's data)", name)
		case name == "datacontenttype":
			// The binding makes content-type the one place for it; two
			// places could disagree.
			return ev, eventErrorf("CloudEvents attribute \"datacontenttype\" goes in the content-type header in binary mode, not in ce-datacontenttype")
		}
		value := percentDecode(h.Value)
		if !utf8.ValidString(value) {
			return ev, eventErrorf("CloudEvents attribute %q is not UTF-8", name)
		}
		if err := ev.add(attribute{name: name, value: value}); err != nil {
			return ev, err
		}
	}
	if ct, ok := r.Get("content-type"); ok {
		if !utf8.ValidString(ct) {
			return ev, eventErrorf("CloudEvents attribute \"datacontenttype\" is not UTF-8")
		}
		ev.attrs = append(ev.attrs, attribute{name: "datacontenttype", value: ct})
	}
	if len(r.Body) > 0 {
		// An empty body is an event without data.
		ev.data = r.Body
	}
	return ev, nil
}

// validName is the CloudEvents naming rule: lower-case ASCII letters and
// digits.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// percentDecode undoes the HTTP binding's percent-encoding of header
// values. An invalid escape is kept as written: a lenient reading loses
// nothing, where url.PathUnescape would refuse the whole value.
func percentDecode(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// coreAttributes are the spec's own optional and required attributes,
// all of them strings in the JSON format; only extensions may also be
// numbers or booleans.
var coreAttributes = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true,
	"datacontenttype": true, "dataschema": true, "subject": true, "time": true,
}

// structuredEvent reads an application/cloudevents+json body.
func structuredEvent(body []byte) (event, error) {
	var ev event
	notObject := func(why string) (event, error) {
		return ev, eventErrorf("structured CloudEvent is not a JSON object: %s", why)
	}
	if err := checkJSON(body); err != nil {
		return notObject(err.Error())
	}
	if kind := jsonKind(body); kind != "an object" {
		return notObject("got " + kind)
	}
	// Token by token rather than into a map: numbers stay as written and
	// a repeated member is seen.
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // the '{', checked above
		return notObject(err.Error())
	}
	var data, data64 json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return notObject(err.Error())
		}
		key, _ := tok.(string) // object keys are strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return notObject(err.Error())
		}
		switch {
		case key == "data" || key == "data_base64":
			target := &data
			if key == "data_base64" {
				target = &data64
			}
			if *target != nil {
				return ev, eventErrorf("structured CloudEvent has %q more than once", key)
			}
			*target = raw
			continue
		case !validName(key):
			return ev, eventErrorf("invalid CloudEvents attribute name %q", key)
		}
		a := attribute{name: key}
		switch raw[0] {
		case 'n':
			// null: the attribute is absent.
			continue
		case '"':
			if err := json.Unmarshal(raw, &a.value); err != nil {
				return notObject(err.Error())
			}
		case '{', '[':
			return ev, eventErrorf("CloudEvents attribute %q must be a string, number or boolean", key)
		default:
			if coreAttributes[key] {
				return ev, eventErrorf("CloudEvents attribute %q must be a string", key)
			}
			a.value, a.raw = string(raw), raw
		}
		if err := ev.add(a); err != nil {
			return ev, err
		}
	}
	// null counts as absent for data and data_base64 as for attributes.
	if bytes.Equal(data, []byte("null")) {
		data = nil
	}
	if bytes.Equal(data64, []byte("null")) {
		data64 = nil
	}
	switch {
	case data != nil && data64 != nil:
		return ev, eventErrorf("structured CloudEvent has both data and data_base64")
	case data != nil:
		ev.data, ev.dataJSON = data, true
	case data64 != nil:
		var s string
		if data64[0] != '"' || json.Unmarshal(data64, &s) != nil {
			return ev, eventErrorf("structured CloudEvent's data_base64 must be a string")
		}
		decoded, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return ev, eventErrorf("structured CloudEvent's data_base64 is not valid base64: %v", err)
		}
		ev.data = decoded
	}
	return ev, nil
}

// jsonKind names the kind of a valid JSON text by its first byte.
func jsonKind(valid []byte) string {
	switch bytes.TrimLeft(valid, " \t\r\n")[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
