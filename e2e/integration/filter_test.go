//go:build integration

// Package integration_test drives the real golang filter (filter.Factory,
// configured through filter.Parser.Parse with the TypedStruct Envoy hands
// it) against a real Apache Kafka broker, and reads every record back from
// the broker to compare it whole with an expectation written here from the
// documented envelope rules, not with the encoder's output.
//
// Run with `make integration`: e2e/with-kafka.sh starts the broker and
// exports KAFKA_BOOTSTRAP. Without it, every test fails saying so.
package integration_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/segmentio/kafka-go"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
)

const (
	// configTypeURL is the type_url of the plugin_config TypedStruct.
	configTypeURL = "type.googleapis.com/kafkaupstream.v1.Config"

	// wait bounds each wait for a reply; a real broker normally answers in
	// milliseconds.
	wait = 30 * time.Second

	sentDetails = "kafka_upstream_sent"

	// Query string and :authority of every matrix request: repeated args
	// and a flag exercise every uri_args rule.
	requestPath = "/it/events?a=1&a=2&flag"
	authority   = "example.com"
)

// ---------------------------------------------------------------------------
// Setup: topics, configs, streams

var topicUnsafe = regexp.MustCompile(`[^a-zA-Z0-9-]+`)

// newTopic creates a single-partition topic unique to this test,
// it-<test name>-<unixnano>, and returns its name.
func newTopic(t *testing.T, bootstrap string) string {
	t.Helper()
	name := strings.Trim(topicUnsafe.ReplaceAllString(t.Name(), "-"), "-")
	suffix := "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if max := 249 - len("it-") - len(suffix); len(name) > max {
		name = name[:max]
	}
	topic := "it-" + name + suffix
	kafkatest.EnsureTopic(t, bootstrap, topic)
	return topic
}

// repoRoot is the repository root, for kafkatest's calls of e2e/kafka.sh.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// newTopicN creates a topic unique to this test with n partitions and the
// given topic configs ("max.message.bytes=5242880").
func newTopicN(t *testing.T, suffix string, n int, configs ...string) string {
	t.Helper()
	name := strings.Trim(topicUnsafe.ReplaceAllString(t.Name(), "-"), "-")
	tail := "-" + suffix + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if max := 249 - len("it-") - len(tail); len(name) > max {
		name = name[:max]
	}
	topic := "it-" + name + tail
	kafkatest.CreateTopic(t, repoRoot(t), topic, n, configs...)
	return topic
}

// parse loads fields through filter.Parser.Parse, as Envoy loads a
// per-route plugin_config (nil callbacks), logging the pipeline to the
// returned recorder. The config is destroyed when the test ends, as Envoy
// does when xDS drops it.
func parse(t *testing.T, fields map[string]any) (any, *logtest.Recorder) {
	t.Helper()
	filtertest.InstallLogger()
	rec, log := logtest.New()
	parser := &filter.Parser{NewLogger: func() *slog.Logger { return log }}
	cfg, err := parser.Parse(kfaketest.TypedStruct(t, configTypeURL, fields), nil)
	if err != nil {
		t.Fatalf("Parse(%v): %v", fields, err)
	}
	c, ok := cfg.(api.Config)
	if !ok {
		t.Fatalf("Parse returned %T, which has no Destroy (api.Config)", cfg)
	}
	t.Cleanup(c.Destroy)
	return cfg, rec
}

// kafkaConfig is the plugin_config for topic on the test broker, plus extra.
func kafkaConfig(bootstrap, topic string, extra map[string]any) map[string]any {
	fields := map[string]any{"bootstrap_servers": []any{bootstrap}, "topic": topic}
	for k, v := range extra {
		fields[k] = v
	}
	return fields
}

// stream is one HTTP stream through its own filter instance.
type stream struct {
	f  api.StreamFilter
	cb *filtertest.Callbacks
}

func newStream(cfg any) *stream {
	cb := filtertest.NewCallbacks()
	return &stream{f: filter.Factory(cfg, cb), cb: cb}
}

