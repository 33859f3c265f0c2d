package dynmod_test

import (
	"strings"
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/dynmod"
	"github.com/kafka-upstream/envoy-kafka-upstream/dynmod/envoyfake"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

// BenchmarkStream is one request through the module's hooks as Envoy
// drives them — headers, the 1 KiB JSON body, the publishing goroutine,
// the scheduler's commit, on_scheduled's reply, destroy — with make run's
// default route (Kong's envelope, every forward_* flag), 16×GOMAXPROCS
// streams at a time, against kfake. Built with -tags
// kafka_upstream_nopublish it measures the module without Kafka (bench
// scenario b's module side). Envoy's own work is not in it: the fake
// answers the callbacks.
func BenchmarkStream(b *testing.B) {
	c := kfaketest.NewPartitionedCluster(b, 3, topic)
	h := envoyfake.ConfigNew(dynmod.Name, []byte(`{"bootstrap_servers":["`+strings.Join(c.ListenAddrs(), `","`)+`"],"topic":"`+topic+`",
		"forward_method":true,"forward_uri":true,"forward_headers":true,"forward_body":true,"required_acks":-1,
		"headers":{"forward_http_headers_as_record_headers":true,"include_headers":["x-request-id"]}}`))
	if h == 0 {
		b.Fatalf("config refused: %v", envoyfake.Logs())
	}
	closer := dynmod.Closer(h)
	defer func() { envoyfake.ConfigDestroy(h); _ = closer() }()
	body := []byte(`{"d":"` + strings.Repeat("x", 1024-8) + `"}`)
	hs := headers("POST", "/bench", "content-type", "application/json", "content-length", "1024", "user-agent", "loadgen",
		"x-forwarded-proto", "http", "x-request-id", "0d6e1b5c-3f5e-4a8e-9a53-6f1c2c4b7e21")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s := envoyfake.NewStream(h)
			s.RequestHeaders(hs, false)
			s.RequestBody(body, true)
			if !s.RunScheduled(wait) {
				b.Error("no reply")
				return
			}
			if r := s.Replies(); len(r) != 1 || r[0].Status != 200 {
				b.Errorf("replies %+v", r)
			}
			s.Destroy()
		}
	})
}
