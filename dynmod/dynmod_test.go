package dynmod_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafka-upstream/envoy-kafka-upstream/dynmod"
	"github.com/kafka-upstream/envoy-kafka-upstream/dynmod/envoyfake"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

const (
	topic = "events"
	// wait bounds every wait on the module's goroutine or on Kafka.
	wait = 10 * time.Second
)

// check drains what earlier tests left and, when the test ends, fails it
// on any misuse of Envoy's ABI the fake saw, on a publishing goroutine
// still running or on a stream Envoy would still hold.
func check(t *testing.T) {
	t.Helper()
	envoyfake.Violations()
	t.Cleanup(func() {
		deadline := time.Now().Add(wait)
		for dynmod.Publishing() != 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := dynmod.Publishing(); n != 0 {
			t.Errorf("%d publishing goroutines left", n)
		}
		if n := dynmod.LiveFilters(); n != 0 {
			t.Errorf("%d streams not destroyed", n)
		}
		for _, v := range envoyfake.Violations() {
			t.Errorf("ABI misuse: %s", v)
		}
	})
}

func brokers(c *kfake.Cluster) []any {
	var out []any
	for _, a := range c.ListenAddrs() {
		out = append(out, a)
	}
	return out
}

// rawConfig publishes bodies as they came to topic of c.
func rawConfig(c *kfake.Cluster, extra map[string]any) map[string]any {
	fields := map[string]any{"bootstrap_servers": brokers(c), "topic": topic, "format": "raw"}
	for k, v := range extra {
		fields[k] = v
	}
	return fields
}

