package encoder

import (
	"slices"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// The trace-context headers, as W3C Trace Context (traceparent, tracestate)
// and W3C Baggage name them; OpenTelemetry's messaging semantic conventions
// carry them in a message's headers under the same names.
const (
	traceparentKey = "traceparent"
	tracestateKey  = "tracestate"
	baggageKey     = "baggage"
)

// withTraceContext adds the request's W3C trace context to the record
// headers out (propagate_trace_context, on by default) and returns it. It
// applies to every format, whatever the headers section forwards:
//
//   - traceparent is copied only when the request sends exactly one and it
//     is valid (validTraceparent); the value is kept as sent;
//   - tracestate only with such a traceparent: W3C Trace Context says a
//     receiver that cannot parse traceparent must not use tracestate, so
//     an invalid, repeated or missing traceparent drops both;
//   - baggage does not depend on traceparent;
//   - tracestate and baggage sent several times become one header, the
//     values joined with "," in request order (both are comma-separated
//     lists, so this is the same list); empty values are left out, and a
//     header with only empty values is not added;
//   - each key appears once: a record header of that key already in out
//     (forwarded by the headers rules, e.g. in blocklist mode, or renamed
//     to it) takes this value at its place, and its repeats are dropped;
//     otherwise the header is appended, in the order traceparent,
//     tracestate, baggage. A header this function does not add is left as
//     the headers rules made it.
//
// out must be this request's own slice (it is changed in place). A request
// without any of the three headers costs one scan of its header names and
// no allocation; one with them, two allocations (the values share one
// buffer, each capped to its own length).
func (e *Encoder) withTraceContext(out []message.RecordHeader, hs []message.Header) []message.RecordHeader {
	if !e.headers.TraceContext {
		return out
	}
	var (
		parent            string
		parents           int
		state, bagg       int // non-empty values seen
		stateLen, baggLen int
	)
	for i := range hs {
		h := &hs[i]
		switch h.Name {
		case traceparentKey:
			parent = h.Value
			parents++
		case tracestateKey:
			if h.Value != "" {
				state++
				stateLen += len(h.Value) + 1
			}
		case baggageKey:
			if h.Value != "" {
				bagg++
				baggLen += len(h.Value) + 1
			}
		}
	}
	withParent := parents == 1 && validTraceparent(parent)
	if !withParent {
		parent, state, stateLen = "", 0, 0
	}
	if !withParent && bagg == 0 {
		return out
	}
	// One allocation for the values, one at most for the headers.
	buf := make([]byte, 0, len(parent)+stateLen+baggLen)
	out = slices.Grow(out, 3)
	if withParent {
		buf = append(buf, parent...)
		out = putRecordHeader(out, traceparentKey, buf[:len(buf):len(buf)])
	}
	if state > 0 {
		start := len(buf)
		buf = appendJoined(buf, hs, tracestateKey)
		out = putRecordHeader(out, tracestateKey, buf[start:len(buf):len(buf)])
	}
	if bagg > 0 {
		start := len(buf)
		buf = appendJoined(buf, hs, baggageKey)
		out = putRecordHeader(out, baggageKey, buf[start:len(buf):len(buf)])
	}
	return out
}

// appendJoined appends the non-empty values of the header name in hs to
// buf, joined with "," (no space, as Envoy joins repeats).
func appendJoined(buf []byte, hs []message.Header, name string) []byte {
	first := true
	for _, h := range hs {
		if h.Name == name && h.Value != "" {
			if !first {
				buf = append(buf, ',')
			}
			buf = append(buf, h.Value...)
			first = false
		}
	}
	return buf
}

// putRecordHeader sets the record header key in out to value: the first
// header of that key takes it at its place and later ones are removed, or,
// without one, it is appended.
func putRecordHeader(out []message.RecordHeader, key string, value []byte) []message.RecordHeader {
	at := -1
	for i := range out {
		if out[i].Key == key {
			at = i
			break
		}
	}
	if at < 0 {
		return append(out, message.RecordHeader{Key: key, Value: value})
	}
	out[at].Value = value
	kept := out[:at+1]
	for _, h := range out[at+1:] {
		if h.Key != key {
			kept = append(kept, h)
		}
	}
	clear(out[len(kept):]) // no stale references past the new length
	return kept
}

// validTraceparent reports whether v is a traceparent header that W3C
// Trace Context level 1 lets a receiver use (§3.2 and its versioning
// rules):
//
//	version "-" trace-id "-" parent-id "-" trace-flags
//	2 hex   "-" 32 hex   "-" 16 hex    "-" 2 hex
//
// Hex digits are lower-case only (0-9, a-f). Version ff is invalid; version
// 00 is exactly 55 characters; a higher version is at least 55, its first
// 55 parsed as version 00's and followed by "-" when longer (the fields a
// later version may add). The trace-id and parent-id must not be all zeros.
// The trace-flags are not interpreted (an unsampled trace is propagated as
// well: the consumer decides).
func validTraceparent(v string) bool {
	const size = 55 // 2 + 1 + 32 + 1 + 16 + 1 + 2
	if len(v) < size || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return false
	}
	switch version := v[:2]; {
	case !lowerHex(version), version == "ff":
		return false
	case version == "00" && len(v) != size,
		len(v) > size && v[size] != '-':
		return false
	}
	traceID, parentID := v[3:35], v[36:52]
	return lowerHex(traceID) && lowerHex(parentID) && lowerHex(v[53:55]) &&
		!allZeros(traceID) && !allZeros(parentID)
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZeros(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}
