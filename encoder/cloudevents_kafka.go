package encoder

import (
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
	return appendWithoutSpace(make([]byte, 0, len(data)), data) // valid: checked when read
}

// jsonData reports whether a datacontenttype makes the data JSON; absent,
// the JSON format presumes application/json.
func jsonData(ct *attribute) bool {
	return ct == nil || parseMediaType(ct.value).isJSON()
}

// structuredRecord is structured mode: the whole event as one JSON object,
// required attributes first, the others by name, the data last. Strings
// are written by the Kong envelope's appendString (encoding/json v1's
// bytes with SetEscapeHTML(false): the consumer is not an HTML page), and
// valid JSON data without its whitespace (json.Compact's bytes): the same
// output whatever the Go release's encoding/json does, and faster.
func (e *Encoder) structuredRecord(ev *event, r *message.Request) Encoded {
	size := 2 + len(ev.data)*6/5 + 16
	for _, a := range ev.attrs {
		size += len(a.name) + len(a.value) + len(a.raw) + 6
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '{')
	for i, a := range ev.attrs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(appendString(buf, a.name), ':')
		if a.raw != nil {
			buf = append(buf, a.raw...)
		} else {
			buf = appendString(buf, a.value)
		}
	}
	switch data := ev.data; {
	case ev.dataJSON:
		// Already a data member: kept as it came, strings as strings.
		buf = appendWithoutSpace(append(buf, `,"data":`...), data) // valid: checked when read
	case len(data) == 0:
		// No data, no member.
	case jsonData(ev.get("datacontenttype")) && utf8.Valid(data) && json.Valid(data):
		buf = appendWithoutSpace(append(buf, `,"data":`...), data)
	case utf8.Valid(data):
		buf = appendText(append(buf, `,"data":`...), data)
	default:
		buf = append(buf, `,"data_base64":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, data)
		buf = append(buf, '"')
	}
	buf = append(buf, '}')

	hs := []message.RecordHeader{{Key: "content-type", Value: []byte(structuredContentType)}}
	return Encoded{Value: buf, Headers: e.forwardHeaders(hs, r.Headers, true, true), Key: ev.key()}
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
