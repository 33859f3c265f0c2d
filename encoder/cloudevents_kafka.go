package encoder

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// The CloudEvents Kafka protocol binding, v1.0.2: an event as a record.
// Either way the forwarded HTTP headers follow the event's own, minus the
// ce-* ones, which the event already carries.

// structuredContentType is the record header of a structured-mode record.
const structuredContentType = "application/cloudevents+json; charset=UTF-8"

// binaryRecord is binary mode: each attribute a ce_<name> header,
// datacontenttype the content-type header, the data the value.
func (e *Encoder) binaryRecord(ev *event, r *message.Request) Encoded {
	hs := make([]message.RecordHeader, 0, len(ev.attrs)+1)
	ct := ev.get("datacontenttype")
	for _, a := range ev.attrs {
		if a.name != "datacontenttype" {
			hs = append(hs, message.RecordHeader{Key: "ce_" + a.name, Value: []byte(a.value)})
		}
	}
	switch {
	case ct != nil:
		hs = append(hs, message.RecordHeader{Key: "content-type", Value: []byte(ct.value)})
	case ev.dataJSON:
		// The JSON format says data without datacontenttype is
		// application/json; out of the JSON, only the header can say so.
		hs = append(hs, message.RecordHeader{Key: "content-type", Value: []byte("application/json")})
	}
	value := ev.data
	if ev.dataJSON {
		value = jsonDataBytes(ev.data, ct)
	}
	if value == nil {
		// Empty rather than null: a null value is a tombstone on a
		// compacted topic, and an event without data deletes nothing.
		value = []byte{}
	}
	return Encoded{Value: value, Headers: e.forwardHeaders(hs, r.Headers, true, true), Key: ev.key()}
}

// jsonDataBytes turns a structured event's data member into the bytes it
// stands for: a JSON string of a non-JSON datacontenttype is the text
// itself (the JSON format's rule); anything else is its JSON text,
// compacted, whatever the datacontenttype claims, since no other reading
// of a JSON number or object exists.
func jsonDataBytes(data json.RawMessage, ct *attribute) []byte {
	if data[0] == '"' && !jsonData(ct) {
		var s string
		if json.Unmarshal(data, &s) == nil { // valid: checked when read
			return []byte(s)
		}
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, data) // valid: checked when read
	return buf.Bytes()
}

// jsonData reports whether a datacontenttype makes the data JSON; absent,
// the JSON format presumes application/json.
func jsonData(ct *attribute) bool {
	return ct == nil || parseMediaType(ct.value).isJSON()
}

// structuredRecord is structured mode: the whole event as one JSON object,
// required attributes first, the others by name, the data last.
func (e *Encoder) structuredRecord(ev *event, r *message.Request) Encoded {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keep <, > and & as they are: the consumer is not an HTML page.
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
		// Already a data member: kept as it came, strings as strings.
		buf.WriteString(`,"data":`)
		_ = json.Compact(&buf, data) // valid: checked when read
	case len(data) == 0:
		// No data, no member.
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

	hs := []message.RecordHeader{{Key: "content-type", Value: []byte(structuredContentType)}}
	return Encoded{Value: buf.Bytes(), Headers: e.forwardHeaders(hs, r.Headers, true, true), Key: ev.key()}
}

// key is the partitionkey extension's value, the record key the event
// asks for; nil when it has none. Present but empty is an empty key, which
// Kafka tells from none.
func (ev *event) key() []byte {
	if a := ev.get("partitionkey"); a != nil {
		return append([]byte{}, a.value...)
	}
	return nil
}
