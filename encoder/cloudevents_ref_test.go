package encoder

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// structuredValueRef is structured mode's record value as structuredRecord
// wrote it before its hand-written appends: strings through encoding/json
// with SetEscapeHTML(false), valid JSON data through json.Compact. Every
// string it writes is valid UTF-8 (attributes are checked when read), on
// which encoding/json v1 and the Go 1.27 one write the same bytes. The
// fuzz target and TestStructuredSameAsReference require the same bytes.
func structuredValueRef(ev *event) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	writeString := func(s string) {
		if err := enc.Encode(s); err != nil {
			panic("encoder: a string does not marshal: " + err.Error())
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	buf.WriteByte('{')
	for i, a := range ev.attrs {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeString(a.name)
		buf.WriteByte(':')
		if a.raw != nil {
			buf.Write(a.raw)
		} else {
			writeString(a.value)
		}
	}
	switch data := ev.data; {
	case ev.dataJSON:
		buf.WriteString(`,"data":`)
		_ = json.Compact(&buf, data)
	case len(data) == 0:
	case jsonData(ev.get("datacontenttype")) && utf8.Valid(data) && json.Valid(data):
		buf.WriteString(`,"data":`)
		_ = json.Compact(&buf, data)
	case utf8.Valid(data):
		buf.WriteString(`,"data":`)
		writeString(string(data))
	default:
		buf.WriteString(`,"data_base64":"`)
		buf.WriteString(base64.StdEncoding.EncodeToString(data))
		buf.WriteByte('"')
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// jsonDataBytesRef is jsonDataBytes as it was, through encoding/json:
// a JSON string of a non-JSON type decoded, anything else json.Compact'ed.
func jsonDataBytesRef(data json.RawMessage, ct *attribute) []byte {
	if data[0] == '"' && !jsonData(ct) {
		var s string
		if json.Unmarshal(data, &s) == nil {
			return []byte(s)
		}
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, data)
	return buf.Bytes()
}

// sameBinaryDataAsRef requires a binary record made from a structured
// event's data member to hold the bytes jsonDataBytesRef gives.
func sameBinaryDataAsRef(t testing.TB, e *Encoder, r *message.Request, got []byte) {
	t.Helper()
	ev, err := e.readEvent(r)
	if err != nil {
		t.Fatalf("readEvent: %v, after Encode succeeded", err)
	}
	if !ev.dataJSON {
		return
	}
	if want := jsonDataBytesRef(ev.data, ev.get("datacontenttype")); !bytes.Equal(got, want) {
		t.Fatalf("binary value from the data member of %q:\n got %q\nwant %q", r.Body, got, want)
	}
}

// TestStructuredSameAsReference: binary-mode requests with the
// differential tests' bodies as data, and structured-mode requests with
// them as the data member, against structuredValueRef (and, the latter
// turned into binary records, against jsonDataBytesRef).
func TestStructuredSameAsReference(t *testing.T) {
	e := New(config.Message{Format: config.FormatCloudEvents, CloudEvents: config.CloudEventOptions{Structured: true}}, config.Headers{})
	binary := New(config.Message{Format: config.FormatCloudEvents}, config.Headers{})
	attrs := []string{"ce-specversion", "1.0", "ce-id", "id-\u2028<&>\x7f", "ce-source", "/s\"\\", "ce-type", "t\t\x01"}
	n := 0
	for _, body := range append(append(append([]string{}, diffJSONBodies...), diffTextBodies...), allBytes, allControls) {
		for _, ct := range []string{"application/json", "text/plain", "application/octet-stream"} {
			r := &message.Request{Headers: append(headerList(attrs...), message.Header{Name: "content-type", Value: ct}), Body: []byte(body)}
			if enc, err := e.Encode(r); err == nil {
				sameStructuredAsRef(t, e, r, enc.Value)
				n++
			}
		}
		if json.Valid([]byte(body)) {
			for _, dct := range []string{"", `,"datacontenttype":"text/plain"`} {
				event := `{"specversion":"1.0","id":"1","source":"/s","type":"t","ext":12.50` + dct + `,"data":` + body + `}`
				r := &message.Request{Headers: headerList("content-type", "application/cloudevents+json"), Body: []byte(event)}
				if enc, err := e.Encode(r); err == nil {
					sameStructuredAsRef(t, e, r, enc.Value)
					n++
				}
				if enc, err := binary.Encode(r); err == nil {
					sameBinaryDataAsRef(t, binary, r, enc.Value)
					n++
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d events compared", n)
	}
	t.Logf("%d events", n)
}

func headerList(kv ...string) []message.Header {
	var hs []message.Header
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, message.Header{Name: kv[i], Value: kv[i+1]})
	}
	return hs
}
