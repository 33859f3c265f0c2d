package encoder

import (
	"strings"
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// W3C Trace Context's own example values.
const (
	tpValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tsValid = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
)

var (
	traceOn  = config.Headers{TraceContext: true}
	traceOff = config.Headers{}
)

func TestValidTraceparent(t *testing.T) {
	const (
		trace  = "4bf92f3577b34da6a3ce929d0e0e4736"
		parent = "00f067aa0ba902b7"
	)
	tests := []struct {
		name string
		v    string
		want bool
	}{
		{"the spec's example", tpValid, true},
		{"not sampled", "00-" + trace + "-" + parent + "-00", true},
		{"unknown flags are kept", "00-" + trace + "-" + parent + "-ff", true},
		{"empty", "", false},
		{"upper-case trace-id", "00-" + strings.ToUpper(trace) + "-" + parent + "-01", false},
		{"upper-case parent-id", "00-" + trace + "-00F067AA0BA902B7-01", false},
		{"upper-case flags", "00-" + trace + "-" + parent + "-0A", false},
		{"upper-case version", "0A-" + trace + "-" + parent + "-01", false},
		{"non-hex trace-id", "00-4bf92f3577b34da6a3ce929d0e0e473g-" + parent + "-01", false},
		{"non-hex version", "0x-" + trace + "-" + parent + "-01", false},
		{"trace-id all zeros", "00-00000000000000000000000000000000-" + parent + "-01", false},
		{"parent-id all zeros", "00-" + trace + "-0000000000000000-01", false},
		{"trace-id one char short", "00-" + trace[1:] + "-" + parent + "-01", false},
		{"parent-id one char short", "00-" + trace + "-" + parent[1:] + "-01", false},
		{"trace-id one char long", "00-" + trace + "0-" + parent + "-01", false},
		{"flags one char", "00-" + trace + "-" + parent + "-1", false},
		{"version 00, 56 chars", tpValid + "0", false},
		{"version 00 with a suffix", tpValid + "-abc", false},
		{"version 00 with a trailing space", tpValid + " ", false},
		{"version 00 with a leading space", " " + tpValid, false},
		{"underscores for dashes", "00_" + trace + "_" + parent + "_01", false},
		{"version ff", "ff-" + trace + "-" + parent + "-01", false},
		{"version ff with a suffix", "ff-" + trace + "-" + parent + "-01-abc", false},
		{"version 01, 55 chars", "01-" + trace + "-" + parent + "-01", true},
		{"version 01 with a suffix", "01-" + trace + "-" + parent + "-01-what-the-future-holds", true},
		{"version cc with an empty suffix", "cc-" + trace + "-" + parent + "-01-", true},
		{"version 01, suffix without its dash", "01-" + trace + "-" + parent + "-01x", false},
		{"version 01, upper-case trace-id", "01-" + strings.ToUpper(trace) + "-" + parent + "-01-x", false},
		{"version 01, zero parent-id", "01-" + trace + "-0000000000000000-01-x", false},
		{"version 01, shorter than 55", "01-" + trace + "-" + parent + "-1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validTraceparent(tt.v); got != tt.want {
				t.Errorf("validTraceparent(%q) = %v, want %v", tt.v, got, tt.want)
			}
		})
	}
}

// rawRecord is what a raw-format request with these headers carries, the
// content-type header first (the format's own).
func rawRecord(t *testing.T, h config.Headers, kv ...string) []message.RecordHeader {
	t.Helper()
	e := New(config.Message{Format: config.FormatRaw}, h)
	r := &message.Request{Headers: hdrs(append([]string{":method", "POST", ":path", "/", "content-type", "text/plain"}, kv...)...)}
	enc, err := e.Encode(r)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return enc.Headers
}

