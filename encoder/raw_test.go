package encoder

import (
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

func TestRaw(t *testing.T) {
	blocklist := config.Headers{Enabled: true, AllByDefault: true, Exclude: set("x-secret"), Repeated: config.RepeatedConcatenate}
	pseudo := []string{":method", "POST", ":path", "/in", ":authority", "example.com"}
	tests := []struct {
		name      string
		h         config.Headers
		headers   []message.Header
		body      []byte
		wantValue string
		want      []message.RecordHeader
	}{
		{"content-type exactly as sent, first, not repeated",
			blocklist, hdrs(append(pseudo, "x-b", "1", "content-type", "Text/Plain; Charset=UTF-8", "x-secret", "s", "x-b", "2")...),
			[]byte("héllo <b>"), "héllo <b>",
			rhs("content-type", "Text/Plain; Charset=UTF-8", "x-b", "1,2")},
		{"no content-type, no forwarding: no headers",
			config.Headers{}, hdrs(append(pseudo, "x-b", "1")...),
			[]byte("hi"), "hi", nil},
		{"no content-type, forwarded headers only",
			blocklist, hdrs(append(pseudo, "x-b", "1")...),
			[]byte("hi"), "hi", rhs("x-b", "1")},
		{"content-type without forwarding",
			config.Headers{}, hdrs(append(pseudo, "content-type", "application/json")...),
			[]byte(`{"a": 1}`), `{"a": 1}`, rhs("content-type", "application/json")},
		{"content-type in the allowlist is still sent once",
			config.Headers{Enabled: true, Include: set("content-type", "x-b")}, hdrs(append(pseudo, "content-type", "text/csv", "x-b", "1")...),
			[]byte("a,b"), "a,b", rhs("content-type", "text/csv", "x-b", "1")},
		{"binary body with NUL bytes, byte for byte",
			config.Headers{}, hdrs(append(pseudo, "content-type", "application/octet-stream")...),
			[]byte("\x00\x01\xff\x00 \xfe"), "\x00\x01\xff\x00 \xfe", rhs("content-type", "application/octet-stream")},
		{"invalid JSON is not parsed",
			config.Headers{}, hdrs(append(pseudo, "content-type", "application/json")...),
			[]byte("{"), "{", rhs("content-type", "application/json")},
		{"nil body is an empty value",
			config.Headers{}, hdrs(pseudo...), nil, "", nil},
		{"empty body is an empty value",
			config.Headers{}, hdrs(append(pseudo, "content-type", "text/plain")...),
			[]byte{}, "", rhs("content-type", "text/plain")},
		{"empty content-type is sent as it is",
			config.Headers{}, hdrs(append(pseudo, "content-type", "")...),
			[]byte("x"), "x", rhs("content-type", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(config.Message{Format: config.FormatRaw}, tt.h)
			enc := encodeValue(t, e, &message.Request{Headers: tt.headers, Body: tt.body}, tt.wantValue)
			if enc.Key != nil {
				t.Errorf("key %q, want none", enc.Key)
			}
			checkHeaders(t, enc.Headers, tt.want)
		})
	}
}
