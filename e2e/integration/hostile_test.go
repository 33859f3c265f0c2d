//go:build integration

package integration_test

// The hostile-input corpus of issue 13 through the golang filter (SDK
// fakes for Envoy) against the real broker. Each request gets its exact
// documented reply (status, whole JSON body, details); a refused one
// publishes nothing on any of the test's topics, and one the product
// accepts on purpose (duplicate JSON keys, 10 000 query args, …; each says
// why) publishes exactly the documented record, read back whole.
//
// It is the corpus of e2e/envoy/hostile_test.go (the real Envoy, both of
// its adapters) minus what needs Envoy's own framing: raw TCP, Envoy's 431
// (header limits) and 413 (body limit), which no fake can answer. Headers
// are given as Envoy hands them to the filter (lower-case, :authority,
// x-forwarded-proto and x-request-id added, a repeated content-type joined
// with a comma). Keep the two tables in step.

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
)

// The test's topics (one partition each, 5 MiB max.message.bytes):
// fixed names, so the cases can spell them; each case compares end offsets
// before and after, so records of earlier runs do not matter.
const (
	hostileEvents = "it-hostile-events" // the default config's topic
	hostileOrders = "it-hostile-orders" // allowed through ?topics=
	hostileSecret = "it-hostile-secret" // exists, not in allowed_topics
	hostileCE     = "it-hostile-cloudevents"
	// hostileRequestID is the x-request-id Envoy would have added.
	hostileRequestID = "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
	// hostileBatchBytes is the small config's batching.bytes (the
	// default); hostileOverhead a small record's size beyond its text
	// body: {"body":"…","body_args":{}} (26 bytes) and kafka-go's count of
	// a record without key or headers (22 + 1).
	hostileBatchBytes = 1 << 20
	hostileOverhead   = 26 + 23
	// envoyBodyLimit is the suite's Envoy body limit (e2e: 413 above it).
	envoyBodyLimit = 1 << 20
)

var hostileTopics = []string{hostileEvents, hostileOrders, hostileSecret, hostileCE}

type hostileCase struct {
	name        string
	config      string // "" (default), "small" or "cloudevents"
	method      string // "" is POST
	path        string // "" is /hostile/<name>
	contentType string
	body        []byte   // nil: bodyless
	headers     []string // more request headers, as Envoy hands them over
	status      int
	reply       string // the whole reply body of a refused request
	details     string
	sent        *hostileRecord
}

// hostileRecord is what an accepted request publishes.
type hostileRecord struct {
	topic string // "" is hostileEvents
	// body is the envelope's body fields, exactly.
	body string
	// small: the small config (forward_body only, no record headers): the
	// value is {body}.
	small bool
}

func hostileText(body, args string) string {
	return `"body":` + kafkatest.JSONText(body) + `,"body_args":` + args
}

func hostileBase64(body string) string {
	return `"body":"` + base64.StdEncoding.EncodeToString([]byte(body)) + `","body_args":{},"body_base64":true`
}

const hostileNoBody = `"body":"","body_args":{},"body_base64":true`

