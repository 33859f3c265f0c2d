package ingest

import (
	"context"
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
	"github.com/kafka-upstream/envoy-kafka-upstream/producer"
)

// A config reload (a new pipeline for the same cluster, then the old one
// closed) keeps the producer and its connections: requests through the
// new pipeline never see a closed writer, and the last Close releases it.
func TestReloadKeepsTheProducer(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	before := producer.SharedProducers()
	s, err := config.Resolve(&config.Config{BootstrapServers: c.ListenAddrs(), Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	_, log := logtest.New()
	old := New(s, log, nil)
	reloaded := New(s, log, nil)
	if old.producer != reloaded.producer {
		t.Fatal("the reload built a second producer")
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if r := reloaded.Handle(ctx, request("application/json", `{"a":1}`)); r.Status != 200 {
		t.Fatalf("after the old config closed: %d %s", r.Status, r.Body)
	}
	if got := producer.SharedProducers() - before; got != 1 {
		t.Errorf("%d shared producers, want 1", got)
	}
	if err := reloaded.Close(); err != nil {
		t.Fatal(err)
	}
	if got := producer.SharedProducers() - before; got != 0 {
		t.Errorf("%d shared producers after the last close, want 0", got)
	}
	if n := kfaketest.Records(t, c, topic); n != 1 {
		t.Errorf("%d records, want 1", n)
	}
}
