package ingest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

const accepted = `{"message":"message accepted","records":[{"topic":"events"}]}`

func handle(t *testing.T, p *Pipeline, req *message.Request) Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return p.Handle(ctx, req)
}

// The reply comes while Kafka holds the produce request (before any
// acknowledgement); the record is in Kafka once it is released.
func TestAsyncRepliesBeforeTheAcknowledgement(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{Async: &config.Async{Enabled: true}})
	arrived, release := kfaketest.HoldProduce(t, c)
	r := handle(t, p, request("application/json", `{"a":1}`))
	if r.Status != http.StatusAccepted || string(r.Body) != accepted || r.Details != "kafka_upstream_accepted" || len(r.Headers) != 0 {
		t.Fatalf("reply %d %s %s %v", r.Status, r.Body, r.Details, r.Headers)
	}
	select {
	case <-arrived:
	case <-time.After(wait):
		t.Fatal("the record never reached the broker")
	}
	if n := kfaketest.Records(t, c, topic); n != 0 {
		t.Fatalf("%d records before the release", n)
	}
	release()
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 1), []kfaketest.Record{{Offset: 0, Value: `{"body":"{\"a\":1}","body_args":{"a":1}}`}})
}

func TestAsyncAcceptedStatus200(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{Async: &config.Async{Enabled: true, AcceptedStatus: 200}})
	if r := handle(t, p, request("text/plain", "x")); r.Status != 200 || string(r.Body) != accepted {
		t.Errorf("reply %d %s", r.Status, r.Body)
	}
}

// buffer_records 2: two single-record requests are accepted while Kafka
// holds them, the third is refused whole with 503 and Retry-After, and
// after the release the buffer takes requests again.
func TestAsyncBufferLimit(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{Async: &config.Async{Enabled: true, BufferRecords: 2}})
	arrived, release := kfaketest.HoldProduce(t, c)
	for i := range 2 {
		if r := handle(t, p, request("text/plain", "x")); r.Status != 202 {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
	}
	<-arrived
	r := handle(t, p, request("text/plain", "x"))
	want := `{"message":"Service Unavailable","error":"the async buffer is full (async.buffer_records or async.buffer_bytes); retry later"}`
	if r.Status != 503 || string(r.Body) != want || r.Details != "kafka_upstream_buffer_full" || r.Headers["retry-after"] != "1" {
		t.Fatalf("over the bound: %d %s %s %v", r.Status, r.Body, r.Details, r.Headers)
	}
	release()
	deadline := time.Now().Add(wait)
	for kfaketest.Records(t, c, topic) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for { // the buffer frees its room once the records are acknowledged
		if r := handle(t, p, request("text/plain", "x")); r.Status == 202 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("buffer still full after delivery: %d %s", r.Status, r.Body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAsyncPreferRespondAsync(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{Async: &config.Async{AllowPreferAsync: true}})
	for _, prefer := range []string{"respond-async", "return=minimal, Respond-Async", "respond-async; wait=10", "wait=5,respond-async"} {
		req := request("text/plain", "x")
		req.Headers = append(req.Headers, message.Header{Name: "prefer", Value: prefer})
		r := handle(t, p, req)
		if r.Status != 202 || string(r.Body) != accepted || r.Headers["preference-applied"] != "respond-async" {
			t.Errorf("Prefer: %s: %d %s %v", prefer, r.Status, r.Body, r.Headers)
		}
	}
	for _, prefer := range []string{"", "return=minimal", "respond-asynchronously"} {
		req := request("text/plain", "x")
		if prefer != "" {
			req.Headers = append(req.Headers, message.Header{Name: "prefer", Value: prefer})
		}
		r := handle(t, p, req)
		if r.Status != 200 || !strings.HasPrefix(string(r.Body), `{"message":"message sent","records":[{"topic":"events","partition":0,"offset":`) || r.Headers != nil {
			t.Errorf("Prefer %q on a synchronous route: %d %s %v, want the synchronous 200", prefer, r.Status, r.Body, r.Headers)
		}
	}
}

// A topic that does not exist is refused at once (404), as synchronously;
// it does not count as the cluster failing.
func TestAsyncRefusesAnUnknownTopicAtOnce(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{Topic: "nope", Async: &config.Async{Enabled: true}})
	if r := handle(t, p, request("text/plain", "x")); r.Status != 404 {
		t.Errorf("unknown topic: %d %s", r.Status, r.Body)
	}
}

// Health gating: once a delivery failed because the cluster cannot be
// reached, new requests get 503 but for one probe a second.
func TestAsyncHealthGating(t *testing.T) {
	p, logs := newPipeline(t, []string{kfaketest.RefusingAddr(t)}, &config.Config{
		ProduceTimeout: durationpb.New(time.Second),
		Async:          &config.Async{Enabled: true, DeliveryTimeout: durationpb.New(300 * time.Millisecond)}})
	if r := handle(t, p, request("text/plain", "x")); r.Status != 202 {
		t.Fatalf("first request: %d %s", r.Status, r.Body)
	}
	deadline := time.Now().Add(wait)
	for p.producer.Async().Lost() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if p.producer.Async().Lost() != 1 {
		t.Fatal("the undeliverable record was not counted as lost")
	}
	// The probe of this second was not used yet: one request passes.
	if r := handle(t, p, request("text/plain", "x")); r.Status != 202 {
		t.Fatalf("probe: %d %s", r.Status, r.Body)
	}
	r := handle(t, p, request("text/plain", "x"))
	if r.Status != 503 || r.Details != "kafka_upstream_unhealthy" || r.Headers["retry-after"] != "1" {
		t.Errorf("while failing: %d %s %s %v", r.Status, r.Body, r.Details, r.Headers)
	}
	if !strings.Contains(strings.Join(logs.Lines(), "\n"), "async: a record accepted for delivery was not delivered") {
		t.Errorf("no log line for the lost record: %q", logs.Lines())
	}
}

// Close flushes: every accepted record is in Kafka when it returns.
func TestAsyncCloseFlushes(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	s, err := config.Resolve(&config.Config{BootstrapServers: c.ListenAddrs(), Topic: topic, Async: &config.Async{Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	_, log := logtest.New()
	p := New(s, log, nil)
	arrived, release := kfaketest.HoldProduce(t, c)
	for range 20 {
		if r := handle(t, p, request("text/plain", "x")); r.Status != 202 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	<-arrived
	time.AfterFunc(100*time.Millisecond, release)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := kfaketest.Records(t, c, topic); n != 20 {
		t.Errorf("%d records in Kafka after Close, want 20", n)
	}
}