// start drives the filter as Envoy does for a request without trailers and
// returns an error instead of failing, so it can run off the test's
// goroutine: DecodeHeaders, and for a body, the whole of it in one
// DecodeData(buf, true) after StopAndBuffer. A nil body is a bodyless
// request (endStream on the headers).
func (s *stream) start(h *filtertest.Headers, body []byte) error {
	if body == nil {
		if got := s.f.DecodeHeaders(h, true); got != api.Running {
			return fmt.Errorf("DecodeHeaders(endStream=true) = %d, want Running (%d)", got, api.Running)
		}
		return nil
	}
	if got := s.f.DecodeHeaders(h, false); got != api.StopAndBuffer {
		return fmt.Errorf("DecodeHeaders(endStream=false) = %d, want StopAndBuffer (%d)", got, api.StopAndBuffer)
	}
	if got := s.f.DecodeData(filtertest.NewBuffer(body), true); got != api.Running {
		return fmt.Errorf("DecodeData(endStream=true) = %d, want Running (%d)", got, api.Running)
	}
	return nil
}

func (s *stream) send(t *testing.T, h *filtertest.Headers, body []byte) {
	t.Helper()
	if err := s.start(h, body); err != nil {
		t.Fatal(err)
	}
}

// finish awaits the local reply and the end of the filter's goroutine,
// requires exactly one terminal call, no panic and the reply shape every
// answer of the filter has, then ends the stream as Envoy does.
func (s *stream) finish(t *testing.T) filtertest.LocalReply {
	t.Helper()
	reply := s.cb.WaitEnd(t, wait)
	if len(reply.Headers) != 1 || len(reply.Headers["content-type"]) != 1 || reply.Headers["content-type"][0] != "application/json" {
		t.Errorf("reply headers = %v, want exactly content-type: application/json", reply.Headers)
	}
	if reply.GrpcStatus != -1 {
		t.Errorf("reply grpc status = %d, want -1", reply.GrpcStatus)
	}
	filtertest.DestroyStream(s.f, s.cb, api.Normal)
	return reply
}

func expectReply(t *testing.T, got filtertest.LocalReply, status int, body, details string) {
	t.Helper()
	if got.Status != status || got.Body != body || got.Details != details {
		t.Errorf("reply = %d %s (details %q)\nwant    %d %s (details %q)", got.Status, got.Body, got.Details, status, body, details)
	}
}

// readRecord reads the one record published at offset, and requires the
// topic to hold nothing after it, the record to have no key and no headers.
func readRecord(t *testing.T, bootstrap, topic string, offset int64) kafka.Message {
	t.Helper()
	m := kafkatest.Read(t, bootstrap, topic, offset, 1)[0]
	checkBareRecord(t, m, offset)
	if end := kafkatest.EndOffset(t, bootstrap, topic); end != offset+1 {
		t.Errorf("end offset of %s = %d, want %d: exactly one record per request", topic, end, offset+1)
	}
	return m
}

func checkBareRecord(t *testing.T, m kafka.Message, offset int64) {
	t.Helper()
	if m.Offset != offset || m.Partition != 0 {
		t.Errorf("record at partition %d offset %d, want 0/%d", m.Partition, m.Offset, offset)
	}
	if m.Key != nil {
		t.Errorf("record key = %q, want nil", m.Key)
	}
	if len(m.Headers) != 0 {
		t.Errorf("record headers = %v, want none", m.Headers)
	}
}

func expectValue(t *testing.T, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("record value =\n%s\nwant\n%s", got, want)
	}
}

// ---------------------------------------------------------------------------
// The expected envelope, from the documented rules (encoder package doc,
// kafkaupstream.proto and Kong's kafka-upstream):
//   - a key only for each forward_* flag that is on, in the order method,
//     uri, uri_args, headers, body, body_args, body_base64;
//   - uri is :path; uri_args its query string: repeated names become
//     arrays, a name without "=" is true;
//   - headers leave the pseudo-headers out, :authority becomes "host";
//     repeated headers become arrays;
//   - objects built from maps (uri_args, headers, parsed form/multipart
//     body_args) have their keys sorted; a JSON body's body_args is the body
//     itself, compacted, in its own key order;
//   - the body is text for JSON, form, multipart, text/plain, text/html and
//     the XML types; anything else, a missing content type included, is
//     base64 with body_base64 true; body_args is {} unless parsed;
//   - strings are JSON-escaped without HTML escaping (<, >, & stay).

type forward struct{ method, uri, headers, body bool }

func (f forward) String() string {
	var on []string
	for _, x := range []struct {
		on   bool
		name string
	}{{f.method, "method"}, {f.uri, "uri"}, {f.headers, "headers"}, {f.body, "body"}} {
		if x.on {
			on = append(on, x.name)
		}
	}
	return strings.Join(on, "+")
}

