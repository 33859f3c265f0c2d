//go:build integration

package integration_test

import (
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
)

// The golang filter carries W3C trace context into the record (the other
// adapters: e2e/envoy/tracecontext_test.go): traceparent, tracestate and
// baggage as record headers without any headers section, repeated
// tracestate joined; and nothing with propagate_trace_context false.
func TestTraceContextGolangFilter(t *testing.T) {
	t.Parallel()
	bootstrap := kafkatest.Bootstrap(t)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	request := []string{
		":method", "POST", ":path", "/t", ":authority", authority,
		"traceparent", tp, "tracestate", "a=1", "tracestate", "b=2", "baggage", "user=ada",
	}
	for _, tc := range []struct {
		name  string
		extra map[string]any
		want  []string
	}{
		{"on by default", nil, []string{"traceparent", tp, "tracestate", "a=1,b=2", "baggage", "user=ada"}},
		{"off", map[string]any{"propagate_trace_context": false}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := newTopic(t, bootstrap)
			fields := map[string]any{"forward_method": true, "forward_body": false}
			for k, v := range tc.extra {
				fields[k] = v
			}
			cfg, _ := parse(t, kafkaConfig(bootstrap, topic, fields))
			before := kafkatest.Snapshot(t, bootstrap, map[string]int{topic: 1})
			reply := roundTrip(t, cfg, request, []byte(`{}`))
			expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(topic, 0, before[topic][0])), sentDetails)
			kafkatest.ExpectRecord(t, kafkatest.FetchOne(t, bootstrap, topic, 0, before[topic][0]), kafkatest.Record{
				Topic: topic, Offset: before[topic][0], Value: []byte(`{"method":"POST"}`), Headers: kafkatest.Headers(tc.want...),
			})
		})
	}
}
