package filter

import (
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

func TestBodylessGETIsPublishedWithDefaultFlags(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	cfg, _ := parseConfig(t, kafkaConfig(c, nil))

	s := newStream(cfg)
	s.send(t, filtertest.NewHeaders(":method", "GET", ":path", "/x?a=1", ":authority", "example.com", ":scheme", "http"), nil)
	expectReply(t, s.finish(t), 200, sent(topic, 0, 0), "kafka_upstream_sent")

	// No content type: the (empty) body counts as binary, as in Kong.
	want := `{"body":"","body_args":{},"body_base64":true}`
	if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != want {
		t.Errorf("record value =\n%s\nwant\n%s", got[0], want)
	}
}

func TestBodiesArePublishedAsKongEnvelopes(t *testing.T) {
	multipartText := "--XyZ\r\n" +
		"Content-Disposition: form-data; name=\"field\"\r\n\r\n" +
		"value 1\r\n" +
		"--XyZ\r\n" +
		"Content-Disposition: form-data; name=\"field\"\r\n\r\n" +
		"v2\r\n" +
		"--XyZ--\r\n"
	multipartBinary := "--XyZ\r\n" +
		"Content-Disposition: form-data; name=\"field\"\r\n\r\n" +
		"value\r\n" +
		"--XyZ\r\n" +
		"Content-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n" +
		"\xff\xfe\x00\r\n" +
		"--XyZ--\r\n"
	binary := []byte{0x00, 0x01, 0xfe, 0xff, 0xfb}

	tests := []struct {
		name    string
		flags   map[string]any
		headers []string
		body    []byte
		want    string
	}{
		{
			name:  "json with every forward flag",
			flags: allFlags,
			headers: []string{":method", "POST", ":path", "/path?a=1&a=2&flag", ":authority", "example.com",
				":scheme", "https", "content-type", "application/json", "x-multi", "1", "x-multi", "2"},
			body: []byte(`{"k": [1, 2.50, "x"], "s": "<&>"}`),
			want: `{"method":"POST","uri":"/path?a=1&a=2&flag","uri_args":{"a":["1","2"],"flag":true},` +
				`"headers":{"content-type":"application/json","host":"example.com","x-multi":["1","2"]},` +
				`"body":"{\"k\": [1, 2.50, \"x\"], \"s\": \"<&>\"}","body_args":{"k":[1,2.50,"x"],"s":"<&>"}}`,
		},
		{
			name:    "form-urlencoded",
			headers: []string{":method", "POST", ":path", "/form", "content-type", "application/x-www-form-urlencoded"},
			body:    []byte("name=J%C3%B6rg+K&tag=a&tag=b&empty=&flag"),
			want: `{"body":"name=J%C3%B6rg+K&tag=a&tag=b&empty=&flag",` +
				`"body_args":{"empty":"","flag":true,"name":"Jörg K","tag":["a","b"]}}`,
		},
		{
			// Parsed leniently, as nginx and Kong parse query strings.
			name:    "form-urlencoded with a bad escape",
			headers: []string{":method", "POST", ":path", "/form", "content-type", "application/x-www-form-urlencoded"},
			body:    []byte("a=%zz&b=100%"),
			want:    `{"body":"a=%zz&b=100%","body_args":{"a":"%zz","b":"100%"}}`,
		},
		{
			name:    "multipart with text fields",
			headers: []string{":method", "POST", ":path", "/upload", "content-type", `multipart/form-data; boundary=XyZ`},
			body:    []byte(multipartText),
			want: `{"body":"--XyZ\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nvalue 1\r\n` +
				`--XyZ\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nv2\r\n--XyZ--\r\n",` +
				`"body_args":{"field":["value 1","v2"]}}`,
		},
		{
			name:    "multipart with a binary file",
			headers: []string{":method", "POST", ":path", "/upload", "content-type", `multipart/form-data; boundary="XyZ"`},
			body:    []byte(multipartBinary),
			// The body is not UTF-8, so it goes base64; the binary part is
			// left out of body_args.
			want: `{"body":"` + base64.StdEncoding.EncodeToString([]byte(multipartBinary)) + `",` +
				`"body_args":{"field":"value"},"body_base64":true}`,
		},
		{
			name:    "text/plain with a charset stays text",
			headers: []string{":method", "PUT", ":path", "/t", "content-type", "text/plain; charset=utf-8"},
			body:    []byte("héllo <world> & \"co\"\n"),
			want:    `{"body":"héllo <world> & \"co\"\n","body_args":{}}`,
		},
		{
			name:    "octet-stream goes base64",
			headers: []string{":method", "POST", ":path", "/b", "content-type", "application/octet-stream"},
			body:    binary,
			want:    `{"body":"AAH+//s=","body_args":{},"body_base64":true}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := kfaketest.NewCluster(t, topic)
			cfg, _ := parseConfig(t, kafkaConfig(c, tt.flags))

			s := newStream(cfg)
			s.send(t, filtertest.NewHeaders(tt.headers...), tt.body)
			expectReply(t, s.finish(t), 200, sent(topic, 0, 0), "kafka_upstream_sent")

			if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != tt.want {
				t.Errorf("record value =\n%s\nwant\n%s", got[0], tt.want)
			}
		})
	}
}

func TestInvalidBodiesAreRejectedWith400AndNotPublished(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		want        string
	}{
		{"truncated JSON", "application/json", `{"a":`,
			`{"message":"Bad Request","error":"body is not valid application/json: unexpected end of JSON input"}`},
		{"+json with a trailing comma", "application/cloudevents+json; charset=utf-8", `{"a":1,}`,
			`{"message":"Bad Request","error":"body is not valid application/cloudevents+json: invalid character '}' looking for beginning of object key string"}`},
		{"JSON not in UTF-8", "application/json", "\"\xff\"",
			`{"message":"Bad Request","error":"body is not valid application/json: not UTF-8"}`},
		{"multipart without boundary", "multipart/form-data", "--x--",
			`{"message":"Bad Request","error":"body is not valid multipart/form-data: content-type has no boundary parameter"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := kfaketest.NewCluster(t, topic)
			cfg, _ := parseConfig(t, kafkaConfig(c, nil))

			s := newStream(cfg)
			s.send(t, filtertest.NewHeaders(":method", "POST", ":path", "/", "content-type", tt.contentType), []byte(tt.body))
			expectReply(t, s.finish(t), 400, tt.want, "kafka_upstream_bad_body")
			// The encoder refused it before anything was handed to Kafka,
			// so nothing can still be on its way.
			if hw := kfaketest.HighWatermark(t, c, topic); hw != 0 {
				t.Errorf("high watermark = %d, want 0: nothing may be published", hw)
			}
		})
	}
}

// A broker that refuses connections fails the dial at once; kafka-go does
// not retry it within the request, so the answer is a 502 well before
// produce_timeout, not a 504.
func TestUnreachableKafkaAnswers502(t *testing.T) {
	addr := kfaketest.RefusingAddr(t)

	cfg, logs := parseConfig(t, map[string]any{
		"bootstrap_servers": []any{addr}, "topic": topic, "produce_timeout": "2s",
	})
	s := newStream(cfg)
	start := time.Now()
	s.send(t, filtertest.NewHeaders(":method", "GET", ":path", "/"), nil)
	expectReply(t, s.finish(t), 502,
		`{"message":"Bad Gateway","error":"could not send message to topic"}`,
		"kafka_upstream_produce_failed")
	if elapsed := time.Since(start); elapsed >= 2*time.Second {
		t.Errorf("took %s, want an answer before produce_timeout (2s)", elapsed)
	}
	// The cause goes to the log, not to the client.
	wantLog := "ERROR publishing to kafka failed topic=events error=dial tcp " + addr + ": connect: connection refused"
	if lines := logs.Lines(); len(lines) != 1 || lines[0] != wantLog {
		t.Errorf("pipeline log = %q, want [%q]", lines, wantLog)
	}
}

func TestProduceTimeoutAnswers504(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	cfg, _ := parseConfig(t, kafkaConfig(c, map[string]any{"produce_timeout": "0.3s"}))
	held, _ := kfaketest.HoldProduce(t, c)

	s := newStream(cfg)
	start := time.Now()
	s.send(t, filtertest.NewHeaders(":method", "GET", ":path", "/"), nil)
	reply := s.finish(t)
	elapsed := time.Since(start)
	expectReply(t, reply, 504,
		`{"message":"Gateway Timeout","error":"no acknowledgement from Kafka within 300ms"}`,
		"kafka_upstream_produce_timeout")
	select {
	case <-held:
	default:
		t.Error("the produce request never reached the broker")
	}
	if elapsed < 300*time.Millisecond {
		t.Errorf("answered after %s, before produce_timeout", elapsed)
	}
}

func TestRecordTooLargeAnswers413(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	cfg, _ := parseConfig(t, kafkaConfig(c, map[string]any{"batching": map[string]any{"bytes": 100}}))

	s := newStream(cfg)
	s.send(t, filtertest.NewHeaders(":method", "POST", ":path", "/", "content-type", "text/plain"),
		[]byte(strings.Repeat("x", 200)))
	// The record: the envelope as value, no key, no record headers;
	// kafka-go counts 22 bytes of framing plus 1 for the empty header list.
	value := `{"body":"` + strings.Repeat("x", 200) + `","body_args":{}}`
	expectReply(t, s.finish(t), 413,
		fmt.Sprintf(`{"message":"Request Entity Too Large","error":"the Kafka record is %d bytes, more than the 100 allowed (batching.bytes)"}`, len(value)+23),
		"kafka_upstream_record_too_large")
	if hw := kfaketest.HighWatermark(t, c, topic); hw != 0 {
		t.Errorf("high watermark = %d, want 0", hw)
	}
}

// destroyGoroutine is how the background close of Destroy shows in a
// stack dump.
const destroyGoroutine = "filter.(*filterConfig).Destroy.func1"

// publishGoroutine is how the filter's goroutine shows in a stack dump.
const publishGoroutine = "filter.(*streamFilter).publish.func1"

// waitGoroutineGone polls the stacks of all goroutines until none runs fn.
func waitGoroutineGone(t *testing.T, fn string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if !strings.Contains(string(buf[:n]), fn) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a goroutine still runs %s after %s:\n%s", fn, wait, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStreamDestroyedWhilePublishingMakesNoCall(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	cfg, _ := parseConfig(t, kafkaConfig(c, nil)) // produce_timeout 10s
	held, _ := kfaketest.HoldProduce(t, c)

	s := newStream(cfg)
	s.send(t, filtertest.NewHeaders(":method", "GET", ":path", "/"), nil)
	select {
	case <-held:
	case <-time.After(wait):
		t.Fatal("the produce request never reached the broker")
	}

	// The client resets the stream: Envoy marks the filter destroyed, then
	// calls OnDestroy on the worker thread.
	filtertest.DestroyStream(s.f, s.cb, api.Terminate)

	if e := s.cb.WaitRecovered(t, wait); e != nil {
		t.Fatalf("the filter's goroutine panicked: %v", e)
	}
	if n := s.cb.TerminalCalls(); n != 0 {
		t.Errorf("%d terminal calls after OnDestroy (%v), want none", n, s.cb.Calls())
	}
	if p := s.cb.Panics(); len(p) != 0 {
		t.Errorf("panics %v, want none", p)
	}
	waitGoroutineGone(t, publishGoroutine)
}

func TestTrailersStillGiveOneReply(t *testing.T) {
	t.Run("body then trailers", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		cfg, _ := parseConfig(t, kafkaConfig(c, nil))

		s := newStream(cfg)
		h := filtertest.NewHeaders(":method", "POST", ":path", "/grpc", "content-type", "text/plain")
		if got := s.f.DecodeHeaders(h, false); got != api.StopAndBuffer {
			t.Fatalf("DecodeHeaders = %d, want StopAndBuffer", got)
		}
		// With trailers, Envoy passes the whole body with endStream=false,
		// then the trailers.
		if got := s.f.DecodeData(filtertest.NewBufferString("hello"), false); got != api.Running {
			t.Fatalf("DecodeData(endStream=false) = %d, want Running", got)
		}
		if got := s.f.DecodeTrailers(filtertest.NewHeaders("grpc-timeout", "1S")); got != api.Running {
			t.Fatalf("DecodeTrailers = %d, want Running", got)
		}
		expectReply(t, s.finish(t), 200, sent(topic, 0, 0), "kafka_upstream_sent")
		if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != `{"body":"hello","body_args":{}}` {
			t.Errorf("record value = %s", got[0])
		}
	})
	t.Run("trailers without a body", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		cfg, _ := parseConfig(t, kafkaConfig(c, nil))

		s := newStream(cfg)
		h := filtertest.NewHeaders(":method", "POST", ":path", "/", "content-type", "text/plain")
		if got := s.f.DecodeHeaders(h, false); got != api.StopAndBuffer {
			t.Fatalf("DecodeHeaders = %d, want StopAndBuffer", got)
		}
		if got := s.f.DecodeTrailers(filtertest.NewHeaders("x-checksum", "0")); got != api.Running {
			t.Fatalf("DecodeTrailers = %d, want Running", got)
		}
		expectReply(t, s.finish(t), 200, sent(topic, 0, 0), "kafka_upstream_sent")
		if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != `{"body":"","body_args":{}}` {
			t.Errorf("record value = %s", got[0])
		}
	})
}