func jsonOf(t *testing.T, v any) []byte {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// newConfig loads a filter-level config as Envoy does (a Struct arrives
// as JSON) and destroys it when the test ends, waiting for its producer.
func newConfig(t *testing.T, fields map[string]any) uintptr {
	t.Helper()
	h := envoyfake.ConfigNew(dynmod.Name, jsonOf(t, fields))
	if h == 0 {
		t.Fatalf("config refused: %v", envoyfake.Logs())
	}
	closer := dynmod.Closer(h)
	t.Cleanup(func() {
		envoyfake.ConfigDestroy(h)
		_ = closer()
	})
	return h
}

func newRouteConfig(t *testing.T, fields map[string]any) uintptr {
	t.Helper()
	h := envoyfake.PerRouteConfigNew(dynmod.Name, jsonOf(t, fields))
	if h == 0 {
		t.Fatalf("per-route config refused: %v", envoyfake.Logs())
	}
	t.Cleanup(func() { envoyfake.PerRouteConfigDestroy(h) })
	return h
}

func headers(method, path string, extra ...string) [][2]string {
	hs := [][2]string{{":method", method}, {":path", path}, {":authority", "example.com"}, {":scheme", "http"}}
	for i := 0; i+1 < len(extra); i += 2 {
		hs = append(hs, [2]string{extra[i], extra[i+1]})
	}
	return hs
}

func sent(topic string, partition, offset int) string {
	return fmt.Sprintf(`{"message":"message sent","records":[{"topic":%q,"partition":%d,"offset":%d}]}`, topic, partition, offset)
}

// finish delivers the publishing goroutine's commit on the "worker
// thread" and checks the stream's end: exactly one reply, JSON, with
// details; the stream destroyed by it; one scheduler, deleted once.
func finish(t *testing.T, s *envoyfake.Stream) envoyfake.Reply {
	t.Helper()
	if !s.RunScheduled(wait) {
		t.Fatalf("no scheduler commit within %s", wait)
	}
	replies := s.Replies()
	if len(replies) != 1 {
		t.Fatalf("replies = %+v, want exactly one", replies)
	}
	if !s.Destroyed() {
		t.Error("the reply did not end the stream")
	}
	if created, deleted := s.Schedulers(); created != 1 || deleted != 1 {
		t.Errorf("schedulers created %d, deleted %d; want 1 and 1", created, deleted)
	}
	checkShape(t, replies[0])
	return replies[0]
}

func checkShape(t *testing.T, r envoyfake.Reply) {
	t.Helper()
	if len(r.Headers) == 0 || r.Headers[0] != [2]string{"content-type", "application/json"} {
		t.Errorf("reply headers = %q, want content-type: application/json first", r.Headers)
	}
	if r.Details == "" || strings.ContainsAny(r.Details, " \t\r\n") {
		t.Errorf("reply details = %q, want a token", r.Details)
	}
}

func expect(t *testing.T, r envoyfake.Reply, status int, body, details string) {
	t.Helper()
	if r.Status != status || r.Body != body || r.Details != details {
		t.Errorf("reply = %d %s (%s)\nwant    %d %s (%s)", r.Status, r.Body, r.Details, status, body, details)
	}
}

func TestProgramInitStatesEnvoysABIVersion(t *testing.T) {
	if got := envoyfake.ProgramInit(); got != "v0.2.0" {
		t.Errorf("on_program_init = %q, want v0.2.0 (Envoy 1.40.0)", got)
	}
}

func TestBodylessRequestIsPublishedAtHeaders(t *testing.T) {
	check(t)
	c := kfaketest.NewCluster(t, topic)
	h := newConfig(t, map[string]any{"bootstrap_servers": brokers(c), "topic": topic, "forward_method": true, "forward_uri": true})

	s := envoyfake.NewStream(h)
	if got := s.RequestHeaders(headers("GET", "/orders?id=1"), true); got != envoyfake.StopIteration {
		t.Fatalf("request_headers(end_of_stream) = %d, want StopIteration", got)
	}
	expect(t, finish(t, s), 200, sent(topic, 0, 0), "kafka_upstream_sent")
	got := kfaketest.ReadValues(t, c, topic, 1)[0]
	if !strings.Contains(got, `"method":"GET"`) || !strings.Contains(got, `"uri":"/orders?id=1"`) {
		t.Errorf("record = %s, want the method and uri", got)
	}
}

// Envoy holds the body in two parts: what it buffered (the chunks the
// hook asked to buffer) and what it received in the current call. At the
// end of an HTTP/1.1 body the current chunk is empty; at the end of an
// HTTP/2 one it is the last DATA frame.
func TestBodyIsTheBufferedPartAndTheLastChunk(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string // the last one comes with end_of_stream
		want   string
	}{
		{"one chunk (h2, one DATA frame)", []string{"hello"}, "hello"},
		{"http/1.1: buffered, then an empty end", []string{"hel", "lo, ", "world", ""}, "hello, world"},
		{"h2: buffered, then the last frame", []string{"hel", "lo, ", "world"}, "hello, world"},
		{"chunked, empty body", []string{""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t)
			c := kfaketest.NewCluster(t, topic)
			s := envoyfake.NewStream(newConfig(t, rawConfig(c, nil)))
			if got := s.RequestHeaders(headers("POST", "/raw", "content-type", "text/plain"), false); got != envoyfake.StopIteration {
				t.Fatalf("request_headers = %d, want StopIteration", got)
			}
			for i, chunk := range tt.chunks {
				last := i == len(tt.chunks)-1
				if got := s.RequestBody([]byte(chunk), last); got != envoyfake.StopIterationAndBuffer {
					t.Fatalf("request_body(%q, end_of_stream=%v) = %d, want StopIterationAndBuffer", chunk, last, got)
				}
				if !last {
					if created, _ := s.Schedulers(); created != 0 {
						t.Fatal("published before the end of the body")
					}
				}
			}
			expect(t, finish(t, s), 200, sent(topic, 0, 0), "kafka_upstream_sent")
			if got := kfaketest.ReadValues(t, c, topic, 1)[0]; got != tt.want {
				t.Errorf("record = %q, want %q", got, tt.want)
			}
		})
	}
}

// A filter before this one buffered the body and resumed: the chunk of the
// call is the buffered body itself, which must not be published twice.
func TestReceivedBufferedBodyIsReadOnce(t *testing.T) {
	check(t)
	c := kfaketest.NewCluster(t, topic)
	s := envoyfake.NewStream(newConfig(t, rawConfig(c, nil)))
	s.RequestHeaders(headers("POST", "/raw"), false)
	s.RequestBody([]byte("whole body"), false)
	s.ReceivedIsBuffered = true
	s.RequestBody([]byte("whole body"), true)
	finish(t, s)
	if got := kfaketest.ReadValues(t, c, topic, 1)[0]; got != "whole body" {
		t.Errorf("record = %q, want the body once", got)
	}
}

