package encoder

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// hdrs builds request headers from name, value pairs.
func hdrs(kv ...string) []message.Header {
	hs := make([]message.Header, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, message.Header{Name: kv[i], Value: kv[i+1]})
	}
	return hs
}

// rhs builds record headers from key, value pairs; none gives nil, what the
// encoder returns when it forwards nothing.
func rhs(kv ...string) []message.RecordHeader {
	var hs []message.RecordHeader
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, message.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

func showHeaders(hs []message.RecordHeader) string {
	if hs == nil {
		return "nil"
	}
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "\n\t%s: %q", h.Key, h.Value)
	}
	return b.String()
}

// checkHeaders compares whole header lists: keys, values, order, and nil
// for none.
func checkHeaders(t *testing.T, got, want []message.RecordHeader) {
	t.Helper()
	if showHeaders(got) != showHeaders(want) {
		t.Errorf("record headers\n got %s\nwant %s", showHeaders(got), showHeaders(want))
	}
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// headerRequest has pseudo-headers, a content type, a header repeated
// three times around others, and an empty one.
var headerRequest = hdrs(
	":method", "POST", ":path", "/orders?x=1", ":authority", "example.com", ":scheme", "https",
	"content-type", "text/plain",
	"x-a", "1",
	"accept", "a/b",
	"x-a", "2",
	"x-b", "b",
	"x-empty", "",
	"x-a", "3 , 4",
)

func TestRecordHeaders(t *testing.T) {
	allow := func(names ...string) config.Headers {
		return config.Headers{Enabled: true, Include: set(names...), Repeated: config.RepeatedConcatenate}
	}
	block := func(names ...string) config.Headers {
		return config.Headers{Enabled: true, AllByDefault: true, Exclude: set(names...), Repeated: config.RepeatedConcatenate}
	}
	with := func(h config.Headers, f func(*config.Headers)) config.Headers { f(&h); return h }

	tests := []struct {
		name   string
		h      config.Headers
		skipCT bool
		want   []message.RecordHeader
	}{
		{"disabled forwards nothing", config.Headers{AllByDefault: true, Include: set("x-a")}, false, nil},
		{"zero config forwards nothing", config.Headers{}, false, nil},
		{"allowlist, concatenate_by_comma", allow("x-a", "x-b"), false,
			rhs("x-a", "1,2,3 , 4", "x-b", "b")},
		{"repeated policy unset means concatenate", with(allow("x-a"), func(h *config.Headers) { h.Repeated = "" }), false,
			rhs("x-a", "1,2,3 , 4")},
		{"take_first", with(allow("x-a", "x-b"), func(h *config.Headers) { h.Repeated = config.RepeatedTakeFirst }), false,
			rhs("x-a", "1", "x-b", "b")},
		{"retain_duplicates keeps each value, together at the first one's place", with(allow("x-b", "x-a", "accept"), func(h *config.Headers) { h.Repeated = config.RepeatedRetain }), false,
			rhs("x-a", "1", "x-a", "2", "x-a", "3 , 4", "accept", "a/b", "x-b", "b")},
		{"allowlist order is the request's, not the config's", allow("x-b", "accept", "content-type"), false,
			rhs("content-type", "text/plain", "accept", "a/b", "x-b", "b")},
		{"allowlist with nothing present is nil", allow("x-missing"), false, nil},
		{"empty allowlist is nil", allow(), false, nil},
		{"empty value is forwarded empty", allow("x-empty"), false, rhs("x-empty", "")},
		{"allowlist never forwards pseudo-headers", allow(":path", ":method", ":authority", "x-b"), false,
			rhs("x-b", "b")},
		{"blocklist: everything but pseudo-headers", block(), false,
			rhs("content-type", "text/plain", "x-a", "1,2,3 , 4", "accept", "a/b", "x-b", "b", "x-empty", "")},
		{"blocklist excludes", block("x-a", "x-empty"), false,
			rhs("content-type", "text/plain", "accept", "a/b", "x-b", "b")},
		{"blocklist excluding everything is nil", block("content-type", "x-a", "accept", "x-b", "x-empty"), false, nil},
		{"blocklist with take_first", with(block("accept"), func(h *config.Headers) { h.Repeated = config.RepeatedTakeFirst }), false,
			rhs("content-type", "text/plain", "x-a", "1", "x-b", "b", "x-empty", "")},
		{"skipContentType in blocklist mode", block("x-a", "x-empty"), true,
			rhs("accept", "a/b", "x-b", "b")},
		{"skipContentType wins over the allowlist", allow("content-type", "x-b"), true,
			rhs("x-b", "b")},
		{"name_mappings rename, others keep their name", with(allow("x-a", "x-b", "accept"), func(h *config.Headers) {
			h.Rename = map[string]string{"x-a": "a", "x-b": "tenant", "x-unused": "u"}
			h.Repeated = config.RepeatedRetain
		}), false,
			rhs("a", "1", "a", "2", "a", "3 , 4", "accept", "a/b", "tenant", "b")},
		{"name_mappings in blocklist mode, concatenated", with(block("accept", "x-empty"), func(h *config.Headers) {
			h.Rename = map[string]string{"x-a": "A-Key", "content-type": "ct"}
		}), false,
			rhs("ct", "text/plain", "A-Key", "1,2,3 , 4", "x-b", "b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(config.Message{Format: config.FormatRaw}, tt.h)
			checkHeaders(t, e.recordHeaders(headerRequest, tt.skipCT), tt.want)
		})
	}
}

// The kong format forwards content-type like any other header.
func TestKongRecordHeaders(t *testing.T) {
	e := New(config.Message{Format: config.FormatKong, Forward: config.Forward{Method: true}},
		config.Headers{Enabled: true, AllByDefault: true, Exclude: set("accept"), Repeated: config.RepeatedTakeFirst})
	enc, err := e.Encode(&message.Request{Headers: headerRequest, Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if string(enc.Value) != `{"method":"POST"}` || enc.Key != nil {
		t.Errorf("value %s key %q", enc.Value, enc.Key)
	}
	checkHeaders(t, enc.Headers, rhs("content-type", "text/plain", "x-a", "1", "x-b", "b", "x-empty", ""))
}
