//go:build e2e

package envoy_test

// The hostile-input corpus of issue 13 through the real Envoy, on this
// run's adapter. Each request gets its exact documented answer:
//
//   - refused by the filter: its status and whole JSON reply (README,
//     Replies), and nothing published on any of the suite's topics;
//   - answered by Envoy itself (413 over the body limit, 431 over the
//     header limits, which over h2c is a stream reset instead, 400 for
//     malformed HTTP): its status, nothing published;
//   - accepted on purpose (duplicate JSON keys, 10 000 query args, a form
//     with bad escapes, …): exactly the record the README documents, read
//     back whole, and nothing else published. Each such case says why.
//
// Afterwards Envoy, and for ext_proc the server, still serve.
//
// The same corpus, minus what needs Envoy's framing (raw TCP, 431, Envoy's
// 413), goes through the golang filter's SDK fakes against the real broker
// in e2e/integration/hostile_test.go: keep the two tables in step.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
)

// Envoy's limits in the suite's bootstraps (Envoy's defaults):
// max_request_headers_kb 60 and max_headers_count 100, counting every
// header the client sends (host on HTTP/1.1; over HTTP/2 the four
// pseudo-headers), and the 1 MiB body limit
// (per_connection_buffer_limit_bytes, initial_stream_window_size).
const (
	envoyMaxHeaders     = 100
	envoyMaxHeaderBytes = 60 << 10
	envoyBodyLimit      = 1 << 20
	// smallBatchBytes is the /small route's batching.bytes (the default).
	smallBatchBytes = 1 << 20
	// smallOverhead is a /small record's size beyond its text body: the
	// envelope {"body":"…","body_args":{}} (26 bytes) and kafka-go's
	// count of a record without key or headers (22 + 1).
	smallOverhead = 26 + 23
)

// hostileCase is one request of the corpus and its documented outcome.
type hostileCase struct {
	name        string
	only        string // "http1" or "h2c": the case runs over that client only
	method      string // "" is POST
	path        string // "" is /hostile/<name>
	contentType string
	body        []byte
	headers     []string // more request headers, name, value pairs
	status      int
	// reply is the filter's whole JSON reply to a refused request; ""
	// when Envoy answers itself (status only) or the record is sent.
	reply string
	// h2Reset: over h2c Envoy resets the stream (INTERNAL_ERROR) where
	// HTTP/1.1 gets status; nothing published either way.
	h2Reset bool
	// sent is the record of an accepted request.
	sent *hostileRecord
}

// hostileRecord is what an accepted request publishes.
type hostileRecord struct {
	topic string // "" is the default config's topic
	// seen are the request headers besides the client's standard ones as
	// the filter sees them, when not as sent (Envoy joins a repeated
	// content-type with commas).
	seen []string
	// body is the envelope's body fields, exactly.
	body string
	// small: the /small config (forward_body only, no record headers):
	// the value is {body}.
	small bool
}

// textBody is the envelope's fields for a body kept as text.
func textBody(body, args string) string {
	return `"body":` + kafkatest.JSONText(body) + `,"body_args":` + args
}

// base64Body is the envelope's fields for a base64-encoded body.
func base64Body(body string) string {
	return `"body":"` + base64.StdEncoding.EncodeToString([]byte(body)) + `","body_args":{},"body_base64":true`
}

// badBody is the reply to a body that does not parse as its type.
func badBody(media, why string) string {
	return kafkatest.ErrorBody("Bad Request", "body is not valid "+media+": "+why)
}