func TestTrailersEndTheRequest(t *testing.T) {
	for _, chunks := range [][]string{{"abc", "def"}, nil} {
		t.Run(fmt.Sprintf("%d chunks", len(chunks)), func(t *testing.T) {
			check(t)
			c := kfaketest.NewCluster(t, topic)
			s := envoyfake.NewStream(newConfig(t, rawConfig(c, nil)))
			s.RequestHeaders(headers("POST", "/grpc", "content-type", "application/grpc"), false)
			for _, chunk := range chunks {
				// With trailers to come, no chunk ends the stream.
				s.RequestBody([]byte(chunk), false)
			}
			if got := s.RequestTrailers([][2]string{{"grpc-timeout", "1S"}}); got != envoyfake.StopIteration {
				t.Fatalf("request_trailers = %d, want StopIteration", got)
			}
			expect(t, finish(t, s), 200, sent(topic, 0, 0), "kafka_upstream_sent")
			if got, want := kfaketest.ReadValues(t, c, topic, 1)[0], strings.Join(chunks, ""); got != want {
				t.Errorf("record = %q, want %q", got, want)
			}
		})
	}
}

func TestConnectIsRefusedBeforeBuffering(t *testing.T) {
	check(t)
	c := kfaketest.NewCluster(t, topic)
	s := envoyfake.NewStream(newConfig(t, rawConfig(c, nil)))
	if got := s.RequestHeaders([][2]string{{":method", "CONNECT"}, {":authority", "example.com:443"}}, false); got != envoyfake.StopIteration {
		t.Fatalf("request_headers = %d, want StopIteration", got)
	}
	replies := s.Replies()
	if len(replies) != 1 {
		t.Fatalf("replies = %+v, want one, sent from request_headers", replies)
	}
	r := replies[0]
	checkShape(t, r)
	expect(t, r, 405, `{"message":"Method Not Allowed","error":"CONNECT is not supported: kafka-upstream publishes requests, it opens no tunnels"}`,
		"kafka_upstream_method_not_allowed")
	if allow, _ := r.Header("allow"); allow != "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" {
		t.Errorf("allow = %q", allow)
	}
	if created, _ := s.Schedulers(); created != 0 || !s.Destroyed() {
		t.Errorf("schedulers created %d, destroyed %v; want none, and the stream ended", created, s.Destroyed())
	}
	if n := kfaketest.Records(t, c, topic); n != 0 {
		t.Errorf("%d records published", n)
	}
}

// The client goes (or Envoy times the stream out) while the record is being
// published: nothing may be sent to the destroyed stream, the scheduler
// goes exactly once, and the goroutine ends.
func TestStreamDestroyedWhilePublishing(t *testing.T) {
	t.Run("before the commit", func(t *testing.T) {
		check(t)
		c := kfaketest.NewCluster(t, topic)
		h := newConfig(t, rawConfig(c, nil))
		arrived, release := kfaketest.HoldProduce(t, c)
		s := envoyfake.NewStream(h)
		s.RequestHeaders(headers("GET", "/"), true)
		<-arrived
		s.Destroy()
		release()
		waitPublishing(t)
		if _, ok := s.WaitCommit(100 * time.Millisecond); ok {
			t.Error("the goroutine committed to a destroyed stream's scheduler")
		}
		if created, deleted := s.Schedulers(); created != 1 || deleted != 1 {
			t.Errorf("schedulers created %d, deleted %d; want 1 and 1", created, deleted)
		}
		if r := s.Replies(); len(r) != 0 {
			t.Errorf("replies %+v to a destroyed stream", r)
		}
	})
	t.Run("after the commit, before it runs", func(t *testing.T) {
		check(t)
		c := kfaketest.NewCluster(t, topic)
		s := envoyfake.NewStream(newConfig(t, rawConfig(c, nil)))
		s.RequestHeaders(headers("GET", "/"), true)
		if _, ok := s.WaitCommit(wait); !ok {
			t.Fatal("no commit")
		}
		// Envoy drops the event of a destroyed stream.
		s.Destroy()
		waitPublishing(t)
		if created, deleted := s.Schedulers(); created != 1 || deleted != 1 {
			t.Errorf("schedulers created %d, deleted %d; want 1 and 1", created, deleted)
		}
		if r := s.Replies(); len(r) != 0 {
			t.Errorf("replies %+v to a destroyed stream", r)
		}
	})
}

func waitPublishing(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for dynmod.Publishing() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d publishing goroutines still running after %s", dynmod.Publishing(), wait)
		}
		time.Sleep(time.Millisecond)
	}
}

