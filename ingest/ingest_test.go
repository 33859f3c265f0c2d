package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

const (
	topic = "events"
	wait  = 10 * time.Second
)

// newPipeline resolves cfg (bootstrap_servers and topic filled in when
// empty) and builds a pipeline logging to the returned lines; it is closed
// when the test ends.
func newPipeline(t *testing.T, brokers []string, cfg *config.Config) (*Pipeline, *logtest.Recorder) {
	t.Helper()
	if cfg == nil {
		cfg = &config.Config{}
	}
	if cfg.BootstrapServers == nil {
		cfg.BootstrapServers = brokers
	}
	if cfg.Topic == "" {
		cfg.Topic = topic
	}
	s, err := config.Resolve(cfg)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	logs, log := logtest.New()
	p := New(s, log, nil)
	t.Cleanup(func() { p.Close() })
	return p, logs
}

func request(contentType, body string) *message.Request {
	hs := []message.Header{{Name: ":method", Value: "POST"}, {Name: ":path", Value: "/"}}
	if contentType != "" {
		hs = append(hs, message.Header{Name: "content-type", Value: contentType})
	}
	return &message.Request{Headers: hs, Body: []byte(body)}
}

// expect compares a whole reply: status, body, details, and no extra
// headers (only CONNECT's 405 has one; see TestCheckHeaders).
// get is a bodyless GET of path, with extra headers (name, value pairs,
// lower-case as the adapters hand them over).
func get(path string, kv ...string) *message.Request {
	hs := []message.Header{{Name: ":method", Value: "GET"}, {Name: ":path", Value: path}}
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, message.Header{Name: kv[i], Value: kv[i+1]})
	}
	return &message.Request{Headers: hs}
}

// post is get with a method of POST and a body.
func post(path, body string, kv ...string) *message.Request {
	r := get(path, kv...)
	r.Headers[0].Value = "POST"
	r.Body = []byte(body)
	return r
}

// noLogs fails the test if anything was logged.
func noLogs(t *testing.T, logs *logtest.Recorder) {
	t.Helper()
	if l := logs.Lines(); len(l) != 0 {
		t.Errorf("log = %q, want nothing", l)
	}
}

func expect(t *testing.T, got Reply, status int, body, details string) {
	t.Helper()
	if got.Status != status || string(got.Body) != body || got.Details != details || got.Headers != nil {
		t.Errorf("reply = %d %s (details %q, headers %v)\nwant    %d %s (details %q, no headers)",
			got.Status, got.Body, got.Details, got.Headers, status, body, details)
	}
}

// sent is the 200 body for one record acknowledged at topic/partition,
// offset.
func sent(topic string, partition int, offset int64) string {
	return fmt.Sprintf(`{"message":"message sent","records":[{"topic":%q,"partition":%d,"offset":%d}]}`, topic, partition, offset)
}

func TestHandlePublishesAndAnswers200(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p, logs := newPipeline(t, c.ListenAddrs(), nil)

	got := p.Handle(context.Background(), request("application/json", `{"a": 1}`))
	expect(t, got, 200, sent(topic, 0, 0), "kafka_upstream_sent")

	values := kfaketest.ReadValues(t, c, topic, 1)
	want := `{"body":"{\"a\": 1}","body_args":{"a":1}}`
	if len(values) != 1 || values[0] != want {
		t.Errorf("records = %q, want [%q]", values, want)
	}
	if hw := kfaketest.HighWatermark(t, c, topic); hw != 1 {
		t.Errorf("high watermark = %d, want 1", hw)
	}
	if l := logs.Lines(); len(l) != 0 {
		t.Errorf("log = %q, want nothing", l)
	}
}