// hostileObject renders name, value pairs as the envelope's objects are
// written: keys sorted by their bytes, a repeated name's values an array in
// order; a nil value is true (a query flag).
func hostileObject(pairs [][2]*string) string {
	groups := map[string][]string{}
	var names []string
	for _, p := range pairs {
		if _, ok := groups[*p[0]]; !ok {
			names = append(names, *p[0])
		}
		v := "true"
		if p[1] != nil {
			v = kafkatest.JSONText(*p[1])
		}
		groups[*p[0]] = append(groups[*p[0]], v)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		if vs := groups[n]; len(vs) == 1 {
			parts[i] = kafkatest.JSONText(n) + ":" + vs[0]
		} else {
			parts[i] = kafkatest.JSONText(n) + ":[" + strings.Join(vs, ",") + "]"
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// hostileURIArgs is the envelope's uri_args for path: + and %XX decoded,
// a bad escape kept as written, non-UTF-8 read as Latin-1, a name without
// "=" true.
func hostileURIArgs(path string) string {
	_, query, _ := strings.Cut(path, "?")
	unescape := func(s string) *string {
		if u, err := url.QueryUnescape(s); err == nil {
			s = u
		}
		s = kafkatest.Latin1(s)
		return &s
	}
	var pairs [][2]*string
	for _, pair := range strings.Split(query, "&") {
		if pair == "" {
			continue
		}
		name, value, hasValue := strings.Cut(pair, "=")
		if !hasValue {
			pairs = append(pairs, [2]*string{unescape(name), nil})
		} else {
			pairs = append(pairs, [2]*string{unescape(name), unescape(value)})
		}
	}
	return hostileObject(pairs)
}

// hostileRequest is c's header list as Envoy hands it to the filter for an
// HTTP/1.1 request of a Go client.
func hostileRequest(c hostileCase) (method, path string, hs []string) {
	method, path = c.method, c.path
	if method == "" {
		method = "POST"
	}
	if path == "" {
		path = "/hostile/" + c.name
	}
	hs = []string{":method", method, ":path", path, ":authority", authority, ":scheme", "http", "user-agent", "it"}
	if c.contentType != "" {
		hs = append(hs, "content-type", c.contentType)
	}
	if c.body != nil {
		hs = append(hs, "content-length", strconv.Itoa(len(c.body)))
	}
	hs = append(hs, c.headers...)
	return method, path, append(hs, "x-forwarded-proto", "http", "x-request-id", hostileRequestID)
}

// hostileEnvelope is the whole record value for c.
func hostileEnvelope(c hostileCase) string {
	if c.sent.small {
		return "{" + c.sent.body + "}"
	}
	method, path, hs := hostileRequest(c)
	var pairs [][2]*string
	for i := 0; i+1 < len(hs); i += 2 {
		name, value := hs[i], kafkatest.Latin1(hs[i+1])
		if name == ":authority" {
			name = "host"
		} else if strings.HasPrefix(name, ":") {
			continue
		}
		pairs = append(pairs, [2]*string{&name, &value})
	}
	return fmt.Sprintf(`{"method":%s,"uri":%s,"uri_args":%s,"headers":%s,%s}`,
		kafkatest.JSONText(method), kafkatest.JSONText(path), hostileURIArgs(path), hostileObject(pairs), c.sent.body)
}

func hostileBadBody(media, why string) string {
	return kafkatest.ErrorBody("Bad Request", "body is not valid "+media+": "+why)
}

func hostileBadTopic(name string) string {
	return kafkatest.ErrorBody("Bad Request", fmt.Sprintf(`query argument "topics": %q is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`, name))
}

const hostileForbidden = `{"message":"Forbidden","error":"one or more target topics are not in the allowed topics list"}`

// hostileCE are a valid binary-mode CloudEvent's attributes (as Envoy hands
// them over: lower-case), with name, value pairs replacing some (a value of
// "" drops the attribute) or added.
func hostileCEHeaders(change ...string) []string {
	attrs := [][2]string{{"ce-specversion", "1.0"}, {"ce-id", "hostile-1"}, {"ce-source", "/hostile"}, {"ce-type", "com.example.hostile"}}
	set := map[string]string{}
	for i := 0; i+1 < len(change); i += 2 {
		set[change[i]] = change[i+1]
	}
	var hs []string
	for _, a := range attrs {
		v, ok := set[a[0]]
		if !ok {
			v = a[1]
		}
		delete(set, a[0])
		if v != "" {
			hs = append(hs, a[0], v)
		}
	}
	for i := 0; i+1 < len(change); i += 2 {
		if _, ok := set[change[i]]; ok {
			hs = append(hs, change[i], change[i+1])
		}
	}
	return hs
}

func hostileCases() []hostileCase {
	deep100k := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	deep10k := strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000)
	deep10k1 := strings.Repeat("[", 10_001) + strings.Repeat("]", 10_001)
	number := `{"n":` + strings.Repeat("7", 10_000) + `}`
	partHeader := "--B\r\nContent-Disposition: form-data; name=\"p\"\r\nX-Big: " + strings.Repeat("h", 64<<10) + "\r\n\r\nv\r\n--B--\r\n"
	var parts, partsArgs, query strings.Builder
	partsArgs.WriteByte('{')
	for i := range 10_000 {
		fmt.Fprintf(&parts, "--B\r\nContent-Disposition: form-data; name=\"f%04d\"\r\n\r\nv\r\n", i)
		if i > 0 {
			partsArgs.WriteByte(',')
			query.WriteByte('&')
		}
		fmt.Fprintf(&partsArgs, `"f%04d":"v"`, i)
		fmt.Fprintf(&query, "%04d", i)
	}
	parts.WriteString("--B--\r\n")
	partsArgs.WriteByte('}')
	many := make([]string, 0, 2*10_000)
	for i := range 10_000 {
		many = append(many, fmt.Sprintf("x-h-%05d", i), "v")
	}
	overEnvoy := strings.Repeat("x", envoyBodyLimit+1)
	atBatch := strings.Repeat("x", hostileBatchBytes-hostileOverhead)
	ceBody := []byte(`{"a":1}`)
	const (
		badBody  = "kafka_upstream_bad_body"
		badEvent = "kafka_upstream_bad_event"
		badTopic = "kafka_upstream_bad_topic"
		notAllow = "kafka_upstream_topic_not_allowed"
	)
	return []hostileCase{
		// Malformed JSON: 400, nothing published.
		{name: "json-truncated", contentType: "application/json", body: []byte(`{"a":[1,2`),
			status: 400, details: badBody, reply: hostileBadBody("application/json", "unexpected end of JSON input")},
		{name: "json-trailing-garbage", contentType: "application/json", body: []byte(`{"a":1} garbage`),
			status: 400, details: badBody, reply: hostileBadBody("application/json", "invalid character 'g' after top-level value")},
		{name: "json-whitespace-only", contentType: "application/json", body: []byte(" \n\t "),
			status: 400, details: badBody, reply: hostileBadBody("application/json", "unexpected end of JSON input")},
		{name: "json-bom", contentType: "application/json", body: []byte("\xef\xbb\xbf{}"),
			status: 400, details: badBody, reply: hostileBadBody("application/json", `invalid character '\ufeff' looking for beginning of value`)},
		{name: "json-invalid-utf8", contentType: "application/json", body: []byte("{\"a\":\"\xff\xfe\"}"),
			status: 400, details: badBody, reply: hostileBadBody("application/json", "not UTF-8")},
		{name: "json-nul-in-string", contentType: "application/json", body: []byte("{\"a\":\"x\x00y\"}"),
			status: 400, details: badBody, reply: hostileBadBody("application/json", `invalid character '\x00' in string`)},
		{name: "json-100000-deep", contentType: "application/json", body: []byte(deep100k),
			status: 400, details: badBody, reply: hostileBadBody("application/json", "exceeded max depth")},
		{name: "json-10001-deep", contentType: "application/json", body: []byte(deep10k1),
			status: 400, details: badBody, reply: hostileBadBody("application/json", "exceeded max depth")},
		// Accepted: encoding/json's nesting limit (10 000), which the
		// filter's parser keeps; the body embedded as sent.
		{name: "json-10000-deep", contentType: "application/json", body: []byte(deep10k),
			status: 200, sent: &hostileRecord{body: hostileText(deep10k, deep10k)}},
		// Accepted: an escaped NUL and a lone surrogate escape are valid
		// JSON, kept as written.
		{name: "json-escaped-nul", contentType: "application/json", body: []byte(`{"a":"x\u0000y"}`),
			status: 200, sent: &hostileRecord{body: hostileText(`{"a":"x\u0000y"}`, `{"a":"x\u0000y"}`)}},
		{name: "json-lone-surrogate", contentType: "application/json", body: []byte(`{"a":"\ud800"}`),
			status: 200, sent: &hostileRecord{body: hostileText(`{"a":"\ud800"}`, `{"a":"\ud800"}`)}},
		// Accepted: "numbers keep their digits" (README), all 10 000, and
		// exponents no float holds.
		{name: "json-10000-digit-number", contentType: "application/json", body: []byte(number),
			status: 200, sent: &hostileRecord{body: hostileText(number, number)}},
		{name: "json-huge-exponent", contentType: "application/json", body: []byte(`[1e999999999, -0.0e-99999]`),
			status: 200, sent: &hostileRecord{body: hostileText(`[1e999999999, -0.0e-99999]`, `[1e999999999,-0.0e-99999]`)}},
		// Accepted: "duplicate keys stay" (README), as Kong's envelope may
		// carry them: body_args is the body, compacted.
		{name: "json-duplicate-keys", contentType: "application/json", body: []byte(`{"a":1, "a":2}`),
			status: 200, sent: &hostileRecord{body: hostileText(`{"a":1, "a":2}`, `{"a":1,"a":2}`)}},
		// NUL in a text body: accepted, as the JSON escape.
		{name: "text-nul", contentType: "text/plain", body: []byte("a\x00b"),
			status: 200, sent: &hostileRecord{body: hostileText("a\x00b", "{}")}},

		// Forms always parse (README): bad escapes kept, an empty name is
		// a name, %00 a NUL, %FF Latin-1.
		{name: "form-malformed", contentType: "application/x-www-form-urlencoded", body: []byte("a=%zz&=&&b=%00&c&d=%&e=%FF"),
			status: 200, sent: &hostileRecord{body: hostileText("a=%zz&=&&b=%00&c&d=%&e=%FF", `{"":"","a":"%zz","b":"\u0000","c":true,"d":"%","e":"ÿ"}`)}},
		// Multipart: 400 unless it parses.
		{name: "multipart-unterminated", contentType: "multipart/form-data; boundary=B",
			body:   []byte("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"),
			status: 400, details: badBody, reply: hostileBadBody("multipart/form-data", "unexpected EOF")},
		{name: "multipart-no-boundary", contentType: "multipart/form-data",
			body:   []byte("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B--\r\n"),
			status: 400, details: badBody, reply: hostileBadBody("multipart/form-data", "content-type has no boundary parameter")},
		{name: "multipart-empty-boundary", contentType: "multipart/form-data; boundary=",
			body:   []byte("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B--\r\n"),
			status: 400, details: badBody, reply: hostileBadBody("multipart/form-data", "content-type parameters do not parse (mime: invalid media parameter), so the boundary is unknown")},
		// Accepted: 10 000 parts are a valid form, each field in body_args.
		{name: "multipart-10000-parts", contentType: "multipart/form-data; boundary=B", body: []byte(parts.String()),
			status: 200, sent: &hostileRecord{body: hostileText(parts.String(), partsArgs.String())}},
		// Accepted: a 64 KiB part header is within mime/multipart's limits.
		{name: "multipart-64KiB-part-header", contentType: "multipart/form-data; boundary=B", body: []byte(partHeader),
			status: 200, sent: &hostileRecord{body: hostileText(partHeader, `{"p":"v"}`)}},

		// Content types (accepted: the media type is compared without its
		// parameters; no media type, or Envoy's joined repeat, is "anything
		// else": base64).
		{name: "content-type-charset-nope", contentType: "application/json; charset=nope", body: []byte(`{"a":1}`),
			status: 200, sent: &hostileRecord{body: hostileText(`{"a":1}`, `{"a":1}`)}},
		{name: "content-type-semicolons", contentType: ";;;", body: []byte(`{"a":1}`),
			status: 200, sent: &hostileRecord{body: hostileBase64(`{"a":1}`)}},
		{name: "content-type-repeated", contentType: "application/json,text/plain", body: []byte(`{"a":1}`),
			status: 200, sent: &hostileRecord{body: hostileBase64(`{"a":1}`)}},

		// Query and headers: accepted, all in the envelope. Through the
		// fakes there is no Envoy header limit (e2e: 431 over 100).
		{name: "query-10000-args", method: "GET", path: "/hostile/query?" + query.String(),
			status: 200, sent: &hostileRecord{body: hostileNoBody}},
		{name: "query-latin1", method: "GET", path: "/hostile/query?a=%FF%FE&%E9=1",
			status: 200, sent: &hostileRecord{body: hostileNoBody}},
		{name: "headers-10000", method: "GET", headers: many,
			status: 200, sent: &hostileRecord{body: hostileNoBody}},
		{name: "header-value-latin1", method: "GET", headers: []string{"x-l1", "\xff\xfe"},
			status: 200, sent: &hostileRecord{body: hostileNoBody}},

		// Sizes. Accepted: the filter has no body limit of its own (Envoy's
		// is 1 MiB, e2e: 413); batching.bytes is its limit (small config).
		{name: "body-over-envoy-limit", contentType: "text/plain", body: []byte(overEnvoy),
			status: 200, sent: &hostileRecord{body: hostileText(overEnvoy, "{}")}},
		{name: "record-at-batching-bytes", config: "small", contentType: "text/plain", body: []byte(atBatch),
			status: 200, sent: &hostileRecord{small: true, body: hostileText(atBatch, "{}")}},
		{name: "record-over-batching-bytes", config: "small", contentType: "text/plain", body: []byte(atBatch + "x"),
			status: 413, details: "kafka_upstream_record_too_large", reply: kafkatest.ErrorBody("Request Entity Too Large",
				fmt.Sprintf("the Kafka record is %d bytes, more than the %d allowed (batching.bytes)", hostileBatchBytes+1, hostileBatchBytes))},

		// CloudEvents with bad attributes: 400.
		{name: "cloudevents-missing-id", config: "cloudevents", contentType: "application/json", body: ceBody,
			headers: hostileCEHeaders("ce-id", ""),
			status:  400, details: badEvent, reply: kafkatest.ErrorBody("Bad Request", `not a CloudEvent: missing required attribute "id"`)},
		{name: "cloudevents-bad-specversion", config: "cloudevents", contentType: "application/json", body: ceBody,
			headers: hostileCEHeaders("ce-specversion", "0.3"),
			status:  400, details: badEvent, reply: kafkatest.ErrorBody("Bad Request", `unsupported CloudEvents specversion "0.3" (only 1.0)`)},
		{name: "cloudevents-time-not-rfc3339", config: "cloudevents", contentType: "application/json", body: ceBody,
			headers: hostileCEHeaders("ce-time", "2026-12-01 10:00:00"),
			status:  400, details: badEvent, reply: kafkatest.ErrorBody("Bad Request", `CloudEvents attribute "time" is not an RFC 3339 timestamp: "2026-12-01 10:00:00"`)},
		{name: "cloudevents-repeated-id", config: "cloudevents", contentType: "application/json", body: ceBody,
			headers: append(hostileCEHeaders(), "ce-id", "hostile-2"),
			status:  400, details: badEvent, reply: kafkatest.ErrorBody("Bad Request", `CloudEvents attribute "id" is given more than once`)},
		{name: "cloudevents-bad-attribute-name", config: "cloudevents", contentType: "application/json", body: ceBody,
			headers: hostileCEHeaders("ce-bad_name", "x"),
			status:  400, details: badEvent, reply: kafkatest.ErrorBody("Bad Request", `invalid CloudEvents attribute name "bad_name"`)},
		{name: "cloudevents-id-not-utf8", config: "cloudevents", contentType: "application/json", body: ceBody,
			headers: hostileCEHeaders("ce-id", "%FF"),
			status:  400, details: badEvent, reply: kafkatest.ErrorBody("Bad Request", `CloudEvents attribute "id" is not UTF-8`)},

		// Structured mode (the whole event as the body) with bad JSON.
		{name: "cloudevents-structured-trailing-garbage", config: "cloudevents", contentType: "application/cloudevents+json",
			body:   []byte(`{"specversion":"1.0","id":"hostile-1","source":"/hostile","type":"com.example.hostile"}garbage`),
			status: 400, details: badEvent, reply: kafkatest.ErrorBody("Bad Request", `structured CloudEvent is not a JSON object: invalid character 'g' after top-level value`)},
		{name: "cloudevents-structured-100000-deep-data", config: "cloudevents", contentType: "application/cloudevents+json",
			body:   []byte(`{"specversion":"1.0","id":"hostile-1","source":"/hostile","type":"com.example.hostile","data":` + deep100k + "}"),
			status: 400, details: badEvent, reply: kafkatest.ErrorBody("Bad Request", `structured CloudEvent is not a JSON object: exceeded max depth`)},

		// Topic steering through ?topics=: nothing outside allowed_topics
		// (it-hostile-events, it-hostile-orders). Names are
		// case-sensitive; one Kafka would refuse (a look-alike letter, a
		// "%") is 400 (bad_topic) before the allowlist is asked.
		{name: "topics-upper-case", path: "/hostile/t?topics=IT-HOSTILE-ORDERS", contentType: "text/plain", body: []byte("t"),
			status: 403, details: notAllow, reply: hostileForbidden},
		{name: "topics-percent-encoded", path: "/hostile/t?topics=%69t-hostile-secret", contentType: "text/plain", body: []byte("t"),
			status: 403, details: notAllow, reply: hostileForbidden},
		{name: "topics-double-encoded", path: "/hostile/t?topics=%2569t-hostile-secret", contentType: "text/plain", body: []byte("t"),
			status: 400, details: badTopic, reply: hostileBadTopic("%69t-hostile-secret")},
		{name: "topics-cyrillic-look-alike", path: "/hostile/t?topics=it-hostile-ord%D0%B5rs", contentType: "text/plain", body: []byte("t"),
			status: 400, details: badTopic, reply: hostileBadTopic("it-hostile-ordеrs")},
		{name: "topics-fullwidth-look-alike", path: "/hostile/t?topics=%EF%BD%89%EF%BD%94-hostile-orders", contentType: "text/plain", body: []byte("t"),
			status: 400, details: badTopic, reply: hostileBadTopic("ｉｔ-hostile-orders")},
		{name: "topics-padded", path: "/hostile/t?topics=+it-hostile-secret%20", contentType: "text/plain", body: []byte("t"),
			status: 403, details: notAllow, reply: hostileForbidden},
		{name: "topics-allowed-then-not", path: "/hostile/t?topics=it-hostile-orders,it-hostile-secret", contentType: "text/plain", body: []byte("t"),
			status: 403, details: notAllow, reply: hostileForbidden},
		{name: "topics-repeated-arg", path: "/hostile/t?topics=it-hostile-orders&topics=it-hostile-secret", contentType: "text/plain", body: []byte("t"),
			status: 403, details: notAllow, reply: hostileForbidden},
		{name: "topics-encoded-comma", path: "/hostile/t?topics=it-hostile-orders%2Cit-hostile-secret", contentType: "text/plain", body: []byte("t"),
			status: 403, details: notAllow, reply: hostileForbidden},
		// Accepted: a percent-encoded allowed name is that name.
		{name: "topics-percent-encoded-allowed", path: "/hostile/t?topics=it%2Dhostile%2Dorders", contentType: "text/plain", body: []byte("t"),
			status: 200, sent: &hostileRecord{topic: hostileOrders, body: hostileText("t", "{}")}},
	}
}

// TestHostileRequests sends the corpus through one filter instance per
// request, three configs: the e2e suite's default (Kong's envelope, the
// allowlist, record headers, batching.bytes 4 MiB), its small one
// (batching.bytes at the default) and its cloudevents one.
func TestHostileRequests(t *testing.T) {
	bootstrap := kafkatest.Bootstrap(t)
	for _, name := range hostileTopics {
		kafkatest.CreateTopic(t, repoRoot(t), name, 1, "max.message.bytes=5242880")
	}
	base := map[string]any{
		"bootstrap_servers": []any{bootstrap}, "produce_timeout": "3s",
	}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	defaultCfg, defaultLog := parse(t, with(map[string]any{
		"topic": hostileEvents, "forward_method": true, "forward_uri": true, "forward_headers": true, "forward_body": true,
		"allowed_topics": []any{hostileEvents, hostileOrders}, "topics_query_arg": "topics", "key_query_arg": "key",
		"headers": map[string]any{
			"forward_http_headers_as_record_headers": true,
			"include_headers":                        []any{"x-request-id", "x-tenant"},
			"name_mappings":                          map[string]any{"x-tenant": "tenant"},
		},
		"batching": map[string]any{"bytes": 4 << 20},
	}))
	smallCfg, smallLog := parse(t, with(map[string]any{"topic": hostileEvents}))
	ceCfg, ceLog := parse(t, with(map[string]any{"topic": hostileCE, "format": "cloudevents", "cloudevents": map[string]any{"mode": "binary"}}))
	configs := map[string]any{"": defaultCfg, "small": smallCfg, "cloudevents": ceCfg}

	began := time.Now()
	cases := hostileCases()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { hostileRoundTrip(t, bootstrap, configs[c.config], c) })
	}
	t.Logf("%d requests in %s", len(cases), time.Since(began).Round(time.Millisecond))
	// Refusals (4xx) are not logged (README, Logs); nothing else failed.
	for _, l := range [][]string{defaultLog.Lines(), smallLog.Lines(), ceLog.Lines()} {
		if len(l) != 0 {
			t.Errorf("pipeline log = %q, want nothing", l)
		}
	}
}

