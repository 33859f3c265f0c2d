package ingest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// The bodyless GET's record value with the default flags: the empty body
// counts as binary, as in Kong.
const emptyEnvelope = `{"body":"","body_args":{},"body_base64":true}`

func TestRepliesCarryEachRecordsOffset(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p, logs := newPipeline(t, c.ListenAddrs(), nil)
	for offset := int64(0); offset < 3; offset++ {
		expect(t, p.Handle(context.Background(), get("/")), 200, sent(topic, 0, offset), "kafka_upstream_sent")
	}
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 3), []kfaketest.Record{
		{Partition: 0, Offset: 0, Value: emptyEnvelope},
		{Partition: 0, Offset: 1, Value: emptyEnvelope},
		{Partition: 0, Offset: 2, Value: emptyEnvelope},
	})
	noLogs(t, logs)
}

// With acks=0 the broker sends no offset: the reply says where the record
// went, not at which offset.
func TestAcksZeroReplyHasNoOffset(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{RequiredAcks: proto.Int32(0)})
	want := `{"message":"message sent","records":[{"topic":"events","partition":0}]}`
	expect(t, p.Handle(context.Background(), get("/")), 200, want, "kafka_upstream_sent")
	expect(t, p.Handle(context.Background(), get("/")), 200, want, "kafka_upstream_sent")
	if got := kfaketest.ReadValues(t, c, topic, 2); got[0] != emptyEnvelope || got[1] != emptyEnvelope {
		t.Errorf("records = %q", got)
	}
}

func TestReturnErrorMessage(t *testing.T) {
	withCause := &config.Config{ErrorHandling: &config.ErrorHandling{ReturnErrorMessage: true}}

	t.Run("502: the dial error", func(t *testing.T) {
		addr := kfaketest.RefusingAddr(t)
		cfg := proto.Clone(withCause).(*config.Config)
		cfg.ProduceTimeout = durationpb.New(2 * time.Second)
		p, logs := newPipeline(t, []string{addr}, cfg)
		cause := "dial tcp " + addr + ": connect: connection refused"
		expect(t, p.Handle(context.Background(), get("/")), 502,
			`{"message":"Bad Gateway","error":"`+cause+`"}`, "kafka_upstream_produce_failed")
		// The log says it too, as without return_error_message.
		want := "ERROR publishing to kafka failed topic=events error=" + cause
		if l := logs.Lines(); len(l) != 1 || l[0] != want {
			t.Errorf("log = %q, want [%q]", l, want)
		}
	})

	t.Run("502: the broker's refusal", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		p, _ := newPipeline(t, c.ListenAddrs(), proto.Clone(withCause).(*config.Config))
		failTopic(t, c, topic, int16(kafka.TopicAuthorizationFailed))
		expect(t, p.Handle(context.Background(), get("/")), 502,
			`{"message":"Bad Gateway","error":"[29] Topic Authorization Failed: the client is not authorized to access the requested topic"}`,
			"kafka_upstream_produce_failed")
	})

	t.Run("504: the deadline's error", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		cfg := proto.Clone(withCause).(*config.Config)
		cfg.ProduceTimeout = durationpb.New(250 * time.Millisecond)
		p, _ := newPipeline(t, c.ListenAddrs(), cfg)
		kfaketest.HoldProduce(t, c)
		got := p.Handle(context.Background(), get("/"))
		// produce_timeout is both the request's deadline and kafka-go's
		// write timeout: whichever fires first is the cause.
		const (
			request = `{"message":"Gateway Timeout","error":"context deadline exceeded"}`
			write   = `{"message":"Gateway Timeout","error":"kafka.(*Client).Produce: context deadline exceeded"}`
		)
		if string(got.Body) == write {
			expect(t, got, 504, write, "kafka_upstream_produce_timeout")
		} else {
			expect(t, got, 504, request, "kafka_upstream_produce_timeout")
		}
	})

	t.Run("other replies keep their text", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		cfg := proto.Clone(withCause).(*config.Config)
		cfg.Batching = &config.Batching{Bytes: 30}
		p, _ := newPipeline(t, c.ListenAddrs(), cfg)
		expect(t, p.Handle(context.Background(), get("/")), 413,
			`{"message":"Request Entity Too Large","error":"the Kafka record is 68 bytes, more than the 30 allowed (batching.bytes)"}`,
			"kafka_upstream_record_too_large")
		closed, _ := newPipeline(t, c.ListenAddrs(), proto.Clone(withCause).(*config.Config))
		if err := closed.Close(); err != nil {
			t.Fatal(err)
		}
		expect(t, closed.Handle(context.Background(), get("/")), 503,
			`{"message":"Service Unavailable","error":"the Kafka producer of this configuration is closed (config update or shutdown); retry"}`,
			"kafka_upstream_closed")
	})
}

