package extproc_test

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/extproc"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

// CONNECT is answered 405 from request_headers: no body is waited for
// (a tunnel's never ends), whatever the route selects.
func TestCONNECTIsRefusedFromTheHeaders(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, auditTopic)
	e := start(t, map[string]any{"configs": map[string]any{"audit": kafkaConfig(c, auditTopic, nil)}})
	want := immediate(405,
		`{"message":"Method Not Allowed","error":"CONNECT is not supported: kafka-upstream publishes requests, it opens no tunnels"}`,
		"kafka_upstream_method_not_allowed")
	im := want.GetImmediateResponse()
	im.Headers.SetHeaders = append(im.Headers.SetHeaders, &corev3.HeaderValueOption{
		Header: &corev3.HeaderValue{Key: "allow", RawValue: []byte("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")},
	})
	for _, md := range [][]string{
		{config.SelectorHeader, "audit"},
		nil, // selects nothing, and there is no default: CONNECT is refused first
		{config.SelectorHeader, "nope"},
	} {
		for _, endOfStream := range []bool{false, true} {
			stream := e.open(t, md...)
			send(t, stream, requestHeaders(endOfStream, ":authority", "example.com:443", ":method", "CONNECT"))
			expectResponse(t, stream, want)
			e.expectEnd(t, stream)
		}
	}
	if n := kfaketest.Records(t, c, topic) + kfaketest.Records(t, c, auditTopic); n != 0 {
		t.Errorf("%d records published, want none", n)
	}
	if l := e.logs.OwnLines(); len(l) != 0 {
		t.Errorf("log = %q, want nothing: a client error is not the server's", l)
	}
}

// A named config with a base takes its fields and overlays its own, and
// publishes through its base's producer.
func TestNamedConfigWithBase(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, "raw", auditTopic)
	e := start(t, map[string]any{
		"default": kafkaConfig(c, topic, map[string]any{"forward_method": true}),
		"configs": map[string]any{
			"raw":   map[string]any{"base": "default", "topic": "raw", "format": "raw"},
			"audit": kafkaConfig(c, auditTopic, map[string]any{"required_acks": 1}),
			"same":  kafkaConfig(c, auditTopic, nil),
		},
	})
	if extproc.ProducerOf(e.server, "raw") != extproc.ProducerOf(e.server, "") {
		t.Error("config raw has a Kafka producer of its own, want default's")
	}
	if p := extproc.ProducerOf(e.server, "audit"); p == 0 || p == extproc.ProducerOf(e.server, "") {
		t.Error("config audit, with other acks, shares default's producer")
	}
	// Its own bootstrap_servers, but the same cluster and producer
	// settings: one writer (producer.Acquire).
	if extproc.ProducerOf(e.server, "same") != extproc.ProducerOf(e.server, "") {
		t.Error("config same, naming default's cluster with default's settings, has a producer of its own")
	}

	stream := e.open(t, config.SelectorHeader, "raw")
	send(t, stream, requestHeaders(false, ":path", "/", ":method", "POST", "content-type", "application/octet-stream"))
	expectResponse(t, stream, continueHeaders)
	send(t, stream, requestBody("\x00\x01 raw", true))
	expectResponse(t, stream, immediate(200, sent("raw", 0, 0), "kafka_upstream_sent"))
	e.expectEnd(t, stream)
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, "raw", 1), []kfaketest.Record{
		{Offset: 0, Value: "\x00\x01 raw", Headers: []kfaketest.Header{{Key: "content-type", Value: "application/octet-stream"}}},
	})

	// The default config is unchanged by what inherits from it.
	stream = e.open(t)
	send(t, stream, requestHeaders(true, ":path", "/", ":method", "GET"))
	expectResponse(t, stream, immediate(200, sent(topic, 0, 0), "kafka_upstream_sent"))
	e.expectEnd(t, stream)
	if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != `{"method":"GET","body":"","body_args":{},"body_base64":true}` {
		t.Errorf("default record value = %s", got[0])
	}
	if n := kfaketest.Records(t, c, auditTopic); n != 0 {
		t.Errorf("%d records in %s, want none", n, auditTopic)
	}
}

// Closing the server closes each producer once; a config sharing one
// then gets 503 like its base.
func TestCloseWithSharedProducers(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, "raw")
	e := start(t, map[string]any{
		"default": kafkaConfig(c, topic, nil),
		"configs": map[string]any{"raw": map[string]any{"base": "default", "topic": "raw", "format": "raw"}},
	})
	if err := e.server.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, md := range [][]string{{config.SelectorHeader, "raw"}, nil} {
		stream := e.open(t, md...)
		send(t, stream, requestHeaders(true, ":path", "/", ":method", "GET"))
		expectResponse(t, stream, immediate(503,
			`{"message":"Service Unavailable","error":"the Kafka producer of this configuration is closed (config update or shutdown); retry"}`,
			"kafka_upstream_closed"))
		e.expectEnd(t, stream)
	}
}
