package ingest

import (
	"context"
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

func TestRequestIDHeader(t *testing.T) {
	on := func(extra ...string) *message.Request {
		r := request("text/plain", "x")
		for i := 0; i+1 < len(extra); i += 2 {
			r.Headers = append(r.Headers, message.Header{Name: extra[i], Value: extra[i+1]})
		}
		return r
	}
	tests := []struct {
		name    string
		cfg     *config.Config
		req     *message.Request
		headers []kfaketest.Header
	}{
		{"Idempotency-Key wins over x-request-id", &config.Config{RequestIdHeader: ptr("request-id")},
			on("x-request-id", "envoy-1", "idempotency-key", "client-7"), []kfaketest.Header{{Key: "request-id", Value: "client-7"}}},
		{"x-request-id without Idempotency-Key", &config.Config{RequestIdHeader: ptr("request-id")},
			on("x-request-id", "envoy-1"), []kfaketest.Header{{Key: "request-id", Value: "envoy-1"}}},
		{"an empty Idempotency-Key does not count", &config.Config{RequestIdHeader: ptr("request-id")},
			on("idempotency-key", "", "x-request-id", "envoy-1"), []kfaketest.Header{{Key: "request-id", Value: "envoy-1"}}},
		{"neither: no header", &config.Config{RequestIdHeader: ptr("request-id")}, on(), nil},
		{"off by default", &config.Config{}, on("x-request-id", "envoy-1"), nil},
		{"a forwarded header of the same key appears once, with the id", &config.Config{
			RequestIdHeader: ptr("x-request-id"),
			Headers: &config.RecordHeaders{ForwardHttpHeadersAsRecordHeaders: true, ForwardAllByDefault: true,
				ExcludeHeaders: []string{"content-type"}, RepeatedHeadersBehavior: "retain_duplicates"},
		}, on("x-request-id", "envoy-1", "x-request-id", "envoy-2", "idempotency-key", "client-7", "x-a", "1"),
			[]kfaketest.Header{{Key: "x-request-id", Value: "client-7"}, {Key: "idempotency-key", Value: "client-7"}, {Key: "x-a", Value: "1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := kfaketest.NewCluster(t, topic)
			p, _ := newPipeline(t, c.ListenAddrs(), tt.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if r := p.Handle(ctx, tt.req); r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 1), []kfaketest.Record{{Offset: 0, Value: `{"body":"x","body_args":{}}`, Headers: tt.headers}})
		})
	}
}

func TestRequestIDHeaderMustNotBeBlank(t *testing.T) {
	_, err := config.Resolve(&config.Config{BootstrapServers: []string{"k:1"}, Topic: "t", RequestIdHeader: ptr("  ")})
	if err == nil || err.Error() != `request_id_header: must be a record header key, not blank; "" turns it off` {
		t.Errorf("error %v", err)
	}
}
func ptr[T any](v T) *T { return &v }