// fields is the plugin_config form of f: every flag given explicitly.
func (f forward) fields() map[string]any {
	return map[string]any{
		"forward_method": f.method, "forward_uri": f.uri,
		"forward_headers": f.headers, "forward_body": f.body,
	}
}

// request is an HTTP request as the test sends it.
type request struct {
	headers []string // name, value pairs, pseudo-headers included
	body    []byte   // nil: bodyless
	// bodyArgs is the expected body_args, written by hand for the parsed
	// types; "" means {}.
	bodyArgs string
}

func (r request) header(name string) (string, bool) {
	for i := 0; i < len(r.headers); i += 2 {
		if r.headers[i] == name {
			return r.headers[i+1], true
		}
	}
	return "", false
}

// jsonString encodes s as Go's encoding/json does with HTML escaping off,
// for valid UTF-8 (the tests send no \b or \f, which Go writes as such).
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20, r == '\u2028', r == '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// multiMap collects string values by name keeping repeats; a value is
// either a JSON string literal or `true`.
type multiMap map[string][]string

func (m multiMap) add(name, rawJSON string) { m[name] = append(m[name], rawJSON) }

// object renders m with sorted keys; a repeated name becomes an array.
func (m multiMap) object() string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonString(n) + ":")
		vs := m[n]
		if len(vs) == 1 {
			b.WriteString(vs[0])
		} else {
			b.WriteString("[" + strings.Join(vs, ",") + "]")
		}
	}
	b.WriteByte('}')
	return b.String()
}

func expectedURIArgs(path string) string {
	args := multiMap{}
	_, query, _ := strings.Cut(path, "?")
	for _, pair := range strings.Split(query, "&") {
		if pair == "" {
			continue
		}
		name, value, hasValue := strings.Cut(pair, "=")
		name, _ = url.QueryUnescape(name)
		if !hasValue {
			args.add(name, "true")
			continue
		}
		value, _ = url.QueryUnescape(value)
		args.add(name, jsonString(value))
	}
	return args.object()
}

func expectedHeaders(r request) string {
	hs := multiMap{}
	for i := 0; i < len(r.headers); i += 2 {
		name := strings.ToLower(r.headers[i])
		if !strings.HasPrefix(name, ":") {
			hs.add(name, jsonString(r.headers[i+1]))
		}
	}
	if _, ok := hs["host"]; !ok {
		if a, ok := r.header(":authority"); ok {
			hs.add("host", jsonString(a))
		}
	}
	return hs.object()
}

// textTypes are the media types whose bodies are kept as text.
var textTypes = map[string]bool{
	"application/json":                  true,
	"application/x-www-form-urlencoded": true,
	"multipart/form-data":               true,
	"text/plain":                        true,
	"text/html":                         true,
	"application/xml":                   true,
	"text/xml":                          true,
	"application/soap+xml":              true,
}

