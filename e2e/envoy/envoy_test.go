//go:build e2e

package envoy_test

import (
	"bytes"
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

const sent = `{"message":"message sent"}`

var (
	http1 = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	h2c   = func() *http.Client {
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Protocols: p, DisableCompression: true}}
	}()
)

var requestID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// decodeEnvelope parses a record value; Envoy's random x-request-id is
// checked for shape and replaced, so the rest can be compared exactly.
func decodeEnvelope(t *testing.T, value []byte) map[string]any {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(value, &env); err != nil {
		t.Fatalf("record value is not JSON: %v\n%s", err, value)
	}
	if hs, ok := env["headers"].(map[string]any); ok {
		id, _ := hs["x-request-id"].(string)
		if !requestID.MatchString(id) {
			t.Errorf("x-request-id %q is not a UUID", id)
		}
		hs["x-request-id"] = "<uuid>"
	}
	return env
}

func expectEnvelope(t *testing.T, value []byte, want string) {
	t.Helper()
	got := decodeEnvelope(t, value)
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if !reflect.DeepEqual(got, w) {
		t.Errorf("record\n got %s\nwant %s", value, want)
	}
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

// sendMarker publishes a unique record and returns its uri: reading up to
// it proves no other record slipped in before it.
func sendMarker(t *testing.T) string {
	t.Helper()
	path := fmt.Sprintf("/marker/%d", time.Now().UnixNano())
	if code, body, _ := do(t, http1, "POST", path, "text/plain", []byte("m")); code != 200 || body != sent {
		t.Fatalf("marker: %d %s", code, body)
	}
	return path
}

// expectNothingPublishedSince checks that the next record after offset is
// a fresh marker.
func expectNothingPublishedSince(t *testing.T, offset int64) {
	t.Helper()
	marker := sendMarker(t)
	rec := kafkatest.Read(t, stack.bootstrap, topic, offset, 1)[0]
	if env := decodeEnvelope(t, rec.Value); env["uri"] != marker {
		t.Errorf("a record was published before the marker: %s", rec.Value)
	}
}

func TestContentTypes(t *testing.T) {
	kafkatest.EnsureTopic(t, stack.bootstrap, topic)
	multipart := "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n2\r\n--B--\r\n"
	tests := []struct {
		name, contentType, body, bodyFields string
	}{
		{"json", "application/json", `{"n": 1.50, "s": "<é>"}`,
			`"body":"{\"n\": 1.50, \"s\": \"<é>\"}","body_args":{"n":1.5,"s":"<é>"}`},
		{"form", "application/x-www-form-urlencoded", "a=1&a=2&b=x+y",
			`"body":"a=1&a=2&b=x+y","body_args":{"a":["1","2"],"b":"x y"}`},
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
		for _, client := range []struct {
			name string
			c    *http.Client
		}{{"http1", http1}, {"h2c", h2c}} {
			t.Run(tt.name+"/"+client.name, func(t *testing.T) {
				start := kafkatest.EndOffset(t, stack.bootstrap, topic)
				path := "/ingest/" + tt.name + "?src=" + client.name
				code, body, ct := do(t, client.c, "POST", path, tt.contentType, []byte(tt.body))
				if code != 200 || body != sent || ct != "application/json" {
					t.Fatalf("reply %d %q %q, want 200 %q application/json", code, body, ct, sent)
				}
				rec := kafkatest.Read(t, stack.bootstrap, topic, start, 1)[0]
				want := fmt.Sprintf(`{"method":"POST","uri":%q,"uri_args":{"src":%q},"headers":%s,%s}`,
					path, client.name, headersJSON(tt.contentType, len(tt.body), ""), tt.bodyFields)
				expectEnvelope(t, rec.Value, want)
			})
		}
	}
}

func TestBodylessRequests(t *testing.T) {
	kafkatest.EnsureTopic(t, stack.bootstrap, topic)
	for _, method := range []string{"GET", "DELETE", "HEAD", "OPTIONS"} {
		t.Run(method, func(t *testing.T) {
			start := kafkatest.EndOffset(t, stack.bootstrap, topic)
			code, body, ct := do(t, http1, method, "/things/7?a=1&a=2&flag&q=x%20y", "", nil,
				"X-Tag", "one", "X-Tag", "two")
			wantBody := sent
			if method == "HEAD" {
				wantBody = "" // HEAD replies carry no body
			}
			if code != 200 || body != wantBody || ct != "application/json" {
				t.Fatalf("reply %d %q %q", code, body, ct)
			}
			rec := kafkatest.Read(t, stack.bootstrap, topic, start, 1)[0]
			want := fmt.Sprintf(`{"method":%q,"uri":"/things/7?a=1&a=2&flag&q=x%%20y","uri_args":{"a":["1","2"],"flag":true,"q":"x y"},`+
				`"headers":%s,"body":"","body_args":{},"body_base64":true}`,
				method, headersJSON("", -1, `"x-tag":["one","two"]`))
			expectEnvelope(t, rec.Value, want)
		})
	}
}

func TestBadBody(t *testing.T) {
	kafkatest.EnsureTopic(t, stack.bootstrap, topic)
	start := kafkatest.EndOffset(t, stack.bootstrap, topic)
	code, body, ct := do(t, http1, "POST", "/bad", "application/json", []byte(`{"a":`))
	want := `{"message":"Bad Request","error":"body is not valid application/json: unexpected end of JSON input"}`
	if code != 400 || body != want || ct != "application/json" {
		t.Fatalf("reply %d %q %q, want 400 %q", code, body, ct, want)
	}
	expectNothingPublishedSince(t, start)
}

func TestBodyOverEnvoyLimit(t *testing.T) {
	kafkatest.EnsureTopic(t, stack.bootstrap, topic)
	big := bytes.Repeat([]byte("x"), 2<<20)
	for _, client := range []struct {
		name string
		c    *http.Client
	}{{"http1", http1}, {"h2c", h2c}} {
		t.Run(client.name, func(t *testing.T) {
			start := kafkatest.EndOffset(t, stack.bootstrap, topic)
			code, _, _ := do(t, client.c, "POST", "/big", "text/plain", big)
			if code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413 from Envoy", code)
			}
			expectNothingPublishedSince(t, start)
		})
	}
}

