package filter

import (
	"reflect"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

// parseRoute builds a per-route config through Parser.Parse, as Envoy
// does for typed_per_filter_config: without callbacks. It is destroyed
// when the test ends.
func parseRoute(t *testing.T, fields map[string]any) *filterConfig {
	t.Helper()
	filtertest.InstallLogger()
	cfg, err := (&Parser{}).Parse(kfaketest.TypedStruct(t, config.TypeURL, fields), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	fc := cfg.(*filterConfig)
	t.Cleanup(func() {
		fc.Destroy()
		if fc.pipeline != nil {
			fc.pipeline.Close()
		}
	})
	return fc
}

func merge(t *testing.T, parent, child interface{}) *filterConfig {
	t.Helper()
	m, ok := (&Parser{}).Merge(parent, child).(*filterConfig)
	if !ok || m == nil {
		t.Fatalf("Merge returned %v, want a *filterConfig", m)
	}
	if m.owner {
		t.Error("Merge returned a config that owns its pipeline; Envoy destroys merged configs on its own")
	}
	return m
}

// producerOf is the address of the Kafka producer p publishes through
// (ingest keeps it unexported; reading a pointer's value is allowed).
func producerOf(p *ingest.Pipeline) uintptr {
	return reflect.ValueOf(p).Elem().FieldByName("producer").Pointer()
}

// get sends a bodyless GET of path through cfg and returns the reply.
func get(t *testing.T, cfg *filterConfig, path string) filtertest.LocalReply {
	t.Helper()
	s := newStream(cfg)
	s.send(t, filtertest.NewHeaders(":method", "GET", ":path", path), nil)
	return s.finish(t)
}

// refusedAtHeaders sends request headers through cfg and requires the
// synchronous local reply: LocalReply from DecodeHeaders, one terminal
// call, no goroutine.
func refusedAtHeaders(t *testing.T, cfg *filterConfig, endStream bool, kv ...string) filtertest.LocalReply {
	t.Helper()
	cb := filtertest.NewCallbacks()
	f := Factory(cfg, cb)
	if got := f.DecodeHeaders(filtertest.NewHeaders(kv...), endStream); got != api.LocalReply {
		t.Fatalf("DecodeHeaders = %d, want LocalReply (%d)", got, api.LocalReply)
	}
	// Synchronous: the reply is there when DecodeHeaders returns.
	calls := cb.Calls()
	if len(calls) != 1 || calls[0].Reply == nil || cb.TerminalCalls() != 1 {
		t.Fatalf("terminal calls %v (%d), want exactly one local reply made by DecodeHeaders", calls, cb.TerminalCalls())
	}
	filtertest.DestroyStream(f, cb, api.Normal)
	if p := cb.Panics(); len(p) != 0 {
		t.Errorf("panics %v", p)
	}
	return *calls[0].Reply
}

const misconfiguredNoParent = `{"message":"Internal Server Error","error":"the route's kafka-upstream config has no bootstrap_servers, and the config above it, to inherit them from, is missing or invalid"}`

func TestCONNECTIsRefusedAtTheHeaders(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	cfg, _ := parseConfig(t, kafkaConfig(c, nil))
	inheriting := parseRoute(t, map[string]any{"topic": "orders"})
	for name, cfg := range map[string]*filterConfig{"a complete config": cfg, "a config without pipeline": inheriting} {
		for _, endStream := range []bool{true, false} {
			reply := refusedAtHeaders(t, cfg, endStream, ":method", "CONNECT", ":authority", "example.com:443")
			want := filtertest.LocalReply{
				Status: 405,
				Body:   `{"message":"Method Not Allowed","error":"CONNECT is not supported: kafka-upstream publishes requests, it opens no tunnels"}`,
				Headers: map[string][]string{
					"content-type": {"application/json"},
					"allow":        {"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"},
				},
				GrpcStatus: -1,
				Details:    "kafka_upstream_method_not_allowed",
			}
			if !reflect.DeepEqual(reply, want) {
				t.Errorf("%s, endStream %t: reply\n%+v\nwant\n%+v", name, endStream, reply, want)
			}
		}
	}
	if n := kfaketest.Records(t, c, topic); n != 0 {
		t.Errorf("%d records published, want none", n)
	}
}

// A route config without bootstrap_servers and no listener config to
// inherit from: every request gets the 500 at once.
func TestConfigWithoutPipelineIsMisconfigured(t *testing.T) {
	route := parseRoute(t, map[string]any{"topic": "orders"})
	for name, cfg := range map[string]*filterConfig{
		"the route config itself": route,
		"merged without parent":   merge(t, nil, route),
		"a bare config":           {},
	} {
		for _, endStream := range []bool{true, false} {
			reply := refusedAtHeaders(t, cfg, endStream, ":method", "POST", ":path", "/")
			checkReplyShape(t, reply)
			expectReply(t, reply, 500, misconfiguredNoParent, "kafka_upstream_misconfigured")
			if t.Failed() {
				t.Fatalf("%s, endStream %t", name, endStream)
			}
		}
	}
}

func TestRouteConfigInheritsTheListenersProducer(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, "orders")
	parent, _ := parseConfig(t, kafkaConfig(c, map[string]any{"forward_method": true}))
	child := parseRoute(t, map[string]any{"topic": "orders", "format": "raw"})
	if !child.inheriting || child.pipeline != nil {
		t.Fatalf("route config = %+v, want an inheriting config without pipeline", child)
	}

	merged := merge(t, parent, child)
	if merged.pipeline == nil || merged.pipeline == parent.pipeline {
		t.Fatalf("merged pipeline %p, parent's %p: want a pipeline of its own", merged.pipeline, parent.pipeline)
	}
	if producerOf(merged.pipeline) != producerOf(parent.pipeline) {
		t.Error("the merged config has a Kafka producer of its own, want the listener's")
	}
	s := newStream(merged)
	s.send(t, filtertest.NewHeaders(":method", "POST", ":path", "/", "content-type", "text/plain"), []byte("raw body"))
	expectReply(t, s.finish(t), 200, sent("orders", 0, 0), "kafka_upstream_sent")
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, "orders", 1), []kfaketest.Record{
		{Offset: 0, Value: "raw body", Headers: []kfaketest.Header{{Key: "content-type", Value: "text/plain"}}},
	})

	// Merge runs once per route and parent: the second is cached.
	again := merge(t, parent, child)
	if again.pipeline != merged.pipeline {
		t.Error("a second Merge built another pipeline")
	}
	if again == merged {
		t.Error("Merge returned the same view twice; Envoy destroys each on its own")
	}

	// Envoy destroys the merged views and the route config on its own:
	// the listener's producer stays open.
	merged.Destroy()
	again.Destroy()
	child.Destroy()
	waitGoroutineGone(t, destroyGoroutine)
	expectReply(t, get(t, parent, "/"), 200, sent(topic, 0, 0), "kafka_upstream_sent")
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 1),
		[]kfaketest.Record{{Offset: 0, Value: `{"method":"GET","body":"","body_args":{},"body_base64":true}`}})
	// And a view Envoy still holds keeps working.
	expectReply(t, get(t, again, "/"), 200, sent("orders", 0, 1), "kafka_upstream_sent")
}

