package schema

import (
	"context"
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/registrytest"
)

// The request path's cost of a schema, the cache warm: one record value
// of about 200 bytes of JSON, per format.
func BenchmarkSerialize(b *testing.B) {
	f := registrytest.New(b)
	f.Register("shop.Address", "", addressAvro)
	f.Register("avro-value", "", orderAvro, map[string]any{"name": "shop.Address", "subject": "shop.Address", "version": 1})
	f.Register("json-value", "JSON", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"id":{"type":"integer"},"customer":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}}},"required":["id"]}`)
	f.Register("shop/money.proto", "PROTOBUF", moneyProto)
	f.Register("proto-value", "PROTOBUF", orderProto, map[string]any{"name": "shop/money.proto", "subject": "shop/money.proto", "version": 1})
	for _, bc := range []struct {
		format, topic, doc string
	}{
		{config.SchemaAvro, "avro", `{"id": 42, "customer": "ada", "address": {"city": "Paris"}, "placed": "2026-12-01T10:00:00.5Z", "day": "2026-12-01", "amount": 12.34, "ref": "0b0f6a43-3a4c-4f47-9d7e-2b5a5a1e8f00", "tags": ["a", "b"]}`},
		{config.SchemaJSON, "json", `{"id": 42, "customer": "ada", "address": {"city": "Paris"}, "placed": "2026-12-01T10:00:00.5Z", "amount": 12.34, "tags": ["a", "b"]}`},
		{config.SchemaProtobuf, "proto", `{"id": "42", "total": {"currency": "EUR", "units": 1234}, "placed": "2026-12-01T10:00:00.5Z", "lines": [{"sku": "a"}, {"sku": "b"}]}`},
	} {
		b.Run(bc.format, func(b *testing.B) {
			r := New(&config.Registry{URLs: []string{f.URL()}, Timeout: 1e9, LatestTTL: 3600e9, Value: &config.RecordSchema{Format: bc.format}}, nil)
			doc := []byte(bc.doc)
			if _, err := r.Value(context.Background(), bc.topic, doc); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := r.Value(context.Background(), bc.topic, doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