// Over HTTP/2 the last DATA frame comes with end_of_stream before Envoy
// buffers it: a body over the buffer limit must be left to Envoy's 413,
// not published.
func TestBodyOverTheBufferLimitIsLeftToEnvoy(t *testing.T) {
	check(t)
	c := kfaketest.NewCluster(t, topic)
	s := envoyfake.NewStream(newConfig(t, rawConfig(c, nil)))
	s.BufferLimit = 10
	s.RequestHeaders(headers("POST", "/raw"), false)
	s.RequestBody([]byte("123456"), false)
	if got := s.RequestBody([]byte("7890X"), true); got != envoyfake.StopIterationAndBuffer {
		t.Fatalf("request_body = %d, want StopIterationAndBuffer (Envoy's buffer limit answers)", got)
	}
	if r := s.Replies(); len(r) != 1 || !r[0].FromEnvoy || r[0].Status != 413 {
		t.Errorf("replies = %+v, want Envoy's 413 only", r)
	}
	if created, _ := s.Schedulers(); created != 0 {
		t.Error("published a body over the limit")
	}

	// Exactly at the limit it is published.
	s = envoyfake.NewStream(newConfig(t, rawConfig(c, nil)))
	s.BufferLimit = 10
	s.RequestHeaders(headers("POST", "/raw"), false)
	s.RequestBody([]byte("123456"), false)
	s.RequestBody([]byte("7890"), true)
	expect(t, finish(t, s), 200, sent(topic, 0, 0), "kafka_upstream_sent")
}

func TestHeaderNamesAreLowerCased(t *testing.T) {
	check(t)
	c := kfaketest.NewCluster(t, topic)
	s := envoyfake.NewStream(newConfig(t, map[string]any{"bootstrap_servers": brokers(c), "topic": topic, "forward_headers": true}))
	s.RequestHeaders(headers("GET", "/", "X-Tenant", "acme"), true)
	finish(t, s)
	if got := kfaketest.ReadValues(t, c, topic, 1)[0]; !strings.Contains(got, `"x-tenant":"acme"`) {
		t.Errorf("record = %s, want header x-tenant", got)
	}
}

func TestPanicWhilePublishingAnswers500(t *testing.T) {
	check(t)
	c := kfaketest.NewCluster(t, topic)
	h := newConfig(t, rawConfig(c, nil))
	closer := dynmod.Closer(h)
	dynmod.BreakPipeline(h)
	t.Cleanup(func() { _ = closer() })
	s := envoyfake.NewStream(h)
	s.RequestHeaders(headers("GET", "/"), true)
	expect(t, finish(t, s), 500, `{"message":"Internal Server Error","error":"internal error in the kafka-upstream filter"}`,
		"kafka_upstream_internal_error")
	if !logged(envoyfake.Logs(), 4, `msg="panic while publishing"`) {
		t.Errorf("no panic logged at error level: %v", envoyfake.Logs())
	}
}

// A panic in a hook must not unwind into Envoy: it is logged, and the
// stream gets the JSON 500 when there is one to answer.
func TestPanicInAHookAnswers500(t *testing.T) {
	check(t)
	c := kfaketest.NewCluster(t, topic)
	h := newConfig(t, rawConfig(c, nil))
	gone := envoyfake.PerRouteConfigNew(dynmod.Name, []byte(`{"topic": "other"}`))
	envoyfake.PerRouteConfigDestroy(gone) // a stale handle: looking it up panics

	s := envoyfake.NewStream(h)
	s.RouteConfig = gone
	if got := s.RequestHeaders(headers("GET", "/"), true); got != envoyfake.StopIteration {
		t.Fatalf("request_headers = %d, want StopIteration", got)
	}
	r := s.Replies()
	if len(r) != 1 {
		t.Fatalf("replies = %+v, want the 500", r)
	}
	expect(t, r[0], 500, `{"message":"Internal Server Error","error":"internal error in the kafka-upstream filter"}`, "kafka_upstream_internal_error")
	if !logged(envoyfake.Logs(), 4, `msg="panic in a hook" hook=http_filter_request_headers`) {
		t.Errorf("no panic logged: %v", envoyfake.Logs())
	}
}

func logged(logs []envoyfake.Log, level int, fragment string) bool {
	for _, l := range logs {
		if l.Level == level && strings.HasPrefix(l.Message, "kafka-upstream: ") && strings.Contains(l.Message, fragment) {
			return true
		}
	}
	return false
}

