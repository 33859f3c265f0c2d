//go:build e2e

package envoy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
)

var (
	http1 = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	h2c   = func() *http.Client {
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Protocols: p, DisableCompression: true}}
	}()
	clients = []struct {
		name string
		c    *http.Client
	}{{"http1", http1}, {"h2c", h2c}}
)

var requestID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ensureTopics creates the suite's topics if missing (TestKafkaDown's
// broker restart loses them): every test calls it first, so none depends
// on another having run.
func ensureTopics(t *testing.T) {
	t.Helper()
	for _, name := range suiteTopics {
		kafkatest.CreateTopic(t, stack.root, name, partitions, "max.message.bytes=5242880")
	}
}

// allTopics are the suite's topics with their partition counts, for
// snapshots: "nothing published" means on none of them.
func allTopics() map[string]int {
	m := map[string]int{}
	for _, name := range suiteTopics {
		m[name] = partitions
	}
	return m
}

func before(t *testing.T) kafkatest.Offsets {
	t.Helper()
	return kafkatest.Snapshot(t, stack.bootstrap, allTopics())
}

// target is where a record is expected: partition -1 when the producer
// chooses (keyless records, round robin).
type target struct {
	topic     string
	partition int
}

// expectSent requires a 200 JSON reply listing one record per target, in
// order, each at the end offset its partition had in prior (the whole
// body compared), and exactly those records added to the suite's topics.
// It returns the records read back.
func expectSent(t *testing.T, code int, body, ct string, prior kafkatest.Offsets, targets ...target) []kafkatest.Record {
	t.Helper()
	if code != 200 || ct != "application/json" {
		t.Fatalf("reply %d %q (content-type %q), want 200 application/json", code, body, ct)
	}
	var reply struct {
		Records []struct {
			Topic     string `json:"topic"`
			Partition int    `json:"partition"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(body), &reply); err != nil || len(reply.Records) != len(targets) {
		t.Fatalf("reply %s: want %d records (%v)", body, len(targets), err)
	}
	var want []kafkatest.Placed
	grown := map[string]int{}
	for i, tg := range targets {
		p := tg.partition
		if p < 0 {
			p = reply.Records[i].Partition
		}
		if p < 0 || p >= partitions {
			t.Fatalf("reply %s: partition %d of %s", body, p, tg.topic)
		}
		want = append(want, kafkatest.At(tg.topic, p, prior[tg.topic][p]))
		grown[fmt.Sprintf("%s/%d", tg.topic, p)]++
	}
	if w := kafkatest.SentReply(want...); body != w {
		t.Fatalf("reply\n got %s\nwant %s", body, w)
	}
	recs := make([]kafkatest.Record, len(want))
	for i, w := range want {
		recs[i] = kafkatest.FetchOne(t, stack.bootstrap, w.Topic, w.Partition, w.Offset)
	}
	kafkatest.ExpectGrowth(t, stack.bootstrap, prior, grown)
	return recs
}

// expectRefused requires the failure reply and nothing published on any
// of the suite's topics.
func expectRefused(t *testing.T, code int, body, ct string, prior kafkatest.Offsets, wantCode int, wantBody string) {
	t.Helper()
	if code != wantCode || body != wantBody || ct != "application/json" {
		t.Errorf("reply %d %s (content-type %q)\nwant  %d %s", code, body, ct, wantCode, wantBody)
	}
	kafkatest.ExpectNothingWritten(t, stack.bootstrap, prior)
}

// envelopeRecord checks a record of the default config: value want (Kong's
// envelope, Envoy's x-request-id replaced by "<uuid>"), key, and the record
// headers the config forwards: tenant (if sent, from x-tenant), then
// x-request-id, the same id as in the envelope.
func envelopeRecord(t *testing.T, rec kafkatest.Record, key []byte, tenant, want string) {
	t.Helper()
	id := expectEnvelope(t, rec.Value, want)
	var hs []string
	if tenant != "" {
		hs = append(hs, "tenant", tenant)
	}
	hs = append(hs, "x-request-id", id)
	kafkatest.ExpectRecord(t, rec, kafkatest.Record{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Key: key, Value: rec.Value, Headers: kafkatest.Headers(hs...)})
}

// decodeEnvelope parses a record value; Envoy's random x-request-id is
// checked for shape and replaced, so the rest can be compared exactly. It
// returns the id.
func decodeEnvelope(t *testing.T, value []byte) (map[string]any, string) {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(value, &env); err != nil {
		t.Fatalf("record value is not JSON: %v\n%s", err, value)
	}
	var id string
	if hs, ok := env["headers"].(map[string]any); ok {
		id, _ = hs["x-request-id"].(string)
		if !requestID.MatchString(id) {
			t.Errorf("x-request-id %q is not a UUID", id)
		}
		hs["x-request-id"] = "<uuid>"
	}
	return env, id
}

// expectEnvelope compares a record value with want and returns the
// envelope's x-request-id.
func expectEnvelope(t *testing.T, value []byte, want string) string {
	t.Helper()
	got, id := decodeEnvelope(t, value)
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if !reflect.DeepEqual(got, w) {
		t.Errorf("record\n got %s\nwant %s", value, want)
	}
	return id
}

// host is the host header Envoy sees.
func host() string { return strings.TrimPrefix(stack.url, "http://") }

// headersJSON is the "headers" object of a request sent by do().
func headersJSON(contentType string, contentLength int, extra string) string {
	h := fmt.Sprintf(`"host":%q,"user-agent":"e2e","x-forwarded-proto":"http","x-request-id":"<uuid>"`, host())
	if contentType != "" {
		h += fmt.Sprintf(`,"content-type":%q`, contentType)
	}
	if contentLength >= 0 {
		h += fmt.Sprintf(`,"content-length":"%d"`, contentLength)
	}
	if extra != "" {
		h += "," + extra
	}
	return "{" + h + "}"
}

func TestContentTypes(t *testing.T) {
	ensureTopics(t)
	multipart := "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n2\r\n--B--\r\n"
	tests := []struct {
		name, contentType, body, bodyFields string
	}{
		{"json", "application/json", `{"n": 1.50, "s": "<é>"}`,
			`"body":"{\"n\": 1.50, \"s\": \"<é>\"}","body_args":{"n":1.5,"s":"<é>"}`},
		{"form", "application/x-www-form-urlencoded", "a=1&a=2&b=x+y",
			`"body":"a=1&a=2&b=x+y","body_args":{"a":["1","2"],"b":"x y"}`},
		// Form bodies are parsed leniently, as query strings are: a bad
		// %-escape is kept as written.
		{"form-lenient", "application/x-www-form-urlencoded", "comment=100%&n=1",
			`"body":"comment=100%&n=1","body_args":{"comment":"100%","n":"1"}`},
		{"multipart", "multipart/form-data; boundary=B", multipart,
			`"body":` + strconv.Quote(multipart) + `,"body_args":{"a":["1","2"]}`},
		{"text-charset", "text/plain; charset=utf-8", "héllo",
			`"body":"héllo","body_args":{}`},
		{"xml", "application/xml", "<a>1</a>",
			`"body":"<a>1</a>","body_args":{}`},
		{"binary", "application/octet-stream", "\x00\x01\x02\xff",
			`"body":"AAEC/w==","body_args":{},"body_base64":true`},
		{"no-content-type", "", "raw",
			`"body":"cmF3","body_args":{},"body_base64":true`},
	}
	for _, tt := range tests {
		for _, client := range clients {
			t.Run(tt.name+"/"+client.name, func(t *testing.T) {
				prior := before(t)
				path := "/ingest/" + tt.name + "?src=" + client.name
				code, body, ct := do(t, client.c, "POST", path, tt.contentType, []byte(tt.body))
				rec := expectSent(t, code, body, ct, prior, target{topic, -1})[0]
				want := fmt.Sprintf(`{"method":"POST","uri":%q,"uri_args":{"src":%q},"headers":%s,%s}`,
					path, client.name, headersJSON(tt.contentType, len(tt.body), ""), tt.bodyFields)
				envelopeRecord(t, rec, nil, "", want)
			})
		}
	}
}

func TestBodylessRequests(t *testing.T) {
	ensureTopics(t)
	for _, method := range []string{"GET", "DELETE", "HEAD", "OPTIONS"} {
		for _, client := range clients {
			t.Run(method+"/"+client.name, func(t *testing.T) {
				bodyless(t, client.c, method)
			})
		}
	}
}

func bodyless(t *testing.T, client *http.Client, method string) {
	prior := before(t)
	code, body, ct := do(t, client, method, "/things/7?a=1&a=2&flag&q=x%20y", "", nil,
		"X-Tag", "one", "X-Tag", "two")
	if method == "HEAD" {
		// HEAD replies carry no body: where the record went is
		// only in Kafka.
		if code != 200 || body != "" || ct != "application/json" {
			t.Fatalf("reply %d %q %q", code, body, ct)
		}
		body = headBody(t, prior)
	}
	rec := expectSent(t, code, body, ct, prior, target{topic, -1})[0]
	want := fmt.Sprintf(`{"method":%q,"uri":"/things/7?a=1&a=2&flag&q=x%%20y","uri_args":{"a":["1","2"],"flag":true,"q":"x y"},`+
		`"headers":%s,"body":"","body_args":{},"body_base64":true}`,
		method, headersJSON("", -1, `"x-tag":["one","two"]`))
	envelopeRecord(t, rec, nil, "", want)
}

// headBody is the reply a HEAD request would have had a body for: the one
// partition of the default topic that grew.
func headBody(t *testing.T, prior kafkatest.Offsets) string {
	t.Helper()
	now := kafkatest.Snapshot(t, stack.bootstrap, map[string]int{topic: partitions})
	for p := 0; p < partitions; p++ {
		if now[topic][p] == prior[topic][p]+1 {
			return kafkatest.SentReply(kafkatest.At(topic, p, prior[topic][p]))
		}
	}
	t.Fatalf("HEAD: no partition of %s grew by one: %v → %v", topic, prior[topic], now[topic])
	return ""
}

func TestBadBody(t *testing.T) {
	ensureTopics(t)
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			prior := before(t)
			code, body, ct := do(t, client.c, "POST", "/bad", "application/json", []byte(`{"a":`))
			expectRefused(t, code, body, ct, prior, 400,
				`{"message":"Bad Request","error":"body is not valid application/json: unexpected end of JSON input"}`)
		})
	}
}

func TestBodyOverEnvoyLimit(t *testing.T) {
	ensureTopics(t)
	big := bytes.Repeat([]byte("x"), 2<<20)
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			prior := before(t)
			code, _, _ := do(t, client.c, "POST", "/big", "text/plain", big)
			if code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413 from Envoy", code)
			}
			kafkatest.ExpectNothingWritten(t, stack.bootstrap, prior)
		})
	}
}

// A body Envoy accepts whose record exceeds batching.bytes: the /small
// route's config keeps the default, 1 MiB; base64 makes 900 KB of binary
// into 1.2 MB.
func TestRecordTooLarge(t *testing.T) {
	ensureTopics(t)
	data := bytes.Repeat([]byte{0xff}, 900_000)
	value := `{"body":"` + base64Std(data) + `","body_args":{},"body_base64":true}`
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			prior := before(t)
			code, body, ct := do(t, client.c, "POST", "/small", "application/octet-stream", data)
			// kafka-go's count: 22 bytes of framing, the value, 1 for the header count.
			expectRefused(t, code, body, ct, prior, 413, kafkatest.ErrorBody("Request Entity Too Large",
				fmt.Sprintf("the Kafka record is %d bytes, more than the 1048576 allowed (batching.bytes)", len(value)+23)))
		})
	}
}

// TestLargeJSONBody: a 512 KiB JSON body is in Kong's envelope twice (as
// body and as body_args), over 1 MiB: the default config's batching.bytes
// (4 MiB) and the topic's max.message.bytes (5 MiB) let it through intact.
func TestLargeJSONBody(t *testing.T) {
	ensureTopics(t)
	data := kafkatest.BigJSON(512 << 10)
	if len(data) != 512<<10 {
		t.Fatalf("BigJSON made %d bytes", len(data))
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		t.Fatal(err)
	}
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			prior := before(t)
			code, body, ct := do(t, client.c, "POST", "/large-json", "application/json", data)
			rec := expectSent(t, code, body, ct, prior, target{topic, -1})[0]
			if len(rec.Value) <= 1<<20 {
				t.Errorf("the record is %d bytes, not over 1 MiB", len(rec.Value))
			}
			var env map[string]json.RawMessage
			if err := json.Unmarshal(rec.Value, &env); err != nil {
				t.Fatalf("record value is not JSON: %v", err)
			}
			var gotBody string
			if err := json.Unmarshal(env["body"], &gotBody); err != nil || gotBody != string(data) {
				t.Errorf("body is not the request's body byte for byte (%d bytes, %v)", len(gotBody), err)
			}
			if !bytes.Equal(env["body_args"], compact.Bytes()) {
				t.Errorf("body_args is not the body compacted (%d bytes, want %d)", len(env["body_args"]), compact.Len())
			}
			delete(env, "body")
			delete(env, "body_args")
			rest, _ := json.Marshal(env)
			envelopeRecord(t, kafkatest.Record{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Value: rest, Headers: rec.Headers}, nil, "",
				fmt.Sprintf(`{"method":"POST","uri":"/large-json","uri_args":{},"headers":%s}`, headersJSON("application/json", len(data), "")))
		})
	}
}

// TestConcurrentRequestsLandExactlyOnce: 1000 requests at once, over
// HTTP/1.1 (1000 connections) and over h2c (1000 streams on one
// connection): each is answered 200 with the place of its own record, and
// each record is in Kafka exactly once.
func TestConcurrentRequestsLandExactlyOnce(t *testing.T) {
	ensureTopics(t)
	const n = 1000
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			landExactlyOnce(t, client.c, "/concurrent/"+client.name, n)
		})
	}
}

func landExactlyOnce(t *testing.T, client *http.Client, path string, n int) {
	prior := before(t)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	replies := make([]string, n)
	began := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body, _, err := send(context.Background(), client, "POST", path, "application/json", []byte(fmt.Sprintf(`{"id":%d}`, i)))
			replies[i] = body
			if err != nil || code != 200 {
				errs <- fmt.Sprintf("request %d: %d %s %v", i, code, body, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	t.Logf("%d requests in %s", n, time.Since(began).Round(time.Millisecond))
	failed := 0
	for e := range errs {
		if failed++; failed <= 10 {
			t.Error(e)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d requests failed", failed, n)
	}
	// Every record of the default topic since prior, by place.
	now := kafkatest.Snapshot(t, stack.bootstrap, map[string]int{topic: partitions})
	byPlace := map[kafkatest.Placed]float64{}
	seen := map[float64]int{}
	total := 0
	for p := 0; p < partitions; p++ {
		count := int(now[topic][p] - prior[topic][p])
		total += count
		for _, rec := range kafkatest.Fetch(t, stack.bootstrap, topic, p, prior[topic][p], count) {
			env, _ := decodeEnvelope(t, rec.Value)
			args, _ := env["body_args"].(map[string]any)
			id, ok := args["id"].(float64)
			if !ok || env["uri"] != path {
				t.Fatalf("unexpected record %s", rec)
			}
			seen[id]++
			byPlace[kafkatest.At(topic, p, rec.Offset)] = id
		}
	}
	if total != n {
		t.Errorf("%d records on %s, want %d", total, topic, n)
	}
	for i := range n {
		if seen[float64(i)] != 1 {
			t.Errorf("request %d landed %d times", i, seen[float64(i)])
		}
		// The reply names the place of the request's own record.
		var reply struct {
			Records []struct {
				Partition int   `json:"partition"`
				Offset    int64 `json:"offset"`
			} `json:"records"`
		}
		if err := json.Unmarshal([]byte(replies[i]), &reply); err != nil || len(reply.Records) != 1 {
			t.Errorf("request %d: reply %s", i, replies[i])
			continue
		}
		at := kafkatest.At(topic, reply.Records[0].Partition, reply.Records[0].Offset)
		if replies[i] != kafkatest.SentReply(at) {
			t.Errorf("request %d: reply %s, want %s", i, replies[i], kafkatest.SentReply(at))
		}
		if id, ok := byPlace[at]; !ok || id != float64(i) {
			t.Errorf("request %d was told %v, which holds request %v's record", i, at, id)
		}
	}
	kafkatest.ExpectGrowth(t, stack.bootstrap, prior, map[string]int{
		topic + "/0": int(now[topic][0] - prior[topic][0]), topic + "/1": int(now[topic][1] - prior[topic][1]),
		topic + "/2": int(now[topic][2] - prior[topic][2]),
	})
}

// TestPerRouteConfig: /audit's config (complete: its own bootstrap_servers)
// replaces the default on its route.
func TestPerRouteConfig(t *testing.T) {
	ensureTopics(t)
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			prior := before(t)
			code, body, ct := do(t, client.c, "PUT", "/audit/x", "application/json", []byte(`{}`))
			rec := expectSent(t, code, body, ct, prior, target{auditTopic, -1})[0]
			// The audit config forwards the method only and no record headers.
			kafkatest.ExpectRecord(t, rec, kafkatest.Record{Topic: auditTopic, Partition: rec.Partition, Offset: rec.Offset, Value: []byte(`{"method":"PUT"}`)})
		})
	}
}

// TestRouteNamesMissingConfig: a route naming a config the ext_proc server
// does not have gets the JSON 500.
func TestRouteNamesMissingConfig(t *testing.T) {
	onlyOn(t, extproc, "routes name the ext_proc server's configs; the module's per-route configs are in the route itself, there is no name to get wrong")
	ensureTopics(t)
	prior := before(t)
	code, body, ct := do(t, http1, "POST", "/nowhere", "text/plain", []byte("x"))
	expectRefused(t, code, body, ct, prior, 500,
		`{"message":"Internal Server Error","error":"the route selects kafka-upstream config \"missing\", which the server's config file does not define"}`)
}

// Kafka goes away: requests get the documented error, Envoy keeps serving,
// and publishing resumes once the broker is back (with fresh topics: the
// restarted broker starts empty).
func TestKafkaDown(t *testing.T) {
	ensureTopics(t)
	kafkaSh := filepath.Join(stack.root, "e2e", "kafka.sh")
	phase := time.Now()
	took := func(what string) {
		t.Logf("%s: %s", what, time.Since(phase).Round(time.Millisecond))
		phase = time.Now()
	}
	statsBefore, logStart := settledStats(t), adapterLogSize()
	if out, err := exec.Command(kafkaSh, "stop").CombinedOutput(); err != nil {
		t.Fatalf("kafka.sh stop: %v\n%s", err, out)
	}
	took("kafka.sh stop")
	// However the test ends, leave a broker for the tests after it; each
	// test creates the topics it needs.
	t.Cleanup(func() {
		if err := kafkaUp(); err != nil {
			if out, err := exec.Command(kafkaSh, "start").CombinedOutput(); err != nil {
				t.Errorf("kafka.sh start: %v\n%s", err, out)
			}
		}
	})

	for i := range 4 {
		client := clients[i%len(clients)]
		began := time.Now()
		code, body, ct := do(t, client.c, "POST", "/down", "text/plain", []byte("lost"))
		if ct != "application/json" {
			t.Errorf("content-type %q", ct)
		}
		// Connections are refused: the producer's three attempts fail
		// within a second, well before produce_timeout.
		want := `{"message":"Bad Gateway","error":"could not send message to topic"}`
		if code != 502 || body != want {
			t.Errorf("request %d (%s) with Kafka down: %d %s, want 502 %s", i, client.name, code, body, want)
		}
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("request %d took %s, more than produce_timeout %s + 2s", i, took, produceTimeout)
		}
	}
	if err := envoyReady(); err != nil {
		t.Errorf("envoy stopped serving: %v", err)
	}
	took("the requests with Kafka down")
	statsChange(t, statsBefore, map[string]float64{
		"kafka_upstream.requests.outcome.produce_failed": 4,
		"kafka_upstream.records_sent.topic." + topic:     0,
	})
	if stack.adapter == extproc {
		expectReachable(t, false)
	}
	outageLogs(t, logStart)
	took("a 10 s outage, its logs counted")

	// Async mode's health gating trips: the first request is buffered
	// (202), its delivery fails within a second (connections refused),
	// and from then on requests get 503 but for one probe a second.
	if code, body, _ := post(t, http1, "/async", "before gating"); code != 202 {
		t.Errorf("async, Kafka down, first request: %d %s, want 202", code, body)
	}
	gated := `{"message":"Service Unavailable","error":"the Kafka cluster is failing, so no record is buffered (async.health_gating); retry later"}`
	if err := waitFor(10*time.Second, func() error {
		code, body, _ := post(t, http1, "/async", "gated?")
		if code != 503 || body != gated {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	}); err != nil {
		t.Errorf("async health gating did not trip with Kafka down: %v", err)
	}
	took("async health gating tripping")

	if out, err := exec.Command(kafkaSh, "start").CombinedOutput(); err != nil {
		t.Fatalf("kafka.sh start: %v\n%s", err, out)
	}
	took("kafka.sh start")
	ensureTopics(t)
	prior := kafkatest.Snapshot(t, stack.bootstrap, map[string]int{topic: partitions})
	var last string
	if err := waitFor(60*time.Second, func() error {
		code, body, _ := do(t, http1, "POST", "/back", "text/plain", []byte("back"))
		if code != 200 {
			return fmt.Errorf("%d %s", code, body)
		}
		last = body
		return nil
	}); err != nil {
		t.Fatalf("publishing did not recover within 60s of Kafka's restart: %v", err)
	}
	took("the topics, and publishing again")
	if stack.adapter == extproc {
		expectReachable(t, true)
	}
	// And clears: a probe is delivered, then requests are buffered again.
	if err := waitFor(30*time.Second, func() error {
		for range 2 {
			if code, body, _ := post(t, http1, "/async", "after gating"); code != 202 {
				return fmt.Errorf("%d %s", code, body)
			}
		}
		return nil
	}); err != nil {
		t.Errorf("async health gating did not clear after Kafka's restart: %v", err)
	}
	took("async health gating clearing")
	// A request answered 504 may still be written once Kafka is back
	// (at-least-once, as documented), so /down records may come too.
	now := kafkatest.Snapshot(t, stack.bootstrap, map[string]int{topic: partitions})
	back := map[kafkatest.Placed]bool{}
	for p := 0; p < partitions; p++ {
		for _, rec := range kafkatest.Fetch(t, stack.bootstrap, topic, p, prior[topic][p], int(now[topic][p]-prior[topic][p])) {
			switch env, _ := decodeEnvelope(t, rec.Value); {
			case env["uri"] == "/back" && env["body"] == "back":
				back[kafkatest.At(topic, p, rec.Offset)] = true
			case env["uri"] == "/down" && env["body"] == "lost":
			default:
				t.Errorf("unexpected record after recovery: %s", rec)
			}
		}
	}
	found := false
	for at := range back {
		found = found || last == kafkatest.SentReply(at)
	}
	if !found {
		t.Errorf("the request answered %s after recovery is not in Kafka there (records of /back: %v)", last, back)
	}
}

func kafkaUp() error { return dial(stack.bootstrap) }

// Request trailers: the body is complete when the trailers come. Envoy
// hands ext_proc the buffered body with end_of_stream=false and, with
// request_trailer_mode SKIP, never the trailers; the module gets its last
// body chunk with end_of_stream=false and publishes at the trailers.
func TestRequestWithTrailers(t *testing.T) {
	ensureTopics(t)
	for _, client := range []struct {
		name string
		c    *http.Client
	}{{"http1-chunked", http1}, {"h2c", h2c}} {
		t.Run(client.name, func(t *testing.T) {
			prior := before(t)
			req, err := http.NewRequest("POST", stack.url+"/trailers", strings.NewReader("with trailers"))
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = -1 // chunked on HTTP/1.1, so trailers can follow
			req.Header.Set("Content-Type", "text/plain")
			req.Trailer = http.Header{"X-Checksum": {"abc"}}
			resp, err := client.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			resp.Body.Close()
			rec := expectSent(t, resp.StatusCode, buf.String(), resp.Header.Get("Content-Type"), prior, target{topic, -1})[0]
			env, _ := decodeEnvelope(t, rec.Value)
			if env["uri"] != "/trailers" || env["body"] != "with trailers" {
				t.Errorf("record %s", rec)
			}
		})
	}
}

// An ext_proc filter left at its default body mode (NONE) must not let
// bodies through to the route unpublished.
func TestBodyModeNoneIsRefused(t *testing.T) {
	onlyOn(t, extproc, "the body mode is ext_proc's processing_mode; the module always buffers the whole body")
	ensureTopics(t)
	prior := before(t)
	code, body, ct := do(t, http1, "POST", "/no-body-mode", "text/plain", []byte("x"))
	expectRefused(t, code, body, ct, prior, 500,
		`{"message":"Internal Server Error","error":"ext_proc request_body_mode must be BUFFERED, not NONE: the request has a body"}`)
}