// expectedEnvelope is the whole record value for r under flags f.
func expectedEnvelope(f forward, r request) string {
	var parts []string
	if f.method {
		m, _ := r.header(":method")
		parts = append(parts, `"method":`+jsonString(m))
	}
	if f.uri {
		p, _ := r.header(":path")
		parts = append(parts, `"uri":`+jsonString(p), `"uri_args":`+expectedURIArgs(p))
	}
	if f.headers {
		parts = append(parts, `"headers":`+expectedHeaders(r))
	}
	if f.body {
		ct, _ := r.header("content-type")
		media, _, err := mime.ParseMediaType(ct)
		if err != nil {
			media = ""
		}
		text := textTypes[media] || strings.HasSuffix(media, "+json")
		args := r.bodyArgs
		if args == "" {
			args = "{}"
		}
		if text && utf8.Valid(r.body) {
			parts = append(parts, `"body":`+jsonString(string(r.body)), `"body_args":`+args)
		} else {
			parts = append(parts, `"body":"`+base64.StdEncoding.EncodeToString(r.body)+`"`,
				`"body_args":`+args, `"body_base64":true`)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// ---------------------------------------------------------------------------
// The matrix: content types × forward_* combinations

// withCommonHeaders is a request's header list: the pseudo-headers of an
// HTTP/1.1 request as Envoy presents them, a repeated header, and the
// content-type and content-length of the body if any.
func withCommonHeaders(method, contentType string, body []byte) []string {
	h := []string{
		":method", method, ":path", requestPath, ":authority", authority, ":scheme", "http",
		"user-agent", "it-client/1.0", "x-multi", "1", "accept", "*/*", "x-multi", "2",
	}
	if contentType != "" {
		h = append(h, "content-type", contentType)
	}
	if body != nil {
		h = append(h, "content-length", strconv.Itoa(len(body)))
	}
	return h
}

type contentCase struct {
	name string
	req  request
}

func contentCases() []contentCase {
	mk := func(name, method, contentType string, body []byte, bodyArgs string) contentCase {
		return contentCase{name, request{headers: withCommonHeaders(method, contentType, body), body: body, bodyArgs: bodyArgs}}
	}
	multipartBody := "--it-boundary-42\r\n" +
		"Content-Disposition: form-data; name=\"name\"\r\n\r\n" +
		"Ada <Lovelace> & co\r\n" +
		"--it-boundary-42\r\n" +
		"Content-Disposition: form-data; name=\"tag\"\r\n\r\n" +
		"a\r\n" +
		"--it-boundary-42\r\n" +
		"Content-Disposition: form-data; name=\"tag\"\r\n\r\n" +
		"b\r\n" +
		"--it-boundary-42--\r\n"
	binary := make([]byte, 0, 260)
	for i := 255; i >= 0; i-- { // every byte value, invalid UTF-8 included
		binary = append(binary, byte(i))
	}
	return []contentCase{
		mk("json", "POST", "application/json",
			[]byte("{\"id\": 7,\n \"tags\": [\"a\", \"b\"], \"price\": 12.50, \"big\": 12345678901234567890, \"note\": \"<&> é\"}"),
			`{"id":7,"tags":["a","b"],"price":12.50,"big":12345678901234567890,"note":"<&> é"}`),
		mk("form", "POST", "application/x-www-form-urlencoded",
			[]byte("name=J%C3%B6rg+K&tag=a&tag=b&empty=&flag&lt=%3C%26%3E"),
			`{"empty":"","flag":true,"lt":"<&>","name":"Jörg K","tag":["a","b"]}`),
		mk("multipart", "POST", "multipart/form-data; boundary=it-boundary-42",
			[]byte(multipartBody),
			`{"name":"Ada <Lovelace> & co","tag":["a","b"]}`),
		mk("text-plain-utf8", "PUT", "text/plain; charset=utf-8",
			[]byte("héllo <world> & \"co\"\r\n\ttabbed \\ line\u2028end"), ""),
		mk("xml", "POST", "application/xml",
			[]byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<order id=\"7\"><item>a &amp; b</item></order>"), ""),
		mk("octet-stream", "POST", "application/octet-stream", binary, ""),
		mk("none-bodyless-GET", "GET", "", nil, ""),
	}
}

// allCombinations are the 15 forward_* combinations with a flag on.
func allCombinations() []forward {
	var out []forward
	for bits := 1; bits < 16; bits++ {
		out = append(out, forward{method: bits&1 != 0, uri: bits&2 != 0, headers: bits&4 != 0, body: bits&8 != 0})
	}
	return out
}

// TestEnvelopeMatrix publishes each content type under each forward_*
// combination through one config per combination, and compares each
// record read back from the broker whole.
func TestEnvelopeMatrix(t *testing.T) {
	bootstrap := kafkatest.Bootstrap(t)
	for _, f := range allCombinations() {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			topic := newTopic(t, bootstrap)
			cfg, logs := parse(t, kafkaConfig(bootstrap, topic, f.fields()))
			for _, cc := range contentCases() {
				t.Run(cc.name, func(t *testing.T) {
					before := kafkatest.EndOffset(t, bootstrap, topic)
					s := newStream(cfg)
					s.send(t, filtertest.NewHeaders(cc.req.headers...), cc.req.body)
					expectReply(t, s.finish(t), 200, kafkatest.SentReply(kafkatest.At(topic, 0, before)), sentDetails)

					m := readRecord(t, bootstrap, topic, before)
					expectValue(t, m.Value, expectedEnvelope(f, cc.req))
				})
			}
			if l := logs.Lines(); len(l) != 0 {
				t.Errorf("pipeline log = %q, want nothing", l)
			}
		})
	}
}