// objectJSON renders name, value pairs as the envelope's objects are
// written: keys sorted by their bytes, a repeated name's values an array
// in request order. A value of nil is JSON true (a query flag).
func objectJSON(pairs [][2]*string) string {
	groups := map[string][]string{}
	var names []string
	for _, p := range pairs {
		name := *p[0]
		if _, ok := groups[name]; !ok {
			names = append(names, name)
		}
		v := "true"
		if p[1] != nil {
			v = kafkatest.JSONText(*p[1])
		}
		groups[name] = append(groups[name], v)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		vs := groups[n]
		if len(vs) == 1 {
			parts[i] = kafkatest.JSONText(n) + ":" + vs[0]
		} else {
			parts[i] = kafkatest.JSONText(n) + ":[" + strings.Join(vs, ",") + "]"
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// uriArgsJSON is the envelope's uri_args for path: + and %XX decoded (a
// bad escape kept as written), non-UTF-8 read as Latin-1, a name without
// "=" true.
func uriArgsJSON(path string) string {
	_, query, _ := strings.Cut(path, "?")
	var pairs [][2]*string
	unescape := func(s string) *string {
		if u, err := url.QueryUnescape(s); err == nil {
			s = u
		}
		s = kafkatest.Latin1(s)
		return &s
	}
	for _, pair := range strings.Split(query, "&") {
		if pair == "" {
			continue
		}
		name, value, hasValue := strings.Cut(pair, "=")
		if !hasValue {
			pairs = append(pairs, [2]*string{unescape(name), nil})
			continue
		}
		pairs = append(pairs, [2]*string{unescape(name), unescape(value)})
	}
	return objectJSON(pairs)
}

// headerPairsJSON renders name, value pairs as the envelope's headers.
func headerPairsJSON(kv []string) string {
	var pairs [][2]*string
	for i := 0; i+1 < len(kv); i += 2 {
		name, value := strings.ToLower(kv[i]), kafkatest.Latin1(kv[i+1])
		pairs = append(pairs, [2]*string{&name, &value})
	}
	return objectJSON(pairs)
}

// hostileEnvelope is the whole record value the default config publishes
// for c, Envoy's x-request-id being id.
func hostileEnvelope(c hostileCase, path, id string) string {
	if c.sent.small {
		return "{" + c.sent.body + "}"
	}
	method := c.method
	if method == "" {
		method = "POST"
	}
	hs := []string{"host", host(), "user-agent", "e2e", "x-forwarded-proto", "http", "x-request-id", id}
	if c.contentType != "" {
		hs = append(hs, "content-type", c.contentType)
	}
	if c.body != nil {
		hs = append(hs, "content-length", strconv.Itoa(len(c.body)))
	}
	if c.sent.seen != nil {
		hs = append(hs, c.sent.seen...)
	} else {
		hs = append(hs, c.headers...)
	}
	return fmt.Sprintf(`{"method":%s,"uri":%s,"uri_args":%s,"headers":%s,%s}`,
		kafkatest.JSONText(method), kafkatest.JSONText(path), uriArgsJSON(path), headerPairsJSON(hs), c.sent.body)
}

// hostileBodies are the corpus's larger bodies, shared with nothing else.
var hostileBodies = struct {
	deep100k, deep10k, deep10k1, number, parts, partsArgs, partHeader string
	query                                                             string
}{
	deep100k: strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000),
	// encoding/json's nesting limit, which the filter keeps: 10 000 levels
	// pass, one more does not.
	deep10k:    strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000),
	deep10k1:   strings.Repeat("[", 10_001) + strings.Repeat("]", 10_001),
	number:     `{"n":` + strings.Repeat("7", 10_000) + `}`,
	partHeader: "--B\r\nContent-Disposition: form-data; name=\"p\"\r\nX-Big: " + strings.Repeat("h", 64<<10) + "\r\n\r\nv\r\n--B--\r\n",
}

func init() {
	var parts, args, query strings.Builder
	args.WriteByte('{')
	for i := range 10_000 {
		fmt.Fprintf(&parts, "--B\r\nContent-Disposition: form-data; name=\"f%04d\"\r\n\r\nv\r\n", i)
		if i > 0 {
			args.WriteByte(',')
			query.WriteByte('&')
		}
		fmt.Fprintf(&args, `"f%04d":"v"`, i)
		fmt.Fprintf(&query, "%04d", i)
	}
	parts.WriteString("--B--\r\n")
	args.WriteByte('}')
	hostileBodies.parts, hostileBodies.partsArgs, hostileBodies.query = parts.String(), args.String(), query.String()
}

// headerList is n headers x-h-000, x-h-001, … with the value v.
func headerList(n int) []string {
	hs := make([]string, 0, 2*n)
	for i := range n {
		hs = append(hs, fmt.Sprintf("x-h-%03d", i), "v")
	}
	return hs
}

const forbiddenReply = `{"message":"Forbidden","error":"one or more target topics are not in the allowed topics list"}`

func badTopicReply(name string) string {
	return kafkatest.ErrorBody("Bad Request", fmt.Sprintf(`query argument "topics": %q is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`, name))
}

func badEventReply(why string) string { return kafkatest.ErrorBody("Bad Request", why) }

// ceHeaders are a valid binary-mode CloudEvent's attributes, with
// name, value pairs replacing (or, with value "", dropping) some.
func ceHeaders(change ...string) []string {
	attrs := [][2]string{{"Ce-Specversion", "1.0"}, {"Ce-Id", "hostile-1"}, {"Ce-Source", "/hostile"}, {"Ce-Type", "com.example.hostile"}}
	var hs []string
	for _, a := range attrs {
		v, drop := a[1], false
		for i := 0; i+1 < len(change); i += 2 {
			if strings.EqualFold(change[i], a[0]) {
				v, drop = change[i+1], change[i+1] == ""
			}
		}
		if !drop {
			hs = append(hs, a[0], v)
		}
	}
	for i := 0; i+1 < len(change); i += 2 {
		known := false
		for _, a := range attrs {
			known = known || strings.EqualFold(change[i], a[0])
		}
		if !known {
			hs = append(hs, change[i], change[i+1])
		}
	}
	return hs
}

// hostileCases is the corpus through an HTTP client (the raw TCP ones are
// in TestHostileRawHTTP1).
func hostileCases() []hostileCase {
	b := hostileBodies
	atLimit := strings.Repeat("x", envoyBodyLimit)
	atBatch := strings.Repeat("x", smallBatchBytes-smallOverhead)
	return []hostileCase{
		// Malformed JSON: 400, nothing published.
		{name: "json-truncated", contentType: "application/json", body: []byte(`{"a":[1,2`),
			status: 400, reply: badBody("application/json", "unexpected end of JSON input")},
		{name: "json-trailing-garbage", contentType: "application/json", body: []byte(`{"a":1} garbage`),
			status: 400, reply: badBody("application/json", "invalid character 'g' after top-level value")},
		{name: "json-whitespace-only", contentType: "application/json", body: []byte(" \n\t "),
			status: 400, reply: badBody("application/json", "unexpected end of JSON input")},
		{name: "json-bom", contentType: "application/json", body: []byte("\xef\xbb\xbf{}"),
			status: 400, reply: badBody("application/json", `invalid character '\ufeff' looking for beginning of value`)},
		{name: "json-invalid-utf8", contentType: "application/json", body: []byte("{\"a\":\"\xff\xfe\"}"),
			status: 400, reply: badBody("application/json", "not UTF-8")},
		{name: "json-nul-in-string", contentType: "application/json", body: []byte("{\"a\":\"x\x00y\"}"),
			status: 400, reply: badBody("application/json", `invalid character '\x00' in string`)},
		{name: "json-100000-deep", contentType: "application/json", body: []byte(b.deep100k),
			status: 400, reply: badBody("application/json", "exceeded max depth")},
		{name: "json-10001-deep", contentType: "application/json", body: []byte(b.deep10k1),
			status: 400, reply: badBody("application/json", "exceeded max depth")},
		// Accepted: 10 000 levels are encoding/json's limit, which the
		// filter's own parser keeps; the body is embedded as sent.
		{name: "json-10000-deep", contentType: "application/json", body: []byte(b.deep10k),
			status: 200, sent: &hostileRecord{body: textBody(b.deep10k, b.deep10k)}},
		// Accepted: an escaped NUL and a lone surrogate escape are valid
		// JSON, kept as written.
		{name: "json-escaped-nul", contentType: "application/json", body: []byte(`{"a":"x\u0000y"}`),
			status: 200, sent: &hostileRecord{body: textBody(`{"a":"x\u0000y"}`, `{"a":"x\u0000y"}`)}},
		{name: "json-lone-surrogate", contentType: "application/json", body: []byte(`{"a":"\ud800"}`),
			status: 200, sent: &hostileRecord{body: textBody(`{"a":"\ud800"}`, `{"a":"\ud800"}`)}},
		// Accepted: "numbers keep their digits" (README, The message),
		// all 10 000 of them, and exponents no float holds.
		{name: "json-10000-digit-number", contentType: "application/json", body: []byte(b.number),
			status: 200, sent: &hostileRecord{body: textBody(b.number, b.number)}},
		{name: "json-huge-exponent", contentType: "application/json", body: []byte(`[1e999999999, -0.0e-99999]`),
			status: 200, sent: &hostileRecord{body: textBody(`[1e999999999, -0.0e-99999]`, `[1e999999999,-0.0e-99999]`)}},
		// Accepted: "duplicate keys stay" (README): body_args is the body
		// as sent, both keys in order, as Kong's envelope may carry them.
		{name: "json-duplicate-keys", contentType: "application/json", body: []byte(`{"a":1, "a":2}`),
			status: 200, sent: &hostileRecord{body: textBody(`{"a":1, "a":2}`, `{"a":1,"a":2}`)}},

		// NUL in a text body: accepted, as the JSON escape.
		{name: "text-nul", contentType: "text/plain", body: []byte("a\x00b"),
			status: 200, sent: &hostileRecord{body: textBody("a\x00b", "{}")}},

		// Forms always parse (README): bad escapes kept as written, an
		// empty name is a name, %00 a NUL, %FF Latin-1.
		{name: "form-malformed", contentType: "application/x-www-form-urlencoded", body: []byte("a=%zz&=&&b=%00&c&d=%&e=%FF"),
			status: 200, sent: &hostileRecord{body: textBody("a=%zz&=&&b=%00&c&d=%&e=%FF", `{"":"","a":"%zz","b":"\u0000","c":true,"d":"%","e":"ÿ"}`)}},
		// Multipart: 400 unless it parses.
		{name: "multipart-unterminated", contentType: "multipart/form-data; boundary=B",
			body:   []byte("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"),
			status: 400, reply: badBody("multipart/form-data", "unexpected EOF")},
		{name: "multipart-no-boundary", contentType: "multipart/form-data",
			body:   []byte("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B--\r\n"),
			status: 400, reply: badBody("multipart/form-data", "content-type has no boundary parameter")},
		{name: "multipart-empty-boundary", contentType: "multipart/form-data; boundary=",
			body:   []byte("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B--\r\n"),
			status: 400, reply: badBody("multipart/form-data", "content-type parameters do not parse (mime: invalid media parameter), so the boundary is unknown")},
		// Accepted: 10 000 parts (490 KB) are a valid form; each field in
		// body_args.
		{name: "multipart-10000-parts", contentType: "multipart/form-data; boundary=B", body: []byte(b.parts),
			status: 200, sent: &hostileRecord{body: textBody(b.parts, b.partsArgs)}},
		// Accepted: a 64 KiB part header is within mime/multipart's limits
		// (10 MiB of part headers).
		{name: "multipart-64KiB-part-header", contentType: "multipart/form-data; boundary=B", body: []byte(b.partHeader),
			status: 200, sent: &hostileRecord{body: textBody(b.partHeader, `{"p":"v"}`)}},

		// Content types. Accepted: the media type is compared without
		// its parameters, so an unknown charset is still JSON.
		{name: "content-type-charset-nope", contentType: "application/json; charset=nope", body: []byte(`{"a":1}`),
			status: 200, sent: &hostileRecord{body: textBody(`{"a":1}`, `{"a":1}`)}},
		// Accepted: no media type at all is "anything else": base64.
		{name: "content-type-semicolons", contentType: ";;;", body: []byte(`{"a":1}`),
			status: 200, sent: &hostileRecord{body: base64Body(`{"a":1}`)}},
		// Accepted: Envoy joins a repeated content-type with a comma
		// (README, The message), which is no known media type: base64.
		{name: "content-type-repeated", body: []byte(`{"a":1}`),
			headers: []string{"Content-Type", "application/json", "Content-Type", "text/plain"},
			status:  200, sent: &hostileRecord{seen: []string{"content-type", "application/json,text/plain"}, body: base64Body(`{"a":1}`)}},

		// Query and headers. Accepted: 10 000 query args (a query string
		// is never a reason to refuse), all in uri_args.
		{name: "query-10000-args", method: "GET", path: "/hostile/query-10000-args?" + b.query,
			status: 200, sent: &hostileRecord{body: `"body":"","body_args":{},"body_base64":true`}},
		{name: "query-latin1", method: "GET", path: "/hostile/query?a=%FF%FE&%E9=1",
			status: 200, sent: &hostileRecord{body: `"body":"","body_args":{},"body_base64":true`}},
		// Accepted: header bytes 0x80-0xFF (HTTP's obs-text) are read as
		// Latin-1.
		{name: "header-value-latin1", method: "GET", headers: []string{"X-L1", "\xff\xfe"},
			status: 200, sent: &hostileRecord{body: `"body":"","body_args":{},"body_base64":true`}},
		// As many headers as Envoy accepts: all in the envelope. HTTP/1.1
		// counts host and user-agent; HTTP/2 the four pseudo-headers and
		// user-agent.
		{name: "headers-at-limit", only: "http1", method: "GET", headers: headerList(envoyMaxHeaders - 2),
			status: 200, sent: &hostileRecord{body: `"body":"","body_args":{},"body_base64":true`}},
		{name: "headers-at-limit", only: "h2c", method: "GET", headers: headerList(envoyMaxHeaders - 5),
			status: 200, sent: &hostileRecord{body: `"body":"","body_args":{},"body_base64":true`}},
		// One more: Envoy's 431 (over h2c, a stream reset).
		{name: "headers-over-count", only: "http1", method: "GET", headers: headerList(envoyMaxHeaders - 1),
			status: 431},
		{name: "headers-over-count", only: "h2c", method: "GET", headers: headerList(envoyMaxHeaders - 4),
			h2Reset: true},
		{name: "headers-over-size", method: "GET", headers: []string{"X-Big", strings.Repeat("b", envoyMaxHeaderBytes)},
			status: 431, h2Reset: true},

		// Sizes: Envoy's body limit, then batching.bytes (/small).
		{name: "body-at-envoy-limit", contentType: "text/plain", body: []byte(atLimit),
			status: 200, sent: &hostileRecord{body: textBody(atLimit, "{}")}},
		{name: "body-over-envoy-limit", contentType: "text/plain", body: []byte(atLimit + "x"),
			status: 413},
		{name: "record-at-batching-bytes", path: "/small/hostile", contentType: "text/plain", body: []byte(atBatch),
			status: 200, sent: &hostileRecord{small: true, body: textBody(atBatch, "{}")}},
		{name: "record-over-batching-bytes", path: "/small/hostile", contentType: "text/plain", body: []byte(atBatch + "x"),
			status: 413, reply: kafkatest.ErrorBody("Request Entity Too Large",
				fmt.Sprintf("the Kafka record is %d bytes, more than the %d allowed (batching.bytes)", smallBatchBytes+1, smallBatchBytes))},

		// CloudEvents with bad attributes (/cloudevents): 400.
		{name: "cloudevents-missing-id", path: "/cloudevents/hostile", contentType: "application/json", body: []byte(`{"a":1}`),
			headers: ceHeaders("Ce-Id", ""),
			status:  400, reply: badEventReply(`not a CloudEvent: missing required attribute "id"`)},
		{name: "cloudevents-bad-specversion", path: "/cloudevents/hostile", contentType: "application/json", body: []byte(`{"a":1}`),
			headers: ceHeaders("Ce-Specversion", "0.3"),
			status:  400, reply: badEventReply(`unsupported CloudEvents specversion "0.3" (only 1.0)`)},
		{name: "cloudevents-time-not-rfc3339", path: "/cloudevents/hostile", contentType: "application/json", body: []byte(`{"a":1}`),
			headers: ceHeaders("Ce-Time", "2026-12-01 10:00:00"),
			status:  400, reply: badEventReply(`CloudEvents attribute "time" is not an RFC 3339 timestamp: "2026-12-01 10:00:00"`)},
		{name: "cloudevents-repeated-id", path: "/cloudevents/hostile", contentType: "application/json", body: []byte(`{"a":1}`),
			headers: append(ceHeaders(), "Ce-Id", "hostile-2"),
			status:  400, reply: badEventReply(`CloudEvents attribute "id" is given more than once`)},
		{name: "cloudevents-bad-attribute-name", path: "/cloudevents/hostile", contentType: "application/json", body: []byte(`{"a":1}`),
			headers: ceHeaders("Ce-Bad_Name", "x"),
			status:  400, reply: badEventReply(`invalid CloudEvents attribute name "bad_name"`)},
		{name: "cloudevents-id-not-utf8", path: "/cloudevents/hostile", contentType: "application/json", body: []byte(`{"a":1}`),
			headers: ceHeaders("Ce-Id", "%FF"),
			status:  400, reply: badEventReply(`CloudEvents attribute "id" is not UTF-8`)},

		// Structured mode (the whole event as the body) with bad JSON.
		{name: "cloudevents-structured-trailing-garbage", path: "/cloudevents/hostile", contentType: "application/cloudevents+json",
			body:   []byte(`{"specversion":"1.0","id":"hostile-1","source":"/hostile","type":"com.example.hostile"}garbage`),
			status: 400, reply: badEventReply(`structured CloudEvent is not a JSON object: invalid character 'g' after top-level value`)},
		{name: "cloudevents-structured-100000-deep-data", path: "/cloudevents/hostile", contentType: "application/cloudevents+json",
			body:   []byte(`{"specversion":"1.0","id":"hostile-1","source":"/hostile","type":"com.example.hostile","data":` + b.deep100k + "}"),
			status: 400, reply: badEventReply(`structured CloudEvent is not a JSON object: exceeded max depth`)},

		// Topic steering through ?topics=: nothing outside allowed_topics
		// (e2e-events, e2e-orders, e2e-audit, e2e-missing). Topic names
		// are case-sensitive; a name Kafka would refuse (a look-alike
		// letter, a "%") is 400 (bad_topic) before the allowlist is asked.
		{name: "topics-upper-case", path: "/hostile/t?topics=E2E-ORDERS", contentType: "text/plain", body: []byte("t"),
			status: 403, reply: forbiddenReply},
		{name: "topics-percent-encoded", path: "/hostile/t?topics=%73ecret", contentType: "text/plain", body: []byte("t"),
			status: 403, reply: forbiddenReply},
		{name: "topics-double-encoded", path: "/hostile/t?topics=%2573ecret", contentType: "text/plain", body: []byte("t"),
			status: 400, reply: badTopicReply("%73ecret")},
		{name: "topics-cyrillic-look-alike", path: "/hostile/t?topics=e2e-ord%D0%B5rs", contentType: "text/plain", body: []byte("t"),
			status: 400, reply: badTopicReply("e2e-ordеrs")},
		{name: "topics-fullwidth-look-alike", path: "/hostile/t?topics=%EF%BD%85%EF%BC%92%EF%BD%85-orders", contentType: "text/plain", body: []byte("t"),
			status: 400, reply: badTopicReply("ｅ２ｅ-orders")},
		{name: "topics-padded", path: "/hostile/t?topics=+secret%20", contentType: "text/plain", body: []byte("t"),
			status: 403, reply: forbiddenReply},
		{name: "topics-allowed-then-not", path: "/hostile/t?topics=e2e-orders,secret", contentType: "text/plain", body: []byte("t"),
			status: 403, reply: forbiddenReply},
		{name: "topics-repeated-arg", path: "/hostile/t?topics=e2e-orders&topics=secret", contentType: "text/plain", body: []byte("t"),
			status: 403, reply: forbiddenReply},
		{name: "topics-encoded-comma", path: "/hostile/t?topics=e2e-orders%2Csecret", contentType: "text/plain", body: []byte("t"),
			status: 403, reply: forbiddenReply},
		// Accepted: a percent-encoded allowed name is that name.
		{name: "topics-percent-encoded-allowed", path: "/hostile/t?topics=e2e%2Dorders", contentType: "text/plain", body: []byte("t"),
			status: 200, sent: &hostileRecord{topic: ordersTopic, body: textBody("t", "{}")}},
	}
}

// TestHostileRequests sends the corpus over HTTP/1.1 and h2c, then checks
// that Envoy (and the ext_proc server) still serve.
func TestHostileRequests(t *testing.T) {
	ensureTopics(t)
	// The quick snapshot says what before(t) says.
	if quick, slow := offsetsNow(t), before(t); fmt.Sprint(quick) != fmt.Sprint(slow) {
		t.Fatalf("offsetsNow %v, before(t) %v", quick, slow)
	}
	logs := markLogs(t)
	began := time.Now()
	n := 0
	for _, c := range hostileCases() {
		for _, client := range clients {
			if c.only != "" && c.only != client.name {
				continue
			}
			n++
			t.Run(c.name+"/"+client.name, func(t *testing.T) {
				hostileRequest(t, client.name, client.c, c)
			})
		}
	}
	t.Logf("%d requests in %s", n, time.Since(began).Round(time.Millisecond))
	stillServing(t, logs)
}

func hostileRequest(t *testing.T, clientName string, client *http.Client, c hostileCase) {
	method, path := c.method, c.path
	if method == "" {
		method = "POST"
	}
	if path == "" {
		path = "/hostile/" + c.name
	}
	prior := offsetsNow(t)
	code, body, ct, err := send(t.Context(), client, method, path, c.contentType, c.body, c.headers...)
	switch {
	case c.h2Reset && clientName == "h2c":
		if err == nil || !strings.Contains(err.Error(), "INTERNAL_ERROR") {
			t.Errorf("reply %d %.200q (%v), want Envoy's stream reset (INTERNAL_ERROR)", code, body, err)
		}
		expectNothingNew(t, prior)
	case err != nil:
		t.Fatalf("%s %.100s: %v", method, path, err)
	case c.sent != nil:
		topicName := c.sent.topic
		if topicName == "" {
			topicName = topic
		}
		rec := expectOneSent(t, code, body, ct, prior, topicName)
		var id string
		var hs []string
		if !c.sent.small {
			id = recordHeader(rec, "x-request-id")
			if !requestID.MatchString(id) {
				t.Errorf("record header x-request-id %q is not Envoy's UUID", id)
			}
			hs = []string{"x-request-id", id}
		}
		expectValueBytes(t, rec.Value, hostileEnvelope(c, path, id))
		kafkatest.ExpectRecord(t, rec, kafkatest.Record{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
			Value: rec.Value, Headers: kafkatest.Headers(hs...)})
	case c.reply != "":
		// expectRefused, with the quicker snapshot.
		if code != c.status || body != c.reply || ct != "application/json" {
			t.Errorf("reply %d %.300s (content-type %q)\nwant  %d %s", code, body, ct, c.status, c.reply)
		}
		expectNothingNew(t, prior)
	default: // Envoy's own reply
		if code != c.status {
			t.Errorf("reply %d %.200q, want Envoy's %d", code, body, c.status)
		}
		expectNothingNew(t, prior)
	}
}

// offsetsNow is before(t) in one ListOffsets request instead of a
// connection per partition (24): the corpus takes two snapshots per
// request, which with before(t) took most of its time on a busy machine.
func offsetsNow(t *testing.T) kafkatest.Offsets {
	t.Helper()
	topics := allTopics()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for name, n := range topics {
		for p := range n {
			req.Topics[name] = append(req.Topics[name], kafka.LastOffsetOf(p))
		}
	}
	client := &kafka.Client{Addr: kafka.TCP(stack.bootstrap), Timeout: 10 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		o, err := listOffsets(t, client, req, topics)
		if err == nil {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("end offsets: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func listOffsets(t *testing.T, client *kafka.Client, req *kafka.ListOffsetsRequest, topics map[string]int) (kafkatest.Offsets, error) {
	resp, err := client.ListOffsets(t.Context(), req)
	if err != nil {
		return nil, err
	}
	o := kafkatest.Offsets{}
	for name, n := range topics {
		o[name] = make([]int64, n)
		got := resp.Topics[name]
		if len(got) != n {
			return nil, fmt.Errorf("%s: %d partitions answered, want %d", name, len(got), n)
		}
		for _, p := range got {
			if p.Error != nil {
				return nil, fmt.Errorf("%s/%d: %w", name, p.Partition, p.Error)
			}
			o[name][p.Partition] = p.LastOffset
		}
	}
	return o, nil
}

// expectNothingNew is kafkatest.ExpectNothingWritten with offsetsNow.
func expectNothingNew(t *testing.T, prior kafkatest.Offsets) {
	t.Helper()
	expectGrown(t, prior, "", -1)
}

// expectGrown requires every partition's end offset to be as in prior,
// but topic/partition's one more (none when partition is -1).
func expectGrown(t *testing.T, prior kafkatest.Offsets, topicName string, partition int) {
	t.Helper()
	now := offsetsNow(t)
	for name, o := range prior {
		for p, end := range o {
			want := end
			if name == topicName && p == partition {
				want++
			}
			if now[name][p] != want {
				t.Errorf("end offset of %s/%d = %d, want %d (was %d)", name, p, now[name][p], want, end)
			}
		}
	}
}

// expectOneSent is expectSent for one record on topicName, with
// offsetsNow: a 200 naming the partition's end offset in prior, that
// record read back and returned, nothing else published.
func expectOneSent(t *testing.T, code int, body, ct string, prior kafkatest.Offsets, topicName string) kafkatest.Record {
	t.Helper()
	if code != 200 || ct != "application/json" {
		t.Fatalf("reply %d %.300q (content-type %q), want 200 application/json", code, body, ct)
	}
	var reply struct {
		Records []struct {
			Partition int `json:"partition"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(body), &reply); err != nil || len(reply.Records) != 1 {
		t.Fatalf("reply %s: want 1 record (%v)", body, err)
	}
	p := reply.Records[0].Partition
	if p < 0 || p >= partitions {
		t.Fatalf("reply %s: partition %d of %s", body, p, topicName)
	}
	offset := prior[topicName][p]
	if want := kafkatest.SentReply(kafkatest.At(topicName, p, offset)); body != want {
		t.Fatalf("reply\n got %s\nwant %s", body, want)
	}
	rec := kafkatest.FetchOne(t, stack.bootstrap, topicName, p, offset)
	expectGrown(t, prior, topicName, p)
	return rec
}

// expectValueBytes compares a (possibly large) record value with want,
// showing where they first differ.
func expectValueBytes(t *testing.T, got []byte, want string) {
	t.Helper()
	if string(got) == want {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-80)
	t.Errorf("record value (%d bytes, want %d) differs at byte %d:\n got …%.200q\nwant …%.200q",
		len(got), len(want), i, got[from:], want[from:])
}

// rawCase is a request written on a TCP connection as it is: framing no
// HTTP client would send.
type rawCase struct {
	name    string
	request string // with HOST for Envoy's address
	// statuses are the replies read from the connection, in order, the
	// last one closing it; none when the client closes first (closeAfter).
	statuses []int
	// closeAfter: the client closes the connection once the request is
	// written (and has had time to reach the filter).
	closeAfter bool
	// sent is the body of the one record published, "" for none.
	sent string
}

func rawCases() []rawCase {
	const head = "POST /hostile/raw HTTP/1.1\r\nHost: HOST\r\nUser-Agent: e2e\r\nContent-Type: text/plain\r\n"
	return []rawCase{
		// The body never completes: the stream is reset when the client
		// goes, unanswered and unpublished.
		{name: "content-length-larger-then-close", request: head + "Content-Length: 100\r\n\r\nshort", closeAfter: true},
		// Accepted: the first 5 bytes are the request's body (published);
		// the rest is read as the next request, which is no HTTP: Envoy's
		// 400, and it closes the connection.
		{name: "content-length-smaller", request: head + "Content-Length: 5\r\n\r\nhelloGARBAGE\r\n\r\n", statuses: []int{200, 400}, sent: "hello"},
		// Malformed HTTP: Envoy's 400, the filter never sees it.
		{name: "content-length-not-a-number", request: head + "Content-Length: abc\r\n\r\nhello", statuses: []int{400}},
		{name: "content-length-twice-differing", request: head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", statuses: []int{400}},
		{name: "content-length-and-chunked", request: head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", statuses: []int{400}},
		{name: "header-without-colon", request: head + "Bad Header\r\nContent-Length: 5\r\n\r\nhello", statuses: []int{400}},
		{name: "header-value-nul", request: head + "X-Nul: a\x00b\r\nContent-Length: 5\r\n\r\nhello", statuses: []int{400}},
		{name: "path-raw-byte-0xff", request: strings.Replace(head, "/hostile/raw", "/hostile/raw?a=\xff", 1) + "Content-Length: 5\r\n\r\nhello", statuses: []int{400}},
	}
}

// TestHostileRawHTTP1 writes framing no client library would onto a TCP
// connection to Envoy.
func TestHostileRawHTTP1(t *testing.T) {
	ensureTopics(t)
	logs := markLogs(t)
	for _, c := range rawCases() {
		t.Run(c.name, func(t *testing.T) { rawRequest(t, c) })
	}
	stillServing(t, logs)
}

func rawRequest(t *testing.T, c rawCase) {
	prior := offsetsNow(t)
	conn, err := net.DialTimeout("tcp", host(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, strings.ReplaceAll(c.request, "HOST", host())); err != nil {
		t.Fatal(err)
	}
	if c.closeAfter {
		// Long enough for the headers to reach the filter (and the ext_proc
		// server) before the client goes.
		time.Sleep(300 * time.Millisecond)
		conn.Close()
		// Give a wrongly published record time to land.
		time.Sleep(500 * time.Millisecond)
		expectNothingNew(t, prior)
		return
	}
	// The replies, the last closing the connection. (Waiting for Envoy's
	// close itself would take its delayed_close_timeout, 1 s.)
	r := bufio.NewReader(conn)
	var replies []string
	var got []int
	closing := false
	for len(got) < len(c.statuses) {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("after replies %v %q: %v, want statuses %v", got, replies, err, c.statuses)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("reply %d's body: %v", len(got)+1, err)
		}
		got = append(got, resp.StatusCode)
		replies = append(replies, string(body))
		closing = resp.Close
	}
	if fmt.Sprint(got) != fmt.Sprint(c.statuses) || !closing {
		t.Fatalf("replies %v %q (the last closing the connection: %v), want statuses %v, the last with connection: close", got, replies, closing, c.statuses)
	}
	if c.sent == "" {
		expectNothingNew(t, prior)
		return
	}
	rec := expectOneSent(t, 200, replies[0], "application/json", prior, topic)
	id := recordHeader(rec, "x-request-id")
	want := fmt.Sprintf(`{"method":"POST","uri":"/hostile/raw","uri_args":{},"headers":%s,%s}`,
		headerPairsJSON([]string{"content-length", strconv.Itoa(len(c.sent)), "content-type", "text/plain", "host", host(),
			"user-agent", "e2e", "x-forwarded-proto", "http", "x-request-id", id}), textBody(c.sent, "{}"))
	expectValueBytes(t, rec.Value, want)
}

// logMarks are the sizes of Envoy's and the ext_proc server's logs when a
// test began.
type logMarks struct{ envoy, extproc int64 }

func markLogs(t *testing.T) logMarks {
	t.Helper()
	m := logMarks{envoy: logSize(t)}
	if stack.adapter == extproc {
		fi, err := os.Stat(filepath.Join(stack.dir, "extproc.log"))
		if err != nil {
			t.Fatal(err)
		}
		m.extproc = fi.Size()
	}
	return m
}

// stillServing: Envoy is ready and publishes an ordinary request; for
// ext_proc the server process is alive and ready; no log line since from
// tells of a panic (the module's and the golang filter's recovered ones
// say "panic") or of Envoy's crash handler (critical).
func stillServing(t *testing.T, from logMarks) {
	t.Helper()
	for _, l := range logLines(t, from.envoy) {
		if strings.Contains(l, "panic") || strings.Contains(l, "[critical]") {
			t.Errorf("Envoy's log: %.400s", l)
		}
	}
	if stack.adapter == extproc {
		data, err := os.ReadFile(filepath.Join(stack.dir, "extproc.log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(data[from.extproc:]), "\n") {
			if strings.Contains(l, "panic") {
				t.Errorf("the ext_proc server's log: %.400s", l)
			}
		}
	}
	if err := envoyReady(); err != nil {
		t.Fatalf("Envoy is not serving after the corpus: %v\n%s", err, tail("envoy.log"))
	}
	if stack.adapter == extproc {
		if pid, state := extprocProcess(t); pid == 0 || state == "Z" {
			t.Fatalf("the ext_proc server is gone (pid %d, state %q)\n%s", pid, state, tail("extproc.log"))
		}
		resp, err := http.Get(stack.metrics + "/ready")
		if err != nil {
			t.Fatalf("ext_proc server /ready: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("ext_proc server /ready: %s", resp.Status)
		}
	}
	prior := before(t)
	code, body, ct := do(t, http1, "POST", "/hostile/after", "application/json", []byte(`{"ok":true}`))
	expectSent(t, code, body, ct, prior, target{topic, -1})
}

// extprocProcess finds this run's ext_proc server (the process whose
// command line names this run's config file) and its state letter from
// /proc/PID/stat; pid 0 if there is none.
func extprocProcess(t *testing.T) (int, string) {
	t.Helper()
	config := filepath.Join(stack.dir, "extproc.yaml")
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(config)) || !bytes.Contains(cmdline, []byte("extproc\x00")) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			return 0, ""
		}
		// pid (comm) state …
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
			return pid, string(stat[i+2])
		}
		return pid, "?"
	}
	return 0, ""
}