func TestTraceContext(t *testing.T) {
	ct := []string{"content-type", "text/plain"}
	with := func(kv ...string) []message.RecordHeader { return rhs(append(ct, kv...)...) }
	const tpBad = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
	tests := []struct {
		name string
		req  []string
		want []message.RecordHeader
	}{
		{"none", []string{"x-a", "1"}, with()},
		{"all three, in that order whatever the request's",
			[]string{"baggage", "k=v", "x-a", "1", "tracestate", tsValid, "traceparent", tpValid},
			with("traceparent", tpValid, "tracestate", tsValid, "baggage", "k=v")},
		{"traceparent alone", []string{"traceparent", tpValid}, with("traceparent", tpValid)},
		{"a higher version is kept as sent", []string{"traceparent", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "tracestate", "a=1"},
			with("traceparent", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "tracestate", "a=1")},
		{"an invalid traceparent drops tracestate, not baggage",
			[]string{"traceparent", tpBad, "tracestate", tsValid, "baggage", "k=v"}, with("baggage", "k=v")},
		{"a repeated traceparent drops both, even when the values agree",
			[]string{"traceparent", tpValid, "tracestate", tsValid, "traceparent", tpValid, "baggage", "k=v"}, with("baggage", "k=v")},
		{"a repeated traceparent, one of them empty",
			[]string{"traceparent", tpValid, "traceparent", "", "tracestate", tsValid}, with()},
		{"tracestate without traceparent", []string{"tracestate", tsValid}, with()},
		{"baggage without traceparent", []string{"baggage", "k=v"}, with("baggage", "k=v")},
		{"repeated tracestate and baggage are joined with commas",
			[]string{"tracestate", "a=1", "traceparent", tpValid, "baggage", "k=v", "x-a", "1", "tracestate", "b=2,c=3", "baggage", "l=w;p"},
			with("traceparent", tpValid, "tracestate", "a=1,b=2,c=3", "baggage", "k=v,l=w;p")},
		{"empty values are left out",
			[]string{"traceparent", tpValid, "tracestate", "", "tracestate", "a=1", "baggage", "", "baggage", "", "baggage", "k=v", "tracestate", ""},
			with("traceparent", tpValid, "tracestate", "a=1", "baggage", "k=v")},
		{"only empty values: no header",
			[]string{"traceparent", tpValid, "tracestate", "", "baggage", ""}, with("traceparent", tpValid)},
		{"an empty traceparent is invalid", []string{"traceparent", "", "tracestate", "a=1"}, with()},
		{"names are matched as adapters hand them over (lower-case)",
			[]string{"x-traceparent", tpValid, "ce-traceparent", tpValid, "traceparent-x", tpValid}, with()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkHeaders(t, rawRecord(t, traceOn, tt.req...), tt.want)
		})
		t.Run(tt.name+"/off", func(t *testing.T) {
			checkHeaders(t, rawRecord(t, traceOff, tt.req...), with())
		})
	}
}

// The headers rules and the trace context together: each key once, the
// trace context's value at the place the rules gave it.
func TestTraceContextWithForwardedHeaders(t *testing.T) {
	block := func(f func(*config.Headers)) config.Headers {
		h := config.Headers{Enabled: true, AllByDefault: true, Exclude: set(), Repeated: config.RepeatedConcatenate, TraceContext: true}
		if f != nil {
			f(&h)
		}
		return h
	}
	req := []string{"x-a", "1", "tracestate", "a=1", "traceparent", tpValid, "baggage", "k=v", "tracestate", "b=2", "x-b", "2"}
	tests := []struct {
		name string
		h    config.Headers
		req  []string
		want []message.RecordHeader
	}{
		{"blocklist: at the forwarded places", block(nil), req,
			rhs("content-type", "text/plain", "x-a", "1", "tracestate", "a=1,b=2", "traceparent", tpValid, "baggage", "k=v", "x-b", "2")},
		{"blocklist, retain_duplicates: one tracestate, at the first one's place",
			block(func(h *config.Headers) { h.Repeated = config.RepeatedRetain }), req,
			rhs("content-type", "text/plain", "x-a", "1", "tracestate", "a=1,b=2", "traceparent", tpValid, "baggage", "k=v", "x-b", "2")},
		{"blocklist, take_first: the trace context still joins",
			block(func(h *config.Headers) { h.Repeated = config.RepeatedTakeFirst }), req,
			rhs("content-type", "text/plain", "x-a", "1", "tracestate", "a=1,b=2", "traceparent", tpValid, "baggage", "k=v", "x-b", "2")},
		{"blocklist excluding them: appended",
			block(func(h *config.Headers) { h.Exclude = set("traceparent", "tracestate", "baggage") }), req,
			rhs("content-type", "text/plain", "x-a", "1", "x-b", "2", "traceparent", tpValid, "tracestate", "a=1,b=2", "baggage", "k=v")},
		{"allowlist of others: appended",
			config.Headers{Enabled: true, Include: set("x-b"), Repeated: config.RepeatedConcatenate, TraceContext: true}, req,
			rhs("content-type", "text/plain", "x-b", "2", "traceparent", tpValid, "tracestate", "a=1,b=2", "baggage", "k=v")},
		{"a header renamed to traceparent is replaced",
			config.Headers{Enabled: true, Include: set("x-b"), Rename: map[string]string{"x-b": "traceparent"}, Repeated: config.RepeatedConcatenate, TraceContext: true}, req,
			rhs("content-type", "text/plain", "traceparent", tpValid, "tracestate", "a=1,b=2", "baggage", "k=v")},
		{"traceparent renamed by the rules: both keys",
			block(func(h *config.Headers) { h.Rename = map[string]string{"traceparent": "tp"} }), req,
			rhs("content-type", "text/plain", "x-a", "1", "tracestate", "a=1,b=2", "tp", tpValid, "baggage", "k=v", "x-b", "2", "traceparent", tpValid)},
		{"an invalid traceparent the rules forward stays as they forward it",
			block(nil), []string{"traceparent", "bad", "tracestate", "a=1", "baggage", "k=v"},
			rhs("content-type", "text/plain", "traceparent", "bad", "tracestate", "a=1", "baggage", "k=v")},
		{"off: the rules alone",
			block(func(h *config.Headers) { h.Repeated, h.TraceContext = config.RepeatedRetain, false }), req,
			rhs("content-type", "text/plain", "x-a", "1", "tracestate", "a=1", "tracestate", "b=2", "traceparent", tpValid, "baggage", "k=v", "x-b", "2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkHeaders(t, rawRecord(t, tt.h, tt.req...), tt.want)
		})
	}
}