func TestPanicInThePipelineAnswers500(t *testing.T) {
	filtertest.InstallLogger()
	filtertest.ResetLogs()
	// A pipeline that panics inside Handle, in the filter's goroutine.
	cb := filtertest.NewCallbacks()
	f := Factory(&filterConfig{pipeline: ingest.Failing(Logger())}, cb)
	if got := f.DecodeHeaders(filtertest.NewHeaders(":method", "GET", ":path", "/"), true); got != api.Running {
		t.Fatalf("DecodeHeaders = %d, want Running", got)
	}
	reply := cb.WaitReply(t, wait)
	want := `{"message":"Internal Server Error","error":"internal error in the kafka-upstream filter"}`
	if reply.Status != 500 || reply.Body != want || reply.Details != "kafka_upstream_internal_error" ||
		reply.Headers["content-type"][0] != "application/json" || reply.Panic != nil {
		t.Errorf("reply = %+v, want our JSON 500", reply)
	}
	if n := cb.TerminalCalls(); n != 1 {
		t.Errorf("%d terminal calls, want 1", n)
	}
	logged := strings.Join(filtertest.Logs(), "\n")
	if !strings.Contains(logged, "panic while publishing") || !strings.Contains(logged, "nil pointer dereference") {
		t.Errorf("the panic was not logged with its cause:\n%s", logged)
	}
	filtertest.DestroyStream(f, cb, api.Normal)
}