func TestHandleFailures(t *testing.T) {
	t.Run("bad body: 400, nothing published", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		p, logs := newPipeline(t, c.ListenAddrs(), nil)
		got := p.Handle(context.Background(), request("application/json", `{"a":`))
		expect(t, got, 400,
			`{"message":"Bad Request","error":"body is not valid application/json: unexpected end of JSON input"}`,
			"kafka_upstream_bad_body")
		if hw := kfaketest.HighWatermark(t, c, topic); hw != 0 {
			t.Errorf("high watermark = %d, want 0", hw)
		}
		if l := logs.Lines(); len(l) != 0 {
			t.Errorf("log = %q, want nothing: a client error is not the gateway's", l)
		}
	})

	t.Run("record too large: 413", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{Batching: &config.Batching{Bytes: 64}})
		got := p.Handle(context.Background(), request("text/plain", strings.Repeat("y", 64)))
		// The record: the envelope as value, no key, no record headers;
		// kafka-go counts 22 bytes of framing plus 1 for the empty header
		// list.
		value := `{"body":"` + strings.Repeat("y", 64) + `","body_args":{}}`
		expect(t, got, 413,
			fmt.Sprintf(`{"message":"Request Entity Too Large","error":"the Kafka record is %d bytes, more than the 64 allowed (batching.bytes)"}`, len(value)+23),
			"kafka_upstream_record_too_large")
		if hw := kfaketest.HighWatermark(t, c, topic); hw != 0 {
			t.Errorf("high watermark = %d, want 0", hw)
		}
	})

	t.Run("no acknowledgement: 504", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		p, logs := newPipeline(t, c.ListenAddrs(), &config.Config{ProduceTimeout: durationpb.New(250 * time.Millisecond)})
		held, release := kfaketest.HoldProduce(t, c)
		got := p.Handle(context.Background(), request("", ""))
		expect(t, got, 504,
			`{"message":"Gateway Timeout","error":"no acknowledgement from Kafka within 250ms"}`,
			"kafka_upstream_produce_timeout")
		select {
		case <-held:
		default:
			t.Error("the produce request never reached the broker")
		}
		// kafka-go's own retries may log too ("WARN kafka: …"), before or
		// after the pipeline's warning.
		pipelineWarnings := 0
		for _, l := range logs.Lines() {
			if strings.HasPrefix(l, "WARN kafka did not acknowledge in time topic=events timeout=250ms error=") {
				pipelineWarnings++
			}
		}
		if pipelineWarnings != 1 {
			t.Errorf("log = %q, want the pipeline's warning once", logs.Lines())
		}

		// At-least-once: kafka-go keeps retrying the batch after the reply,
		// so a broker that recovers still gets the record nobody awaits.
		release()
		deadline := time.Now().Add(wait)
		for kfaketest.HighWatermark(t, c, topic) != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("the timed-out record was not written after the broker recovered")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("broker unreachable: 502", func(t *testing.T) {
		addr := kfaketest.RefusingAddr(t)
		p, logs := newPipeline(t, []string{addr}, &config.Config{ProduceTimeout: durationpb.New(2 * time.Second)})
		got := p.Handle(context.Background(), request("", ""))
		expect(t, got, 502, `{"message":"Bad Gateway","error":"could not send message to topic"}`, "kafka_upstream_produce_failed")
		want := "ERROR publishing to kafka failed topic=events error=dial tcp " + addr + ": connect: connection refused"
		if l := logs.Lines(); len(l) != 1 || l[0] != want {
			t.Errorf("log = %q, want [%q]", l, want)
		}
	})

	t.Run("caller gone: 499, for adapters to drop", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		p, _ := newPipeline(t, c.ListenAddrs(), nil)
		held, _ := kfaketest.HoldProduce(t, c)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan Reply, 1)
		go func() { done <- p.Handle(ctx, request("", "")) }()
		select {
		case <-held:
		case <-time.After(wait):
			t.Fatal("the produce request never reached the broker")
		}
		cancel()
		select {
		case got := <-done:
			// 499 has no standard status text, hence the empty message.
			expect(t, got, 499, `{"message":"Client Closed Request","error":"the client went away"}`, "kafka_upstream_client_gone")
		case <-time.After(wait):
			t.Fatal("Handle did not return after its context was cancelled")
		}
	})

	t.Run("closed pipeline: 503", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		p, _ := newPipeline(t, c.ListenAddrs(), nil)
		expect(t, p.Handle(context.Background(), request("", "")), 200, sent(topic, 0, 0), "kafka_upstream_sent")
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		expect(t, p.Handle(context.Background(), request("", "")), 503,
			`{"message":"Service Unavailable","error":"the Kafka producer of this configuration is closed (config update or shutdown); retry"}`,
			"kafka_upstream_closed")
		if hw := kfaketest.HighWatermark(t, c, topic); hw != 1 {
			t.Errorf("high watermark = %d, want 1 (only the record sent before Close)", hw)
		}
	})
}

func TestInternalErrorReply(t *testing.T) {
	expect(t, InternalError(), 500,
		`{"message":"Internal Server Error","error":"internal error in the kafka-upstream filter"}`,
		"kafka_upstream_internal_error")
}
