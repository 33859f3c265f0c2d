//go:build e2e

package envoy_test

import (
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
)

// TestTraceContext (issue 11): a request's W3C trace context reaches the
// record headers, read back from Kafka, with propagate_trace_context left
// at its default (on) in the suite's configs. /raw (config raw, forwarding
// x-request-id and x-tenant) shows it after the forwarded headers, two
// tracestate headers joined; /audit (no headers section) shows it does not
// need forwarding; an invalid traceparent takes tracestate with it, not
// baggage.
func TestTraceContext(t *testing.T) {
	ensureTopics(t)
	const (
		traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		baggage     = "userId=alice,serverNode=DF%2028"
	)
	for _, client := range clients {
		t.Run(client.name+"/raw", func(t *testing.T) {
			prior := before(t)
			code, body, ct := do(t, client.c, "POST", "/raw/traced", "text/plain", []byte("traced"),
				"Traceparent", traceparent, "Tracestate", "congo=t61rcWkgMzE", "Tracestate", "rojo=00f067aa0ba902b7",
				"Baggage", baggage, "X-Tenant", "acme")
			rec := expectSent(t, code, body, ct, prior, target{rawTopic, -1})[0]
			id := recordHeader(rec, "x-request-id")
			if !requestID.MatchString(id) {
				t.Errorf("record header x-request-id %q is not Envoy's UUID", id)
			}
			kafkatest.ExpectRecord(t, rec, kafkatest.Record{Topic: rawTopic, Partition: rec.Partition, Offset: rec.Offset, Value: []byte("traced"),
				Headers: kafkatest.Headers("content-type", "text/plain", "tenant", "acme", "x-request-id", id,
					"traceparent", traceparent, "tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", "baggage", baggage)})
		})
		t.Run(client.name+"/no header forwarding", func(t *testing.T) {
			prior := before(t)
			code, body, ct := do(t, client.c, "POST", "/audit", "text/plain", []byte("a"),
				"Traceparent", traceparent, "Tracestate", "congo=t61rcWkgMzE", "X-Tenant", "acme")
			rec := expectSent(t, code, body, ct, prior, target{auditTopic, -1})[0]
			kafkatest.ExpectRecord(t, rec, kafkatest.Record{Topic: auditTopic, Partition: rec.Partition, Offset: rec.Offset, Value: []byte(`{"method":"POST"}`),
				Headers: kafkatest.Headers("traceparent", traceparent, "tracestate", "congo=t61rcWkgMzE")})
		})
		t.Run(client.name+"/invalid traceparent", func(t *testing.T) {
			prior := before(t)
			// Upper-case hex: W3C Trace Context allows lower-case only.
			code, body, ct := do(t, client.c, "POST", "/audit", "text/plain", []byte("a"),
				"Traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", "Tracestate", "congo=t61rcWkgMzE",
				"Baggage", baggage)
			rec := expectSent(t, code, body, ct, prior, target{auditTopic, -1})[0]
			kafkatest.ExpectRecord(t, rec, kafkatest.Record{Topic: auditTopic, Partition: rec.Partition, Offset: rec.Offset, Value: []byte(`{"method":"POST"}`),
				Headers: kafkatest.Headers("baggage", baggage)})
		})
	}
}
