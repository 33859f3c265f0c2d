package encoder

// Header smuggling: a request must not get into its record's headers what
// the headers rules leave out. The encoders here are built as the
// pipeline builds them, from a config resolved by config.Resolve, so that
// mixed-case names in the config count as an operator writes them. Request
// header names arrive lower-cased (the adapters' contract, message.Header),
// so the request side of each case is lower-case.

import (
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// encoderFrom is the encoder of a config of the given fields (JSON members
// after bootstrap_servers and topic).
func encoderFrom(t *testing.T, fields string) *Encoder {
	t.Helper()
	cfg, err := config.FromJSON([]byte(`{"bootstrap_servers":["k:9092"],"topic":"t"` + fields + `}`))
	if err != nil {
		t.Fatalf("FromJSON: %v", err)
	}
	s, err := config.Resolve(cfg)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return New(s.Message, s.Headers)
}

// refusedConfig checks that a config of the given fields is refused with
// exactly want.
func refusedConfig(t *testing.T, fields, want string) {
	t.Helper()
	cfg, err := config.FromJSON([]byte(`{"bootstrap_servers":["k:9092"],"topic":"t"` + fields + `}`))
	if err == nil {
		_, err = config.Resolve(cfg)
	}
	if err == nil || err.Error() != want {
		t.Errorf("config %s: error %v\nwant %s", fields, err, want)
	}
}

func recordHeadersOf(t *testing.T, e *Encoder, hs []message.Header) []message.RecordHeader {
	t.Helper()
	enc, err := e.Encode(&message.Request{Headers: hs, Body: []byte("x")})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return enc.Headers
}

// smuggler sends the excluded headers repeated, around allowed ones, with
// every pseudo-header, and a value that looks like more headers.
var smuggler = hdrs(
	":method", "POST", ":path", "/p?x-secret=1", ":authority", "example.com", ":scheme", "https",
	"x-secret", "s1",
	"x-tenant", "a",
	"authorization", "Bearer t",
	"x-secret", "s2",
	"x-tenant", "b",
	"cookie", "c=1",
	"x-ok", "1\r\nx-secret: s3",
	"x-tenant", "c,x-secret=s4",
	"authorization", "Basic u",
	":authority", "late.example.com",
)

var policies = []string{"concatenate_by_comma", "take_first", "retain_duplicates"}

func TestSmugglingExcludedHeadersInEveryCase(t *testing.T) {
	// Blocklist mode with the excluded names in mixed case, as an operator
	// may write them: the config lower-cases them, so they match the
	// lower-case request names, repeated or not, whatever the policy.
	want := map[string][]message.RecordHeader{
		"concatenate_by_comma": rhs("x-tenant", "a,b,c,x-secret=s4", "x-ok", "1\r\nx-secret: s3"),
		"take_first":           rhs("x-tenant", "a", "x-ok", "1\r\nx-secret: s3"),
		"retain_duplicates":    rhs("x-tenant", "a", "x-tenant", "b", "x-tenant", "c,x-secret=s4", "x-ok", "1\r\nx-secret: s3"),
	}
	for _, exclude := range []string{
		`"X-Secret", "AUTHORIZATION", "CoOkIe"`,
		`"x-secret", "authorization", "cookie"`,
		`"X-SECRET", "x-secret", "Authorization", "Cookie"`, // the same name twice
	} {
		for _, policy := range policies {
			for _, format := range []string{"kong", "raw"} {
				t.Run(format+" "+policy+" "+exclude, func(t *testing.T) {
					e := encoderFrom(t, `,"format":"`+format+`","headers":{"forward_http_headers_as_record_headers":true,
						"forward_all_by_default":true,"exclude_headers":[`+exclude+`],"repeated_headers_behavior":"`+policy+`"}`)
					checkHeaders(t, recordHeadersOf(t, e, smuggler), want[policy])
				})
			}
		}
	}
}

func TestSmugglingAllowlistMixedCase(t *testing.T) {
	// Allowlist mode with mixed-case include_headers and name_mappings: only
	// the included headers, under the mapped key as written in the config.
	want := map[string][]message.RecordHeader{
		"concatenate_by_comma": rhs("Tenant-Key", "a,b,c,x-secret=s4", "x-ok", "1\r\nx-secret: s3"),
		"take_first":           rhs("Tenant-Key", "a", "x-ok", "1\r\nx-secret: s3"),
		"retain_duplicates":    rhs("Tenant-Key", "a", "Tenant-Key", "b", "Tenant-Key", "c,x-secret=s4", "x-ok", "1\r\nx-secret: s3"),
	}
	for _, policy := range policies {
		t.Run(policy, func(t *testing.T) {
			e := encoderFrom(t, `,"headers":{"forward_http_headers_as_record_headers":true,
				"include_headers":["X-Tenant","X-OK"],"name_mappings":{"X-TENANT":"Tenant-Key"},"repeated_headers_behavior":"`+policy+`"}`)
			checkHeaders(t, recordHeadersOf(t, e, smuggler), want[policy])
		})
	}
}

func TestSmugglingPseudoHeaders(t *testing.T) {
	// Blocklist mode excluding nothing forwards every header but the
	// pseudo-headers, wherever they sit in the request and however often.
	hs := hdrs(
		":method", "POST", "x-a", "1", ":path", "/p", ":authority", "example.com", ":scheme", "https",
		":protocol", "websocket", "host", "h", ":path", "/second", ":status", "200", ":", "bare colon",
	)
	want := rhs("x-a", "1", "host", "h")
	for _, policy := range policies {
		for _, format := range []string{"kong", "raw"} {
			t.Run(format+" "+policy, func(t *testing.T) {
				e := encoderFrom(t, `,"format":"`+format+`","headers":{"forward_http_headers_as_record_headers":true,
					"forward_all_by_default":true,"repeated_headers_behavior":"`+policy+`"}`)
				checkHeaders(t, recordHeadersOf(t, e, hs), want)
			})
		}
	}
	// Nor can a config name a pseudo-header to forward, rename or exclude.
	refusedConfig(t, `,"headers":{"forward_http_headers_as_record_headers":true,"include_headers":["x-a",":path"]}`,
		`headers.include_headers[1]: ":path" is a pseudo-header; name a regular header`)
	refusedConfig(t, `,"headers":{"forward_http_headers_as_record_headers":true,"include_headers":["x-a"],"name_mappings":{":authority":"host"}}`,
		`headers.name_mappings: ":authority" is a pseudo-header; name a regular header`)
	refusedConfig(t, `,"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true,"exclude_headers":[":Authority"]}`,
		`headers.exclude_headers[0]: ":Authority" is a pseudo-header; name a regular header`)
}

func TestSmugglingTrailingWhitespace(t *testing.T) {
	// Names with white space are no HTTP field names (Envoy refuses such a
	// request before the filter), so they cannot be configured; should one
	// reach the encoder, it is compared and written byte for byte: never
	// trimmed into the excluded name, never taken for an allowed one.
	hs := hdrs(
		":path", "/p",
		"x-secret ", "trailing space",
		"x-secret\t", "trailing tab",
		"x-secret", "the real one",
		"authorization ", "Bearer t",
		"x-tenant ", "spaced",
		"x-tenant", "acme",
	)
	block := encoderFrom(t, `,"headers":{"forward_http_headers_as_record_headers":true,
		"forward_all_by_default":true,"exclude_headers":["x-secret","authorization"],"name_mappings":{"x-tenant":"tenant"}}`)
	checkHeaders(t, recordHeadersOf(t, block, hs),
		rhs("x-secret ", "trailing space", "x-secret\t", "trailing tab", "authorization ", "Bearer t", "x-tenant ", "spaced", "tenant", "acme"))

	allow := encoderFrom(t, `,"headers":{"forward_http_headers_as_record_headers":true,
		"include_headers":["x-tenant"],"name_mappings":{"x-tenant":"tenant"}}`)
	checkHeaders(t, recordHeadersOf(t, allow, hs), rhs("tenant", "acme"))

	for _, list := range []string{"include_headers", "exclude_headers"} {
		mode := `"forward_all_by_default":` + map[string]string{"include_headers": "false", "exclude_headers": "true"}[list]
		refusedConfig(t, `,"headers":{"forward_http_headers_as_record_headers":true,`+mode+`,"`+list+`":["x-ok","x-secret "]}`,
			`headers.`+list+`[1]: "x-secret " is not a valid HTTP header name`)
		refusedConfig(t, `,"headers":{"forward_http_headers_as_record_headers":true,`+mode+`,"`+list+`":["x-ok"," x-secret"]}`,
			`headers.`+list+`[1]: " x-secret" is not a valid HTTP header name`)
	}
}

func TestSmugglingRepeatedContentType(t *testing.T) {
	// raw (and cloudevents) set content-type themselves from the first
	// one sent; a repeat never adds a second content-type record header,
	// whatever the policy. kong forwards it like any other header.
	hs := hdrs(":path", "/p", "content-type", "image/png", "x-a", "1", "content-type", "text/html")
	for _, policy := range policies {
		t.Run(policy, func(t *testing.T) {
			raw := encoderFrom(t, `,"format":"raw","headers":{"forward_http_headers_as_record_headers":true,
				"forward_all_by_default":true,"repeated_headers_behavior":"`+policy+`"}`)
			checkHeaders(t, recordHeadersOf(t, raw, hs), rhs("content-type", "image/png", "x-a", "1"))
		})
	}
	kong := encoderFrom(t, `,"headers":{"forward_http_headers_as_record_headers":true,
		"forward_all_by_default":true,"repeated_headers_behavior":"retain_duplicates"}`)
	checkHeaders(t, recordHeadersOf(t, kong, hs), rhs("content-type", "image/png", "content-type", "text/html", "x-a", "1"))
}

func TestSmugglingCloudEventAttributes(t *testing.T) {
	// A binary-mode CloudEvent's attributes are its ce-* headers, checked
	// (specversion 1.0, one of each, names of letters and digits). A
	// request header spelt like the record header of an attribute (ce_id,
	// ce_specversion; HTTP allows "_" in names and Envoy passes them on by
	// default) must not stand beside the checked one as a second value: a
	// consumer reading the last header of a key would take it. Nor may a
	// ce-* header be forwarded as itself.
	hs := hdrs(
		":method", "POST", ":path", "/ce",
		"ce-specversion", "1.0", "ce-id", "A-1", "ce-source", "/shop", "ce-type", "order.created",
		"content-type", "application/json",
		"ce_specversion", "2.0",
		"ce_id", "forged",
		"ce_time", "not a time",
		"x-ok", "1",
		"ce_partitionkey", "other-key",
	)
	for _, policy := range policies {
		t.Run("binary "+policy, func(t *testing.T) {
			e := encoderFrom(t, `,"format":"cloudevents","headers":{"forward_http_headers_as_record_headers":true,
				"forward_all_by_default":true,"repeated_headers_behavior":"`+policy+`"}`)
			enc, err := e.Encode(&message.Request{Headers: hs, Body: []byte(`{"a":1}`)})
			if err != nil {
				t.Fatal(err)
			}
			checkHeaders(t, enc.Headers, rhs("ce_specversion", "1.0", "ce_id", "A-1", "ce_source", "/shop",
				"ce_type", "order.created", "content-type", "application/json", "x-ok", "1"))
			if enc.Key != nil {
				t.Errorf("key %q from a ce_partitionkey header; only the ce-partitionkey attribute is a key", enc.Key)
			}
		})
		t.Run("structured "+policy, func(t *testing.T) {
			e := encoderFrom(t, `,"format":"cloudevents","cloudevents":{"mode":"structured"},"headers":{"forward_http_headers_as_record_headers":true,
				"forward_all_by_default":true,"repeated_headers_behavior":"`+policy+`"}`)
			enc, err := e.Encode(&message.Request{Headers: hs, Body: []byte(`{"a":1}`)})
			if err != nil {
				t.Fatal(err)
			}
			checkHeaders(t, enc.Headers, rhs("content-type", structuredContentType, "x-ok", "1"))
		})
	}
	// In allowlist mode only what is included, and never a ce-* header.
	e := encoderFrom(t, `,"format":"cloudevents","headers":{"forward_http_headers_as_record_headers":true,
		"include_headers":["x-ok","ce-id","content-type"]}`)
	enc, err := e.Encode(&message.Request{Headers: hs, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	checkHeaders(t, enc.Headers, rhs("ce_specversion", "1.0", "ce_id", "A-1", "ce_source", "/shop",
		"ce_type", "order.created", "content-type", "application/json", "x-ok", "1"))
}

func TestSmugglingTraceContextIsNotAForwardedHeader(t *testing.T) {
	// The trace context is copied whatever headers.* says (documented):
	// excluding traceparent does not drop it, propagate_trace_context:
	// false does; and a request's repeated, invalid traceparent is not
	// copied (in blocklist mode it is forwarded as any header, joined).
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	hs := hdrs(":path", "/p", "traceparent", tp, "tracestate", "a=1", "x-ok", "1")
	headers := `"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true,"exclude_headers":["TraceParent","tracestate"]}`
	checkHeaders(t, recordHeadersOf(t, encoderFrom(t, ","+headers), hs),
		rhs("x-ok", "1", "traceparent", tp, "tracestate", "a=1"))
	checkHeaders(t, recordHeadersOf(t, encoderFrom(t, ","+headers+`,"propagate_trace_context":false`), hs),
		rhs("x-ok", "1"))

	twice := hdrs(":path", "/p", "traceparent", tp, "x-ok", "1", "traceparent", tp, "tracestate", "a=1")
	checkHeaders(t, recordHeadersOf(t, encoderFrom(t, ","+headers), twice), rhs("x-ok", "1"))
	checkHeaders(t, recordHeadersOf(t, encoderFrom(t, ""), twice), nil)
}