func TestBadConfigIsRejectedWithTheFieldNamed(t *testing.T) {
	tests := []struct {
		name, filter, config, want string
	}{
		{"required fields missing", dynmod.Name, `{}`, "bootstrap_servers: must not be empty; topic: must not be empty"},
		{"no config", dynmod.Name, ``, "filter_config: missing"},
		{"unknown field", dynmod.Name, `{"bootstrap_servers": ["k:9092"], "topic": "t", "topc": "t"}`, "topc: unknown field"},
		{"bad values", dynmod.Name, `{"bootstrap_servers": ["nohost"], "topic": "bad topic!", "required_acks": 2}`,
			`bootstrap_servers[0]: \"nohost\" is not host:port; topic: \"bad topic!\" is not a valid Kafka topic name`},
		{"duration without unit", dynmod.Name, `{"bootstrap_servers": ["k:9092"], "topic": "t", "produce_timeout": "2"}`,
			"produce_timeout: invalid google.protobuf.Duration value"},
		{"bad YAML (StringValue)", dynmod.Name, "bootstrap_servers: [k:9092\ntopic: t", "config: "},
		{"another filter", "other", `{"bootstrap_servers": ["k:9092"], "topic": "t"}`,
			`filter_name: \"other\" is not a filter of this module; the module has one filter, \"kafka-upstream\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(envoyfake.Logs())
			if h := envoyfake.ConfigNew(tt.filter, []byte(tt.config)); h != 0 {
				envoyfake.ConfigDestroy(h)
				t.Fatal("config accepted")
			}
			logs := envoyfake.Logs()[before:]
			if !logged(logs, 4, `msg="filter_config rejected" error="`+tt.want) {
				t.Errorf("logs = %v\nwant an error with %s", logs, tt.want)
			}
		})
	}
}

func TestConfigFormsAccepted(t *testing.T) {
	check(t)
	c := kfaketest.NewCluster(t, topic)
	forms := map[string]string{
		"JSON (Struct, TypedStruct value, StringValue)": fmt.Sprintf(`{"bootstrap_servers": [%q], "topic": %q, "format": "raw"}`, c.ListenAddrs()[0], topic),
		"YAML (StringValue, BytesValue)":                fmt.Sprintf("bootstrap_servers: [%q]\ntopic: %s\nformat: raw\n", c.ListenAddrs()[0], topic),
	}
	offset := 0
	for name, cfg := range forms {
		t.Run(name, func(t *testing.T) {
			h := envoyfake.ConfigNew(dynmod.Name, []byte(cfg))
			if h == 0 {
				t.Fatalf("refused: %v", envoyfake.Logs())
			}
			closer := dynmod.Closer(h)
			defer func() { envoyfake.ConfigDestroy(h); _ = closer() }()
			s := envoyfake.NewStream(h)
			s.RequestHeaders(headers("GET", "/"), true)
			expect(t, finish(t, s), 200, sent(topic, 0, offset), "kafka_upstream_sent")
			offset++
		})
	}
}

// Per-route configs, as the golang filter's Merge: one without
// bootstrap_servers is laid over the filter's config and shares its
// producer; one with them replaces it.
func TestPerRouteConfigs(t *testing.T) {
	check(t)
	c := kfaketest.NewCluster(t, topic, "raw-events", "cloudevents", "other")
	h := newConfig(t, map[string]any{"bootstrap_servers": brokers(c), "topic": topic,
		"forward_method": true, "forward_body": false, "headers": map[string]any{"forward_http_headers_as_record_headers": true, "include_headers": []any{"x-tenant"}}})
	raw := newRouteConfig(t, map[string]any{"topic": "raw-events", "format": "raw"})

	publish := func(route uintptr, body string) envoyfake.Reply {
		t.Helper()
		s := envoyfake.NewStream(h)
		s.RouteConfig = route
		s.RequestHeaders(headers("POST", "/raw", "x-tenant", "acme"), false)
		s.RequestBody([]byte(body), true)
		return finish(t, s)
	}
	// Twice: the overlay is built once and cached.
	expect(t, publish(raw, "one"), 200, sent("raw-events", 0, 0), "kafka_upstream_sent")
	expect(t, publish(raw, "two"), 200, sent("raw-events", 0, 1), "kafka_upstream_sent")
	records := kfaketest.ReadRecords(t, c, "raw-events", 2)
	for i, want := range []string{"one", "two"} {
		// The route's format, the filter's record headers.
		if records[i].Value != want || len(records[i].Headers) != 1 || records[i].Headers[0] != (kfaketest.Header{Key: "x-tenant", Value: "acme"}) {
			t.Errorf("record %d = %v, want %q with header x-tenant", i, records[i], want)
		}
	}
	// No route config: the filter's.
	expect(t, publish(0, "three"), 200, sent(topic, 0, 0), "kafka_upstream_sent")

	// A complete per-route config: its own cluster and producer.
	own := newRouteConfig(t, map[string]any{"bootstrap_servers": brokers(c), "topic": "other"})
	ownCloser := dynmod.RouteCloser(own)
	t.Cleanup(func() { _ = ownCloser() })
	expect(t, publish(own, "four"), 200, sent("other", 0, 0), "kafka_upstream_sent")

	// One that does not fit its parent (it turns off the one forward_*
	// flag left on): every request says why.
	// It is answered at the request headers, before any body is buffered.
	misfit := newRouteConfig(t, map[string]any{"forward_method": false})
	s := envoyfake.NewStream(h)
	s.RouteConfig = misfit
	s.RequestHeaders(headers("POST", "/raw"), false)
	if r := s.Replies(); len(r) != 1 || r[0].Status != 500 || r[0].Details != "kafka_upstream_misconfigured" ||
		!strings.Contains(r[0].Body, "does not fit the filter's: forward_*: at least one of") {
		t.Errorf("misfit replies = %+v", r)
	}

	// Destroying a route config leaves the filter's producer open.
	envoyfake.PerRouteConfigDestroy(envoyfake.PerRouteConfigNew(dynmod.Name, []byte(`{"topic": "raw-events"}`)))
	expect(t, publish(raw, "six"), 200, sent("raw-events", 0, 2), "kafka_upstream_sent")
}