// Every format carries it, after the format's own headers.
func TestTraceContextInEveryFormat(t *testing.T) {
	trace := []string{"traceparent", tpValid, "tracestate", tsValid, "baggage", "k=v"}
	tail := []string{"traceparent", tpValid, "tracestate", tsValid, "baggage", "k=v"}
	tests := []struct {
		name string
		msg  config.Message
		req  *message.Request
		want []message.RecordHeader
	}{
		{"kong", config.Message{Format: config.FormatKong, Forward: config.Forward{Body: true}},
			ceRequest(`{"a":1}`, append([]string{"content-type", "application/json"}, trace...)...), rhs(tail...)},
		{"raw", config.Message{Format: config.FormatRaw},
			ceRequest("x", append([]string{"content-type", "text/plain"}, trace...)...), rhs(append([]string{"content-type", "text/plain"}, tail...)...)},
		{"cloudevents binary", config.Message{Format: config.FormatCloudEvents},
			ceRequest("x", ceHeaders(append([]string{"content-type", "text/plain"}, trace...)...)...),
			ceRecord(append([]string{"content-type", "text/plain"}, tail...)...)},
		{"cloudevents structured from binary", config.Message{Format: config.FormatCloudEvents, CloudEvents: structuredMode},
			ceRequest("x", ceHeaders(append([]string{"content-type", "text/plain"}, trace...)...)...),
			rhs(append([]string{"content-type", ceStructCT}, tail...)...)},
		{"cloudevents structured from structured", config.Message{Format: config.FormatCloudEvents, CloudEvents: structuredMode},
			ceRequest(`{`+sRequired+`}`, append([]string{"content-type", structured}, trace...)...),
			rhs(append([]string{"content-type", ceStructCT}, tail...)...)},
		{"cloudevents binary from structured", config.Message{Format: config.FormatCloudEvents},
			ceRequest(`{`+sRequired+`}`, append([]string{"content-type", structured}, trace...)...),
			sRecord(tail...)},
		{"cloudevents: a ce-traceparent extension is an attribute, not the trace context",
			config.Message{Format: config.FormatCloudEvents},
			ceRequest("", ceHeaders("ce-traceparent", tpValid)...), ceRecord("ce_traceparent", tpValid)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := New(tt.msg, traceOn).Encode(tt.req)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			checkHeaders(t, enc.Headers, tt.want)
		})
	}
}

// A refused request gets no headers, trace context or not.
func TestTraceContextNotOnErrors(t *testing.T) {
	e := New(config.Message{Format: config.FormatCloudEvents}, traceOn)
	enc, err := e.Encode(ceRequest("", "traceparent", tpValid, "baggage", "k=v"))
	if err == nil || enc.Headers != nil {
		t.Errorf("Encode = %v headers, %v; want none and an error", showHeaders(enc.Headers), err)
	}
}

// The values share one buffer; appending to one must not reach the next.
func TestTraceContextValuesDoNotOverlap(t *testing.T) {
	got := rawRecord(t, traceOn, "traceparent", tpValid, "tracestate", "a=1", "baggage", "k=v")
	for _, h := range got[1:] {
		if cap(h.Value) != len(h.Value) {
			t.Errorf("%s: cap %d, len %d", h.Key, cap(h.Value), len(h.Value))
		}
	}
	got[1].Value = append(got[1].Value, 'X')
	checkHeaders(t, got[2:], rhs("tracestate", "a=1", "baggage", "k=v"))
}

// No trace header, no allocation: what the common request pays.
func TestTraceContextAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector; make unit runs this test without it too")
	}
	e := New(config.Message{Format: config.FormatRaw}, traceOn)
	hs := hdrs(":method", "POST", "content-type", "text/plain", "x-a", "1", "x-b", "2", "accept", "*/*")
	out := rhs("content-type", "text/plain")
	if n := testing.AllocsPerRun(100, func() { e.withTraceContext(out, hs) }); n != 0 {
		t.Errorf("without trace headers: %v allocations, want 0", n)
	}
	hs = append(hs, hdrs("traceparent", tpValid, "tracestate", "a=1", "baggage", "k=v")...)
	if n := testing.AllocsPerRun(100, func() { e.withTraceContext(out[:1:1], hs) }); n != 2 {
		t.Errorf("with all three: %v allocations, want 2 (values, headers)", n)
	}
}