func TestMergePicksTheMostSpecificConfig(t *testing.T) {
	p := &Parser{}
	parentPipeline, childPipeline := &ingest.Pipeline{}, &ingest.Pipeline{}
	parent := &filterConfig{pipeline: parentPipeline, owner: true}
	child := &filterConfig{pipeline: childPipeline, owner: true}
	for _, tt := range []struct {
		name          string
		parent, child interface{}
		want          *ingest.Pipeline
	}{
		{"route config wins", parent, child, childPipeline},
		{"no route config", parent, nil, parentPipeline},
		{"no parent", nil, child, childPipeline},
	} {
		got := p.Merge(tt.parent, tt.child).(*filterConfig)
		if got.pipeline != tt.want || got.owner {
			t.Errorf("%s: Merge = %+v, want a view (owner false) of %p", tt.name, got, tt.want)
		}
		if got == tt.child || got == tt.parent {
			t.Errorf("%s: Merge returned a parsed config itself; Envoy would destroy it with the merged id", tt.name)
		}
	}
}

// Envoy destroys merged configs on its own (a route or its parent changes):
// the route's parsed config must keep publishing.
func TestDestroyingAMergedConfigKeepsThePipelineOpen(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	parent, _ := parseConfig(t, kafkaConfig(c, nil))
	child, _ := parseConfig(t, kafkaConfig(c, nil))
	merged := (&Parser{}).Merge(parent, child)
	merged.(api.Config).Destroy()
	// A wrong Destroy closes in the background: wait for any such closing
	// to be over.
	waitGoroutineGone(t, destroyGoroutine)

	s := newStream(child)
	s.f.DecodeHeaders(filtertest.NewHeaders(":method", "GET", ":path", "/"), true)
	expectReply(t, s.finish(t), 200, sent(topic, 0, 0), "kafka_upstream_sent")
}