// TestAllForwardFlagsOffIsRejected: a config forwarding nothing would
// publish {} for every request; Parse refuses it with an error naming the
// flags.
func TestAllForwardFlagsOffIsRejected(t *testing.T) {
	bootstrap := kafkatest.Bootstrap(t)
	filtertest.InstallLogger()
	const want = "forward_*: at least one of forward_method, forward_uri, forward_headers, forward_body must be true"
	fields := kafkaConfig(bootstrap, "it-never-created", forward{}.fields())
	for _, cb := range []api.ConfigCallbackHandler{nil, &filtertest.ConfigCallbacks{}} { // route level, filter level
		cfg, err := (&filter.Parser{}).Parse(kfaketest.TypedStruct(t, configTypeURL, fields), cb)
		if err == nil || err.Error() != want {
			t.Errorf("Parse error = %v\nwant %s", err, want)
		}
		if cfg != nil {
			t.Errorf("Parse returned a config (%T) with its error", cfg)
			if c, ok := cfg.(api.Config); ok {
				c.Destroy()
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Acknowledgements, size limits, concurrency

func TestRequiredAcks(t *testing.T) {
	bootstrap := kafkatest.Bootstrap(t)
	for _, acks := range []int{-1, 1, 0} {
		t.Run(fmt.Sprintf("acks=%d", acks), func(t *testing.T) {
			topic := newTopic(t, bootstrap)
			cfg, logs := parse(t, kafkaConfig(bootstrap, topic, map[string]any{"required_acks": acks, "forward_method": true}))
			before := kafkatest.EndOffset(t, bootstrap, topic)

			body := []byte(fmt.Sprintf(`{"acks": %d}`, acks))
			s := newStream(cfg)
			s.send(t, filtertest.NewHeaders(":method", "POST", ":path", "/acks", ":authority", authority,
				"content-type", "application/json"), body)
			// With acks=0 the broker sends no offsets: the entry has none.
			offset := before
			if acks == 0 {
				offset = -1
			}
			expectReply(t, s.finish(t), 200, kafkatest.SentReply(kafkatest.At(topic, 0, offset)), sentDetails)

			// With acks=0 the reply only means the record left on the
			// connection; the read waits for it to land.
			m := readRecord(t, bootstrap, topic, before)
			want := fmt.Sprintf(`{"method":"POST","body":"{\"acks\": %d}","body_args":{"acks":%d}}`, acks, acks)
			expectValue(t, m.Value, want)
			if l := logs.Lines(); len(l) != 0 {
				t.Errorf("pipeline log = %q, want nothing", l)
			}
		})
	}
}

// brokerMaxMessageBytes is the broker's default max.message.bytes (the
// e2e/kafka.sh broker does not change it): 1 MiB + 12 bytes of batch
// overhead.
const brokerMaxMessageBytes = 1048588

// TestRecordLargerThanTheBrokerAllows: batching.bytes lets the producer
// accept up to 4 MiB, but the broker refuses batches over its own
// max.message.bytes (~1 MiB) with MESSAGE_TOO_LARGE.
func TestRecordLargerThanTheBrokerAllows(t *testing.T) {
	bootstrap := kafkatest.Bootstrap(t)
	topic := newTopic(t, bootstrap)
	cfg, logs := parse(t, kafkaConfig(bootstrap, topic, map[string]any{
		"batching": map[string]any{"bytes": 4 << 20},
	}))
	send := func(t *testing.T, size int) (filtertest.LocalReply, []byte) {
		t.Helper()
		body := []byte(strings.Repeat("x", size))
		s := newStream(cfg)
		s.send(t, filtertest.NewHeaders(":method", "POST", ":path", "/big", ":authority", authority,
			"content-type", "text/plain"), body)
		return s.finish(t), body
	}

	t.Run("within both limits: 200", func(t *testing.T) {
		before := kafkatest.EndOffset(t, bootstrap, topic)
		reply, body := send(t, 1000*1000)
		expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(topic, 0, before)), sentDetails)
		m := readRecord(t, bootstrap, topic, before)
		expectValue(t, m.Value, `{"body":"`+string(body)+`","body_args":{}}`)
	})

	t.Run("over the broker's max.message.bytes, under batching.bytes", func(t *testing.T) {
		before := kafkatest.EndOffset(t, bootstrap, topic)
		start := time.Now()
		reply, _ := send(t, brokerMaxMessageBytes+512*1024)
		t.Logf("broker-refused record: %d %s (details %q) after %s; pipeline log %q",
			reply.Status, reply.Body, reply.Details, time.Since(start).Round(time.Millisecond), logs.Lines())
		// kafka-go gets MESSAGE_TOO_LARGE (10) from the broker: the reply
		// must not blame batching.bytes, which the record was within.
		expectReply(t, reply, 413,
			`{"message":"Request Entity Too Large","error":"the Kafka record is larger than the broker accepts (max.message.bytes)"}`,
			"kafka_upstream_record_too_large")
		if l := strings.Join(logs.Lines(), "\n"); !strings.Contains(l, "batching.bytes is above the broker's max.message.bytes") {
			t.Errorf("the misconfiguration is not logged: %q", l)
		}
		// The next record written must be the next request's: the refused
		// one is not retried into the topic.
		reply, body := send(t, 10)
		expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(topic, 0, before)), sentDetails)
		expectValue(t, readRecord(t, bootstrap, topic, before).Value, `{"body":"`+string(body)+`","body_args":{}}`)
	})
}

