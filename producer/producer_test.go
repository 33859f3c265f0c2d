package producer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

const topic = "events"

func newProducer(t *testing.T, brokers []string, timeout time.Duration) *Producer {
	t.Helper()
	p := New(config.Cluster{Brokers: brokers, ClientID: "test"}, config.Producer{
		RequiredAcks: -1, ProduceTimeout: timeout,
		BatchTimeout: time.Millisecond, BatchSize: 100, BatchBytes: 1 << 20,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { p.Close() })
	return p
}

func record(v string) []message.Record {
	return []message.Record{{Topic: topic, Value: []byte(v)}}
}

func reasonOf(t *testing.T, err error) Reason {
	t.Helper()
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("error %v (%T), want *producer.Error", err, err)
	}
	return perr.Reason
}

func TestPublishRetriesRetriableBrokerErrors(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p := newProducer(t, c.ListenAddrs(), 10*time.Second)
	seen := kfaketest.FailProduce(c, 2, int16(kafka.NotLeaderForPartition))
	if err := FirstError(p.Publish(context.Background(), record("v"))); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if n := seen.Load(); n != 3 {
		t.Errorf("%d produce requests, want 3 (two refused, then written)", n)
	}
	if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != "v" {
		t.Errorf("record %q", got[0])
	}
}

func TestPublishRetriesUntilTheDeadline(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p := newProducer(t, c.ListenAddrs(), 10*time.Second)
	seen := kfaketest.FailProduce(c, 1<<30, int16(kafka.NotEnoughReplicas))
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	err := FirstError(p.Publish(ctx, record("v")))
	if r := reasonOf(t, err); r != Timeout {
		t.Fatalf("reason %d (%v), want Timeout", r, err)
	}
	// Attempts at 0, 0.1, 0.3 and 0.7 s (backoff 100 ms doubling).
	if n := seen.Load(); n < 3 || n > 4 {
		t.Errorf("%d produce requests in 700ms, want 3 or 4", n)
	}
	if kfaketest.HighWatermark(t, c, topic) != 0 {
		t.Error("a refused record was written")
	}
}

func TestPublishDoesNotRetryPermanentErrors(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p := newProducer(t, c.ListenAddrs(), 10*time.Second)
	seen := kfaketest.FailProduce(c, 1<<30, int16(kafka.TopicAuthorizationFailed))
	err := FirstError(p.Publish(context.Background(), record("v")))
	if r := reasonOf(t, err); r != Unavailable {
		t.Fatalf("reason %d (%v), want Unavailable", r, err)
	}
	if n := seen.Load(); n != 1 {
		t.Errorf("%d produce requests, want 1", n)
	}
}

func TestPublishBrokerRefusesTooLarge(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p := newProducer(t, c.ListenAddrs(), 10*time.Second)
	seen := kfaketest.FailProduce(c, 1<<30, int16(kafka.MessageSizeTooLarge))
	if r := reasonOf(t, FirstError(p.Publish(context.Background(), record("v")))); r != BrokerTooLarge {
		t.Fatalf("reason %d, want BrokerTooLarge", r)
	}
	if n := seen.Load(); n != 1 {
		t.Errorf("%d produce requests, want 1", n)
	}
}

func TestPublishTooLargeForBatchBytes(t *testing.T) {
	p := newProducer(t, []string{"127.0.0.1:1"}, time.Second)
	big := make([]byte, 2<<20)
	err := FirstError(p.Publish(context.Background(), []message.Record{{Topic: topic, Value: big}}))
	if r := reasonOf(t, err); r != TooLarge {
		t.Fatalf("reason %d (%v), want TooLarge", r, err)
	}
}

// An unreachable cluster fails fast: Unavailable well before the deadline.
func TestPublishUnreachableFailsFast(t *testing.T) {
	// A listener that accepts and at once closes every connection.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	p := newProducer(t, []string{l.Addr().String()}, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = FirstError(p.Publish(ctx, record("v")))
	if r := reasonOf(t, err); r != Unavailable {
		t.Fatalf("reason %d (%v), want Unavailable", r, err)
	}
	if ctx.Err() != nil {
		t.Error("Publish used up the whole deadline")
	}
}

func TestPublishAfterClose(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p := newProducer(t, c.ListenAddrs(), time.Second)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if r := reasonOf(t, FirstError(p.Publish(context.Background(), record("v")))); r != Closed {
		t.Fatalf("reason %d, want Closed", r)
	}
}

func TestUnacknowledgedKeepsOnlyFailedRecords(t *testing.T) {
	msgs := []kafka.Message{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}}
	left, cause := unacknowledged(msgs, kafka.WriteErrors{nil, kafka.NotLeaderForPartition, kafka.RequestTimedOut})
	if len(left) != 2 || string(left[0].Value) != "b" || string(left[1].Value) != "c" {
		t.Errorf("left %v", left)
	}
	if !errors.Is(cause, kafka.NotLeaderForPartition) {
		t.Errorf("cause %v", cause)
	}
	whole := errors.New("dial")
	left, cause = unacknowledged(msgs, whole)
	if len(left) != 3 || cause != whole {
		t.Errorf("a whole-write error must keep every record: %v %v", left, cause)
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for n, w := range want {
		if got := backoff(n); got != w*time.Millisecond {
			t.Errorf("backoff(%d) = %s, want %s", n, got, w*time.Millisecond)
		}
	}
}

func TestPublishReturnsOneResultPerRecordInInputOrder(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, "audit")
	p := newProducer(t, c.ListenAddrs(), 10*time.Second)
	records := []message.Record{
		{Topic: topic, Partition: message.AnyPartition, Value: []byte("a")},
		{Topic: "audit", Partition: message.AnyPartition, Value: []byte("b")},
		{Topic: topic, Partition: message.AnyPartition, Value: []byte("c")},
	}
	got := p.Publish(context.Background(), records)
	want := []message.Result{
		{Topic: topic, Partition: 0, Offset: 0},
		{Topic: "audit", Partition: 0, Offset: 0},
		{Topic: topic, Partition: 0, Offset: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
