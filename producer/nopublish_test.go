//go:build kafka_upstream_nopublish

package producer

import (
	"context"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// make unit runs this with -tags kafka_upstream_nopublish: the bench-only
// build answers every record acknowledged without any broker (here none
// listens on the address).
func TestNoPublishBuildPretendsEveryRecordLanded(t *testing.T) {
	p := newProducer(t, []string{"127.0.0.1:1"}, time.Second)
	start := time.Now()
	records := []message.Record{{Topic: "a", Value: []byte("x")}, {Topic: "b", Value: []byte("y")}}
	results := p.Publish(context.Background(), records)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("took %v: it must not try to connect", d)
	}
	if len(results) != 2 {
		t.Fatalf("%d results, want 2", len(results))
	}
	for i, r := range results {
		if r.Err != nil || r.Topic != records[i].Topic || r.Partition != 0 {
			t.Errorf("result %d = %+v, want topic %s, partition 0, no error", i, r, records[i].Topic)
		}
	}
	if results[1].Offset != results[0].Offset+1 {
		t.Errorf("offsets %d, %d: want consecutive", results[0].Offset, results[1].Offset)
	}
}