// TestConcurrentBurst sends 100 requests at once through 100 filter
// instances sharing one config (one producer), as Envoy's workers do, and
// requires 100 replies of 200 and each record exactly once.
func TestConcurrentBurst(t *testing.T) {
	const n = 100
	bootstrap := kafkatest.Bootstrap(t)
	topic := newTopic(t, bootstrap)
	cfg, logs := parse(t, kafkaConfig(bootstrap, topic, nil)) // default flags: forward_body only
	before := kafkatest.EndOffset(t, bootstrap, topic)

	streams := make([]*stream, n)
	for i := range streams {
		streams[i] = newStream(cfg)
	}
	startGate := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			h := filtertest.NewHeaders(":method", "POST", ":path", "/burst", ":authority", authority,
				"content-type", "application/json")
			errs[i] = s.start(h, []byte(fmt.Sprintf(`{"id":%d}`, i)))
		}()
	}
	close(startGate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// Each reply names the offset of its own record: id → offset.
	offsetOf := make(map[int]int64, n)
	for i, s := range streams {
		reply := s.finish(t)
		var body struct {
			Records []struct {
				Offset int64 `json:"offset"`
			} `json:"records"`
		}
		if err := json.Unmarshal([]byte(reply.Body), &body); err != nil || len(body.Records) != 1 {
			t.Errorf("request %d: reply %d %s: no single record (%v)", i, reply.Status, reply.Body, err)
			continue
		}
		offsetOf[i] = body.Records[0].Offset
		if want := kafkatest.SentReply(kafkatest.At(topic, 0, offsetOf[i])); reply.Status != 200 || reply.Body != want || reply.Details != sentDetails {
			t.Errorf("request %d: reply %d %s (details %q), want 200 %s", i, reply.Status, reply.Body, reply.Details, want)
		}
	}

	msgs := kafkatest.Read(t, bootstrap, topic, before, n)
	seen := make(map[int]int, n)
	for k, m := range msgs {
		checkBareRecord(t, m, before+int64(k))
		var env struct {
			Body     string `json:"body"`
			BodyArgs struct {
				ID *int `json:"id"`
			} `json:"body_args"`
		}
		if err := json.Unmarshal(m.Value, &env); err != nil || env.BodyArgs.ID == nil {
			t.Errorf("record %d = %s: no id (%v)", m.Offset, m.Value, err)
			continue
		}
		id := *env.BodyArgs.ID
		seen[id]++
		if off, ok := offsetOf[id]; ok && off != m.Offset {
			t.Errorf("request %d was told offset %d, its record is at %d", id, off, m.Offset)
		}
		expectValue(t, m.Value, fmt.Sprintf(`{"body":"{\"id\":%d}","body_args":{"id":%d}}`, id, id))
	}
	for i := 0; i < n; i++ {
		if seen[i] != 1 {
			t.Errorf("id %d published %d times, want exactly once", i, seen[i])
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct ids, want %d", len(seen), n)
	}
	if end := kafkatest.EndOffset(t, bootstrap, topic); end != before+n {
		t.Errorf("end offset = %d, want %d: exactly %d records", end, before+n, n)
	}
	if l := logs.Lines(); len(l) != 0 {
		t.Errorf("pipeline log = %q, want nothing", l)
	}
}