func TestParseErrors(t *testing.T) {
	filtertest.InstallLogger()
	structAny, err := anypb.New(&structpb.Struct{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		any  *anypb.Any
		want string
	}{
		{"no plugin_config", nil,
			"plugin_config: missing; expected a TypedStruct with type_url type.googleapis.com/kafkaupstream.v1.Config"},
		{"not a TypedStruct", structAny,
			`plugin_config: unsupported type "type.googleapis.com/google.protobuf.Struct"; expected "type.googleapis.com/xds.type.v3.TypedStruct" or "type.googleapis.com/kafkaupstream.v1.Config"`},
		{"TypedStruct of another type", kfaketest.TypedStruct(t, "type.googleapis.com/other.v1.Config", map[string]any{}),
			`plugin_config.type_url: must be "type.googleapis.com/kafkaupstream.v1.Config", got "type.googleapis.com/other.v1.Config"`},
		{"required fields missing", kfaketest.TypedStruct(t, config.TypeURL, map[string]any{}),
			"bootstrap_servers: must not be empty; topic: must not be empty"},
		{"unknown field", kfaketest.TypedStruct(t, config.TypeURL, map[string]any{"bootstrap_servers": []any{"k:9092"}, "topic": "t", "topc": "t"}),
			"topc: unknown field"},
		{"duration without unit", kfaketest.TypedStruct(t, config.TypeURL, map[string]any{"bootstrap_servers": []any{"k:9092"}, "topic": "t", "produce_timeout": "2"}),
			`produce_timeout: invalid google.protobuf.Duration value "2" (durations are seconds with an "s" suffix, e.g. "0.25s" or "10s")`},
		{"bad values", kfaketest.TypedStruct(t, config.TypeURL, map[string]any{
			"bootstrap_servers": []any{"nohost"}, "topic": "bad topic!", "required_acks": 2, "produce_timeout": "-1s",
		}),
			`bootstrap_servers[0]: "nohost" is not host:port; ` +
				`topic: "bad topic!" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -); ` +
				`required_acks: must be -1 (all), 1 (leader) or 0 (none), got 2; ` +
				`produce_timeout: must be a positive duration, got -1s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cb := range []api.ConfigCallbackHandler{&filtertest.ConfigCallbacks{}, nil} { // filter level, route level
				cfg, err := (&Parser{}).Parse(tt.any, cb)
				// A route config (no callbacks) without bootstrap_servers
				// inherits them (and its topic), so it parses.
				if cb == nil && tt.name == "required fields missing" {
					if fc, ok := cfg.(*filterConfig); err != nil || !ok || !fc.inheriting || fc.pipeline != nil {
						t.Errorf("route-level Parse = %+v, %v; want an inheriting config without pipeline", cfg, err)
					}
					continue
				}
				if err == nil || err.Error() != tt.want {
					t.Errorf("Parse error = %v\nwant %s", err, tt.want)
				}
				if cfg != nil {
					t.Errorf("Parse returned a config %v with its error", cfg)
				}
			}
		})
	}
}

func TestParseAcceptsEveryConfigForm(t *testing.T) {
	filtertest.InstallLogger()
	fields := map[string]any{"bootstrap_servers": []any{"127.0.0.1:9092"}, "topic": "t", "forward_method": true}
	direct, err := anypb.New(&config.Config{BootstrapServers: []string{"127.0.0.1:9092"}, Topic: "t", ForwardMethod: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]*anypb.Any{
		"xds TypedStruct":  kfaketest.TypedStruct(t, config.TypeURL, fields),
		"udpa TypedStruct": {TypeUrl: "type.googleapis.com/udpa.type.v1.TypedStruct", Value: kfaketest.TypedStruct(t, config.TypeURL, fields).Value},
		"Config message":   direct,
	}
	for name, a := range forms {
		t.Run(name, func(t *testing.T) {
			cfg, err := (&Parser{}).Parse(a, nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			fc := cfg.(*filterConfig)
			t.Cleanup(fc.Destroy)
			s := fc.pipeline.Settings()
			want := config.Forward{Method: true, Body: true}
			if s.Routing.Topic != "t" || len(s.Cluster.Brokers) != 1 || s.Cluster.Brokers[0] != "127.0.0.1:9092" || s.Message.Forward != want {
				t.Errorf("settings = %+v", s)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