func TestPerRouteConfigErrors(t *testing.T) {
	tests := []struct{ name, filter, config, want string }{
		{"changes the shared producer", dynmod.Name, `{"produce_timeout": "1s", "topic": "x"}`,
			"produce_timeout: a config without bootstrap_servers shares its parent's Kafka producer"},
		{"bad field", dynmod.Name, `{"topic": "bad topic!"}`, `topic: \"bad topic!\" is not a valid Kafka topic name`},
		{"another filter", "other", `{"topic": "x"}`, `filter_name: \"other\" is not a filter of this module`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(envoyfake.Logs())
			if h := envoyfake.PerRouteConfigNew(tt.filter, []byte(tt.config)); h != 0 {
				envoyfake.PerRouteConfigDestroy(h)
				t.Fatal("accepted")
			}
			if logs := envoyfake.Logs()[before:]; !logged(logs, 4, `msg="per-route filter_config rejected" error="`+tt.want) {
				t.Errorf("logs = %v\nwant %s", logs, tt.want)
			}
		})
	}
	// The name may be left out of a per-route config.
	h := envoyfake.PerRouteConfigNew("", []byte(`{"topic": "x"}`))
	if h == 0 {
		t.Fatal("per-route config without filter_name refused")
	}
	envoyfake.PerRouteConfigDestroy(h)
}

// Many streams at once, each destroyed at a random point against its
// goroutine's commit: run with -race. Every stream that lives to its
// commit gets exactly one reply; none breaks the scheduler's rules.
func TestConcurrentStreamsRaceTheirDestroy(t *testing.T) {
	check(t)
	c := kfaketest.NewCluster(t, topic)
	h := newConfig(t, rawConfig(c, nil))
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	replied := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := envoyfake.NewStream(h)
			s.RequestHeaders(headers("POST", "/"), false)
			s.RequestBody([]byte(fmt.Sprint(i)), true)
			switch rand.IntN(3) {
			case 0: // the client goes at once
				s.Destroy()
			case 1: // it goes after the commit
				s.WaitCommit(wait)
				s.Destroy()
			default:
				if !s.RunScheduled(wait) {
					t.Error("no commit")
				}
				if r := s.Replies(); len(r) != 1 || r[0].Status != 200 {
					t.Errorf("replies = %+v", r)
				}
				mu.Lock()
				replied++
				mu.Unlock()
			}
			checkScheduler(t, s)
		}()
	}
	wg.Wait()
	waitPublishing(t)
	t.Logf("%d of %d streams lived to their reply", replied, n)
}

// checkScheduler checks that the stream made one scheduler and deleted it
// once, whichever of the destroy and the scheduled event took it.
func checkScheduler(t *testing.T, s *envoyfake.Stream) {
	created, deleted := s.Schedulers()
	if created != 1 || deleted != 1 {
		t.Errorf("schedulers created %d, deleted %d; want 1 and 1", created, deleted)
	}
}