func TestRequestsRefusedBeforePublishing(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, "audit")
	p, logs := newPipeline(t, c.ListenAddrs(), &config.Config{
		TopicsQueryArg: proto.String("topics"), AllowedTopics: []string{"audit"},
		PartitionQueryArg: proto.String("p"),
	})
	tests := []struct {
		name          string
		req           *message.Request
		status        int
		body, details string
	}{
		{"a topic not allowed", get("/?topics=audit,secret"), 403,
			`{"message":"Forbidden","error":"one or more target topics are not in the allowed topics list"}`,
			"kafka_upstream_topic_not_allowed"},
		{"letter case is not folded", get("/?topics=Audit"), 403,
			`{"message":"Forbidden","error":"one or more target topics are not in the allowed topics list"}`,
			"kafka_upstream_topic_not_allowed"},
		{"no Kafka topic name", get("/?topics=audit,a/b"), 400,
			`{"message":"Bad Request","error":"query argument \"topics\": \"a/b\" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)"}`,
			"kafka_upstream_bad_topic"},
		{"a bad partition", get("/?topics=audit&p=-1"), 400,
			`{"message":"Bad Request","error":"query argument \"p\": partition must be a non-negative integer, got \"-1\""}`,
			"kafka_upstream_bad_partition"},
		{"a bad body, whatever the topics", post("/?topics=audit", `{"a":`, "content-type", "application/json"), 400,
			`{"message":"Bad Request","error":"body is not valid application/json: unexpected end of JSON input"}`,
			"kafka_upstream_bad_body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, p.Handle(context.Background(), tt.req), tt.status, tt.body, tt.details)
		})
	}
	if n := kfaketest.Records(t, c, topic) + kfaketest.Records(t, c, "audit"); n != 0 {
		t.Errorf("%d records published, want none", n)
	}
	noLogs(t, logs)
}

func TestCheckHeaders(t *testing.T) {
	connect := CheckHeaders([]message.Header{{Name: ":authority", Value: "example.com:443"}, {Name: ":method", Value: "CONNECT"}})
	if connect == nil {
		t.Fatal("CheckHeaders(CONNECT) = nil, want the 405")
	}
	expect(t, Reply{Status: connect.Status, Body: connect.Body, Details: connect.Details}, 405,
		`{"message":"Method Not Allowed","error":"CONNECT is not supported: kafka-upstream publishes requests, it opens no tunnels"}`,
		"kafka_upstream_method_not_allowed")
	if len(connect.Headers) != 1 || connect.Headers["allow"] != "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" {
		t.Errorf("headers = %v, want exactly allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", connect.Headers)
	}

	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "connect"} {
		if r := CheckHeaders([]message.Header{{Name: ":method", Value: method}, {Name: ":path", Value: "/"}}); r != nil {
			t.Errorf("CheckHeaders(%s) = %+v, want nil", method, *r)
		}
	}
	// A header that merely says CONNECT is no method.
	if r := CheckHeaders([]message.Header{{Name: ":method", Value: "POST"}, {Name: "x-method", Value: "CONNECT"}}); r != nil {
		t.Errorf("CheckHeaders(x-method: CONNECT) = %+v, want nil", *r)
	}
	if r := CheckHeaders(nil); r != nil {
		t.Errorf("CheckHeaders(nil) = %+v, want nil", *r)
	}
}

// Every reply is valid JSON whatever its text holds: quotes, backslashes,
// control characters and HTML-looking characters (kept as they are).
func TestErrorReplyEscapesAsJSON(t *testing.T) {
	expect(t, ErrorReply(400, "d", "a \"b\" \\ <c> & \n\t"), 400,
		`{"message":"Bad Request","error":"a \"b\" \\ <c> & \n\t"}`, "d")
	expect(t, ErrorReply(499, "d", "gone"), 499, `{"message":"Client Closed Request","error":"gone"}`, "d")
	if strings.Contains(string(ErrorReply(400, "d", "x").Body), "\n") {
		t.Error("reply body ends with a newline")
	}
}
