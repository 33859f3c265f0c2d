package producer

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

func sharedSettings(brokers ...string) (config.Cluster, config.Producer) {
	return config.Cluster{Brokers: brokers, ClientID: "test"}, config.Producer{
		RequiredAcks: -1, ProduceTimeout: 5 * time.Second,
		BatchTimeout: time.Millisecond, BatchSize: 100, BatchBytes: 1 << 20,
	}
}

func TestAcquireSharesOneProducerPerIdentityUntilTheLastClose(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cl, ps := sharedSettings(c.ListenAddrs()...)
	before := SharedProducers()

	a := Acquire(cl, ps, log)
	b := Acquire(cl, ps, log) // a reload of the same config
	if a != b {
		t.Fatal("the same cluster and settings got two producers")
	}
	other := ps
	other.RequiredAcks = 1
	o := Acquire(cl, other, log)
	if o == a {
		t.Fatal("different acks share a producer")
	}
	if got := SharedProducers() - before; got != 2 {
		t.Errorf("%d shared producers, want 2", got)
	}

	if err := a.Close(); err != nil { // the old config goes: b still works
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if r := b.Publish(ctx, record("after one close")); r[0].Err != nil {
		t.Fatalf("publish after the first of two closes: %v", r[0].Err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if r := b.Publish(ctx, record("after the last close")); reasonOf(t, r[0].Err) != Closed {
		t.Errorf("publish after the last close: %v, want reason Closed", r[0].Err)
	}
	// A later config builds a new one.
	n := Acquire(cl, ps, log)
	defer n.Close()
	if n == a {
		t.Error("a closed producer was handed out again")
	}
	o.Close()
	if got := SharedProducers() - before; got != 1 {
		t.Errorf("%d shared producers left, want 1 (n)", got)
	}
}

func TestNewIsNotShared(t *testing.T) {
	p := newProducer(t, []string{"127.0.0.1:1"}, time.Second)
	if p.identity != "" {
		t.Error("New registered its producer")
	}
}