// Envoy merges listener ← virtual host ← route: each level overlays the
// one above, all on the listener's producer.
func TestThreeLevelsOfInheritance(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, "orders")
	listener, _ := parseConfig(t, kafkaConfig(c, nil))
	vhost := parseRoute(t, map[string]any{"topic": "orders", "forward_uri": true})
	route := parseRoute(t, map[string]any{"forward_body": false})
	merged := merge(t, merge(t, listener, vhost), route)
	if producerOf(merged.pipeline) != producerOf(listener.pipeline) {
		t.Error("the route has a Kafka producer of its own, want the listener's")
	}
	expectReply(t, get(t, merged, "/a?b=1"), 200, sent("orders", 0, 0), "kafka_upstream_sent")
	if got := kfaketest.ReadValues(t, c, "orders", 1); got[0] != `{"uri":"/a?b=1","uri_args":{"b":"1"}}` {
		t.Errorf("record value = %s", got[0])
	}
}

func TestRouteConfigThatDoesNotFitItsParent(t *testing.T) {
	envoyLog(t, api.Info)
	c := kfaketest.NewCluster(t, topic)
	parent, _ := parseConfig(t, kafkaConfig(c, map[string]any{"forward_method": true, "forward_body": false}))
	child := parseRoute(t, map[string]any{"forward_method": false}) // valid alone
	merged := merge(t, parent, child)
	const cause = "forward_*: at least one of forward_method, forward_uri, forward_headers, forward_body must be true"
	for _, endStream := range []bool{true, false} {
		reply := refusedAtHeaders(t, merged, endStream, ":method", "GET", ":path", "/")
		checkReplyShape(t, reply)
		expectReply(t, reply, 500,
			`{"message":"Internal Server Error","error":"the route's kafka-upstream config does not fit the listener's: `+cause+`"}`,
			"kafka_upstream_misconfigured")
	}
	want := []string{"error: kafka-upstream: a route config does not fit its parent's error=" + cause}
	if got := filtertest.Logs(); !reflect.DeepEqual(got, want) {
		t.Errorf("Envoy log = %q\nwant %q", got, want)
	}
	if n := kfaketest.Records(t, c, topic); n != 0 {
		t.Errorf("%d records published, want none", n)
	}
	// The listener's own requests are unaffected.
	expectReply(t, get(t, parent, "/"), 200, sent(topic, 0, 0), "kafka_upstream_sent")
}