// A body Envoy accepts whose record exceeds batching.bytes (1 MiB): base64
// makes 900 KB of binary into 1.2 MB.
func TestRecordTooLarge(t *testing.T) {
	kafkatest.EnsureTopic(t, stack.bootstrap, topic)
	start := kafkatest.EndOffset(t, stack.bootstrap, topic)
	code, body, _ := do(t, http1, "POST", "/large", "application/octet-stream", bytes.Repeat([]byte{0xff}, 900_000))
	want := `{"message":"Request Entity Too Large","error":"the Kafka record is larger than the 1048576 bytes allowed"}`
	if code != 413 || body != want {
		t.Fatalf("reply %d %q, want 413 %q", code, body, want)
	}
	expectNothingPublishedSince(t, start)
}

func TestConcurrentRequestsLandExactlyOnce(t *testing.T) {
	kafkatest.EnsureTopic(t, stack.bootstrap, topic)
	const n = 200
	start := kafkatest.EndOffset(t, stack.bootstrap, topic)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body, _ := do(t, http1, "POST", "/concurrent", "application/json", []byte(fmt.Sprintf(`{"id":%d}`, i)))
			if code != 200 || body != sent {
				errs <- fmt.Sprintf("request %d: %d %s", i, code, body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		return
	}
	seen := map[float64]int{}
	for _, rec := range kafkatest.Read(t, stack.bootstrap, topic, start, n) {
		env := decodeEnvelope(t, rec.Value)
		args, _ := env["body_args"].(map[string]any)
		id, ok := args["id"].(float64)
		if !ok || env["uri"] != "/concurrent" {
			t.Fatalf("unexpected record %s", rec.Value)
		}
		seen[id]++
	}
	for i := range n {
		if seen[float64(i)] != 1 {
			t.Errorf("request %d landed %d times", i, seen[float64(i)])
		}
	}
	expectNothingPublishedSince(t, start+n)
}

func TestPerRouteConfig(t *testing.T) {
	kafkatest.EnsureTopic(t, stack.bootstrap, auditTopic)
	start := kafkatest.EndOffset(t, stack.bootstrap, auditTopic)
	if code, body, _ := do(t, http1, "PUT", "/audit/x", "application/json", []byte(`{}`)); code != 200 || body != sent {
		t.Fatalf("reply %d %s", code, body)
	}
	rec := kafkatest.Read(t, stack.bootstrap, auditTopic, start, 1)[0]
	expectEnvelope(t, rec.Value, `{"method":"PUT"}`)

	code, body, _ := do(t, http1, "POST", "/nowhere", "text/plain", []byte("x"))
	want := `{"message":"Internal Server Error","error":"the route selects kafka-upstream config \"missing\", which the server's config file does not define"}`
	if code != 500 || body != want {
		t.Errorf("reply %d %s, want 500 %s", code, body, want)
	}
}

// Kafka goes away: requests get the documented error, Envoy keeps serving,
// and publishing resumes once the broker is back.
func TestKafkaDown(t *testing.T) {
	kafkatest.EnsureTopic(t, stack.bootstrap, topic)
	kafkaSh := filepath.Join(stack.root, "e2e", "kafka.sh")
	if out, err := exec.Command(kafkaSh, "stop").CombinedOutput(); err != nil {
		t.Fatalf("kafka.sh stop: %v\n%s", err, out)
	}
	// However the test ends, leave a broker for the tests after it.
	t.Cleanup(func() {
		if err := kafkaUp(); err != nil {
			if out, err := exec.Command(kafkaSh, "start").CombinedOutput(); err != nil {
				t.Errorf("kafka.sh start: %v\n%s", err, out)
			}
		}
	})

	for i := range 3 {
		began := time.Now()
		code, body, ct := do(t, http1, "POST", "/down", "text/plain", []byte("lost"))
		if ct != "application/json" {
			t.Errorf("content-type %q", ct)
		}
		// Connections are refused: the producer's three attempts fail
		// within a second, well before produce_timeout.
		want := `{"message":"Bad Gateway","error":"could not send message to topic"}`
		if code != 502 || body != want {
			t.Errorf("request %d with Kafka down: %d %s, want 502 %s", i, code, body, want)
		}
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("request %d took %s, more than produce_timeout %s + 2s", i, took, produceTimeout)
		}
	}
	if err := envoyReady(); err != nil {
		t.Errorf("envoy stopped serving: %v", err)
	}

	if out, err := exec.Command(kafkaSh, "start").CombinedOutput(); err != nil {
		t.Fatalf("kafka.sh start: %v\n%s", err, out)
	}
	kafkatest.EnsureTopic(t, stack.bootstrap, topic)
	start := kafkatest.EndOffset(t, stack.bootstrap, topic)
	if err := waitFor(60*time.Second, func() error {
		code, body, _ := do(t, http1, "POST", "/back", "text/plain", []byte("back"))
		if code != 200 || body != sent {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	}); err != nil {
		t.Fatalf("publishing did not recover within 60s of Kafka's restart: %v", err)
	}
	// A request answered 504 may still be written once Kafka is back
	// (at-least-once, as documented), so /down records may come first.
	end := kafkatest.EndOffset(t, stack.bootstrap, topic)
	back := 0
	for _, rec := range kafkatest.Read(t, stack.bootstrap, topic, start, int(end-start)) {
		switch env := decodeEnvelope(t, rec.Value); {
		case env["uri"] == "/back" && env["body"] == "back":
			back++
		case env["uri"] == "/down" && env["body"] == "lost":
		default:
			t.Errorf("unexpected record after recovery: %s", rec.Value)
		}
	}
	if back == 0 {
		t.Error("the request answered 200 after recovery is not in Kafka")
	}
}

func kafkaUp() error { return dial(stack.bootstrap) }

// Request trailers: Envoy hands ext_proc the buffered body with
// end_of_stream=false and, with request_trailer_mode SKIP, never the
// trailers; the body alone must complete the request.
func TestRequestWithTrailers(t *testing.T) {
	kafkatest.EnsureTopic(t, stack.bootstrap, topic)
	for _, client := range []struct {
		name string
		c    *http.Client
	}{{"http1-chunked", http1}, {"h2c", h2c}} {
		t.Run(client.name, func(t *testing.T) {
			start := kafkatest.EndOffset(t, stack.bootstrap, topic)
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
			if resp.StatusCode != 200 || buf.String() != sent {
				t.Fatalf("reply %d %q", resp.StatusCode, buf.String())
			}
			env := decodeEnvelope(t, kafkatest.Read(t, stack.bootstrap, topic, start, 1)[0].Value)
			if env["uri"] != "/trailers" || env["body"] != "with trailers" {
				t.Errorf("record %v", env)
			}
		})
	}
}

// An ext_proc filter left at its default body mode (NONE) must not let
// bodies through to the route unpublished.
func TestBodyModeNoneIsRefused(t *testing.T) {
	code, body, _ := do(t, http1, "POST", "/no-body-mode", "text/plain", []byte("x"))
	want := `{"message":"Internal Server Error","error":"ext_proc request_body_mode must be BUFFERED, not NONE: the request has a body"}`
	if code != 500 || body != want {
		t.Errorf("reply %d %q, want 500 %s", code, body, want)
	}
}