func hostileRoundTrip(t *testing.T, bootstrap string, cfg any, c hostileCase) {
	prior := kafkatest.Snapshot(t, bootstrap, map[string]int{hostileEvents: 1, hostileOrders: 1, hostileSecret: 1, hostileCE: 1})
	_, _, hs := hostileRequest(c)
	s := newStream(cfg)
	s.send(t, filtertest.NewHeaders(hs...), c.body)
	reply := s.finish(t)
	if c.sent == nil {
		expectReply(t, reply, c.status, c.reply, c.details)
		kafkatest.ExpectNothingWritten(t, bootstrap, prior)
		return
	}
	topic := c.sent.topic
	if topic == "" {
		topic = hostileEvents
	}
	offset := prior[topic][0]
	expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(topic, 0, offset)), sentDetails)
	rec := kafkatest.FetchOne(t, bootstrap, topic, 0, offset)
	if want := hostileEnvelope(c); string(rec.Value) != want {
		i := 0
		for i < len(rec.Value) && i < len(want) && rec.Value[i] == want[i] {
			i++
		}
		from := max(0, i-80)
		t.Errorf("record value (%d bytes, want %d) differs at byte %d:\n got …%.200q\nwant …%.200q",
			len(rec.Value), len(want), i, rec.Value[from:], want[from:])
	}
	var recHeaders []string
	if !c.sent.small {
		recHeaders = []string{"x-request-id", hostileRequestID}
	}
	kafkatest.ExpectRecord(t, rec, kafkatest.Record{Topic: topic, Offset: offset, Value: rec.Value, Headers: kafkatest.Headers(recHeaders...)})
	kafkatest.ExpectGrowth(t, bootstrap, prior, map[string]int{topic + "/0": 1})
}