// A route config with bootstrap_servers is complete: its own producer,
// its own cluster, nothing of the listener's.
func TestCompleteRouteConfig(t *testing.T) {
	c1 := kfaketest.NewCluster(t, topic)
	c2 := kfaketest.NewCluster(t, topic)
	parent, _ := parseConfig(t, kafkaConfig(c1, map[string]any{"forward_method": true}))
	child := parseRoute(t, kafkaConfig(c2, nil))
	if child.inheriting || child.pipeline == nil {
		t.Fatalf("route config = %+v, want a complete config with a pipeline", child)
	}
	merged := merge(t, parent, child)
	if merged.pipeline != child.pipeline {
		t.Error("Merge did not return the route's own pipeline")
	}
	expectReply(t, get(t, merged, "/"), 200, sent(topic, 0, 0), "kafka_upstream_sent")
	if got := kfaketest.ReadValues(t, c2, topic, 1); got[0] != `{"body":"","body_args":{},"body_base64":true}` {
		t.Errorf("record value = %s (forward_method is not inherited)", got[0])
	}
	if n := kfaketest.Records(t, c1, topic); n != 0 {
		t.Errorf("the listener's cluster got %d records, want none", n)
	}
}

func TestInheritingRouteConfigErrors(t *testing.T) {
	filtertest.InstallLogger()
	producerRule := "a config without bootstrap_servers shares its parent's Kafka producer and cannot change it; set bootstrap_servers (and every other field) to use a producer of its own"
	tests := []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"a producer field", map[string]any{"topic": "orders", "required_acks": 1},
			"required_acks: " + producerRule},
		{"two producer fields", map[string]any{"client_id": "x", "batching": map[string]any{"size": 2}},
			"batching: " + producerRule + "; client_id: " + producerRule},
		{"an invalid field", map[string]any{"topic": "a b"},
			`topic: "a b" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`},
		{"forward_* with the raw format", map[string]any{"format": "raw", "forward_uri": true},
			`forward_uri: shapes the kong format only; format is "raw"`},
		{"base", map[string]any{"topic": "orders", "base": "default"},
			"base: only the ext_proc server's config file has named configs to inherit from; a golang filter route config inherits the listener's config by leaving out bootstrap_servers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := (&Parser{}).Parse(kfaketest.TypedStruct(t, config.TypeURL, tt.fields), nil)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse error = %v\nwant %s", err, tt.want)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config %+v with its error", cfg)
			}
		})
	}
}

// base is refused in a listener config too.
func TestBaseInAListenerConfig(t *testing.T) {
	filtertest.InstallLogger()
	_, err := (&Parser{}).Parse(kfaketest.TypedStruct(t, config.TypeURL,
		map[string]any{"bootstrap_servers": []any{"127.0.0.1:9092"}, "topic": "t", "base": "default"}), &filtertest.ConfigCallbacks{})
	want := "base: only the ext_proc server's config file has named configs to inherit from; a golang filter route config inherits the listener's config by leaving out bootstrap_servers"
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v\nwant %s", err, want)
	}
}
