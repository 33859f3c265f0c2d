package ingest

// Benchmarks of the core path (issue 9): Pipeline.Handle routing, encoding
// and publishing a 1 KiB JSON request to an in-process kfake broker,
// synchronously with acks=all (the defaults), for one record and for a
// fan-out to 3 topics. They run only with -bench:
//
//	go test -run '^$' -bench . -benchmem ./ingest/
//
// The sequential benchmarks measure one request's latency, which is bound
// by the producer's batch_timeout (1 ms by default: a lone record waits it
// out for company); the parallel ones show what batching across concurrent
// requests gives.

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// benchBody is about 1 KiB of JSON.
var benchBody = func() []byte {
	var b strings.Builder
	b.WriteString(`{"id":42,"customer":{"name":"Ada","email":"ada@example.com"},"items":[`)
	for i := 0; b.Len() < 1000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"sku":"SKU-000042","qty":3,"price":19.99}`)
	}
	b.WriteString("]}")
	return []byte(b.String())
}()

// benchPipeline is a pipeline on a fresh kfake cluster with the topics
// events, orders and audit (one partition each), clients allowed to name
// any of them with ?topics=, every forward_* flag on (the `make run`
// default route); it logs nowhere.
func benchPipeline(b *testing.B) *Pipeline {
	b.Helper()
	c := kfaketest.NewCluster(b, topic, "orders", "audit")
	s, err := config.Resolve(&config.Config{
		BootstrapServers: c.ListenAddrs(),
		Topic:            topic,
		TopicsQueryArg:   proto.String("topics"),
		AllowedTopics:    []string{"orders", "audit"},
		ForwardMethod:    proto.Bool(true),
		ForwardUri:       proto.Bool(true),
		ForwardHeaders:   proto.Bool(true),
	})
	if err != nil {
		b.Fatalf("Resolve: %v", err)
	}
	if s.Producer.RequiredAcks != -1 {
		b.Fatalf("required acks = %d, want -1 (all)", s.Producer.RequiredAcks)
	}
	p := New(s, slog.New(slog.DiscardHandler), nil)
	b.Cleanup(func() { p.Close() })
	return p
}

func benchRequest(path string) *message.Request {
	return &message.Request{
		Headers: []message.Header{
			{Name: ":method", Value: "POST"},
			{Name: ":path", Value: path},
			{Name: ":authority", Value: "ingest.example.com"},
			{Name: ":scheme", Value: "http"},
			{Name: "content-type", Value: "application/json"},
			{Name: "user-agent", Value: "bench/1.0"},
			{Name: "x-request-id", Value: "5c1f2a9e-8d1b-4c7e-9a3f-0b6d2e4f8a11"},
		},
		Body: benchBody,
	}
}

var benchPaths = []struct{ name, path string }{
	{"one-record", "/orders?key=order-42"},
	{"fan-out-3", "/orders?key=order-42&topics=events,orders,audit"},
}

// benchHandle publishes one request (a warm-up that also checks the
// reply) before measuring, so that connecting and metadata are not
// counted.
func benchHandle(b *testing.B, p *Pipeline, r *message.Request) {
	b.Helper()
	if reply := p.Handle(context.Background(), r); reply.Status != 200 {
		b.Fatalf("reply %d %s", reply.Status, reply.Body)
	}
	b.SetBytes(int64(len(r.Body)))
	b.ReportAllocs()
}

func BenchmarkHandle(b *testing.B) {
	for _, tt := range benchPaths {
		b.Run(tt.name, func(b *testing.B) {
			p := benchPipeline(b)
			r := benchRequest(tt.path)
			benchHandle(b, p, r)
			for b.Loop() {
				if reply := p.Handle(context.Background(), r); reply.Status != 200 {
					b.Fatalf("reply %d %s", reply.Status, reply.Body)
				}
			}
		})
	}
}

// BenchmarkHandleParallel runs 16 requests at a time per GOMAXPROCS, as
// Envoy's concurrent streams do: ns/op is the inverse of throughput.
func BenchmarkHandleParallel(b *testing.B) {
	for _, tt := range benchPaths {
		b.Run(tt.name, func(b *testing.B) {
			p := benchPipeline(b)
			benchHandle(b, p, benchRequest(tt.path))
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				r := benchRequest(tt.path) // one request each: Handle only reads it
				for pb.Next() {
					if reply := p.Handle(context.Background(), r); reply.Status != 200 {
						b.Errorf("reply %d %s", reply.Status, reply.Body)
						return
					}
				}
			})
		})
	}
}
