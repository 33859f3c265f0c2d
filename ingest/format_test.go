package ingest

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

func TestRawFormat(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p, logs := newPipeline(t, c.ListenAddrs(), &config.Config{Format: config.FormatRaw})
	body := "not JSON \x00\xff at all"
	expect(t, p.Handle(context.Background(), post("/x?a=1", body, "content-type", "Text/Plain; charset=latin1", "x-other", "o")),
		200, sent(topic, 0, 0), "kafka_upstream_sent")
	// A body that would be a bad JSON body in the kong format is no error.
	expect(t, p.Handle(context.Background(), post("/", `{"a":`, "content-type", "application/json")),
		200, sent(topic, 0, 1), "kafka_upstream_sent")
	// No body, no content-type: an empty value, no header.
	expect(t, p.Handle(context.Background(), get("/")), 200, sent(topic, 0, 2), "kafka_upstream_sent")
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 3), []kfaketest.Record{
		{Offset: 0, Value: body, Headers: []kfaketest.Header{{Key: "content-type", Value: "Text/Plain; charset=latin1"}}},
		{Offset: 1, Value: `{"a":`, Headers: []kfaketest.Header{{Key: "content-type", Value: "application/json"}}},
		{Offset: 2, Value: ""},
	})
	noLogs(t, logs)
}

func TestCloudEventsFormat(t *testing.T) {
	ceHeaders := []string{"ce-specversion", "1.0", "ce-id", "e1", "ce-source", "/src", "ce-type", "com.example.t",
		"ce-partitionkey", "pk", "content-type", "application/json", "x-tenant", "t1"}

	t.Run("binary: partitionkey is the key", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{Format: config.FormatCloudEvents, KeyQueryArg: proto.String("key"),
			Headers: &config.RecordHeaders{ForwardHttpHeadersAsRecordHeaders: true, IncludeHeaders: []string{"x-tenant"}}})
		expect(t, p.Handle(context.Background(), post("/", `{"a": 1}`, ceHeaders...)), 200, sent(topic, 0, 0), "kafka_upstream_sent")
		// The route's key wins over partitionkey.
		expect(t, p.Handle(context.Background(), post("/?key=rk", `{"a": 1}`, ceHeaders...)), 200, sent(topic, 0, 1), "kafka_upstream_sent")
		headers := []kfaketest.Header{
			{Key: "ce_specversion", Value: "1.0"}, {Key: "ce_id", Value: "e1"}, {Key: "ce_source", Value: "/src"},
			{Key: "ce_type", Value: "com.example.t"}, {Key: "ce_partitionkey", Value: "pk"},
			{Key: "content-type", Value: "application/json"}, {Key: "x-tenant", Value: "t1"},
		}
		kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 2), []kfaketest.Record{
			{Offset: 0, Key: []byte("pk"), Value: `{"a": 1}`, Headers: headers},
			{Offset: 1, Key: []byte("rk"), Value: `{"a": 1}`, Headers: headers},
		})
	})

	t.Run("structured out, defaults filled in", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{Format: config.FormatCloudEvents,
			Cloudevents: &config.CloudEvents{Mode: "structured", Source: "/gw", Type: "com.example.req", IdFromRequestId: true}})
		expect(t, p.Handle(context.Background(), post("/", "hello", "ce-specversion", "1.0", "content-type", "text/plain", "x-request-id", "r-1")),
			200, sent(topic, 0, 0), "kafka_upstream_sent")
		kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 1), []kfaketest.Record{{
			Offset:  0,
			Value:   `{"specversion":"1.0","id":"r-1","source":"/gw","type":"com.example.req","datacontenttype":"text/plain","data":"hello"}`,
			Headers: []kfaketest.Header{{Key: "content-type", Value: "application/cloudevents+json; charset=UTF-8"}},
		}})
	})

	t.Run("refused events publish nothing", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		p, logs := newPipeline(t, c.ListenAddrs(), &config.Config{Format: config.FormatCloudEvents})
		expect(t, p.Handle(context.Background(), post("/", "x", "content-type", "text/plain")), 400,
			`{"message":"Bad Request","error":"not a CloudEvent: missing required attribute \"id\""}`, "kafka_upstream_bad_event")
		expect(t, p.Handle(context.Background(), post("/", "[]", "content-type", "application/cloudevents-batch+json")), 415,
			`{"message":"Unsupported Media Type","error":"batched CloudEvents (application/cloudevents-batch+json) are not supported; send one event per request"}`,
			"kafka_upstream_unsupported_event")
		if n := kfaketest.Records(t, c, topic); n != 0 {
			t.Errorf("%d records written, want none", n)
		}
		noLogs(t, logs)
	})
}

// Request headers become record headers by the headers.* rules.
func TestRecordHeaders(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{Headers: &config.RecordHeaders{
		ForwardHttpHeadersAsRecordHeaders: true,
		IncludeHeaders:                    []string{"X-Tenant", "x-trace", "x-empty"},
		NameMappings:                      map[string]string{"x-tenant": "tenant"},
	}})
	req := get("/", "x-trace", "a", "x-tenant", "t1", "x-other", "o", "x-tenant", "t2", "x-empty", "")
	expect(t, p.Handle(context.Background(), req), 200, sent(topic, 0, 0), "kafka_upstream_sent")
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 1), []kfaketest.Record{{
		Offset: 0, Value: emptyEnvelope,
		Headers: []kfaketest.Header{{Key: "x-trace", Value: "a"}, {Key: "tenant", Value: "t1,t2"}, {Key: "x-empty", Value: ""}},
	}})
}

// A Derive()d pipeline routes and encodes by its own settings and
// publishes through its parent's producer; closing it leaves the producer
// open.
func TestDerivedPipelineSharesTheProducer(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, "orders")
	parentConfig := &config.Config{}
	parent, logs := newPipeline(t, c.ListenAddrs(), parentConfig) // fills in bootstrap_servers and topic
	childSettings, err := config.Resolve(config.Overlay(parentConfig, &config.Config{Topic: "orders", Format: config.FormatRaw}))
	if err != nil {
		t.Fatal(err)
	}
	child := parent.Derive(childSettings)
	if child.producer != parent.producer {
		t.Fatal("the derived pipeline has a producer of its own")
	}
	if child.Settings() != childSettings {
		t.Error("the derived pipeline does not report its own settings")
	}
	expect(t, child.Handle(context.Background(), post("/", "raw body", "content-type", "text/plain")), 200, sent("orders", 0, 0), "kafka_upstream_sent")
	if err := child.Close(); err != nil {
		t.Fatalf("Close of the derived pipeline: %v", err)
	}
	expect(t, parent.Handle(context.Background(), get("/")), 200, sent(topic, 0, 0), "kafka_upstream_sent")
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, "orders", 1), []kfaketest.Record{
		{Offset: 0, Value: "raw body", Headers: []kfaketest.Header{{Key: "content-type", Value: "text/plain"}}},
	})
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 1), []kfaketest.Record{{Offset: 0, Value: emptyEnvelope}})

	// Closing the parent closes the producer both use.
	if err := parent.Close(); err != nil {
		t.Fatal(err)
	}
	expect(t, child.Handle(context.Background(), get("/")), 503,
		`{"message":"Service Unavailable","error":"the Kafka producer of this configuration is closed (config update or shutdown); retry"}`,
		"kafka_upstream_closed")
	noLogs(t, logs)
}
