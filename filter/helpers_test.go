package filter

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
)

const (
	topic = "events"
	// wait bounds every wait on the filter's goroutine or on Kafka; the
	// tests normally finish far sooner.
	wait = 10 * time.Second
)

// sent is the 200 body for one record acknowledged at topic/partition,
// offset.
func sent(topic string, partition int, offset int64) string {
	return fmt.Sprintf(`{"message":"message sent","records":[{"topic":%q,"partition":%d,"offset":%d}]}`, topic, partition, offset)
}

// parseConfig builds a filter config through Parser.Parse, the way Envoy
// loads a filter-level plugin_config, and destroys it when the test ends.
// The pipeline logs to the returned recorder.
func parseConfig(t *testing.T, fields map[string]any) (*filterConfig, *logtest.Recorder) {
	t.Helper()
	filtertest.InstallLogger()
	rec, log := logtest.New()
	parser := &Parser{NewLogger: func() *slog.Logger { return log }}
	cfg, err := parser.Parse(kfaketest.TypedStruct(t, config.TypeURL, fields), &filtertest.ConfigCallbacks{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	fc, ok := cfg.(*filterConfig)
	if !ok {
		t.Fatalf("Parse returned %T, want *filterConfig", cfg)
	}
	var _ api.Config = fc // Envoy calls Destroy when xDS drops the config
	t.Cleanup(func() {
		fc.Destroy()
		// Destroy closes the producer in the background; closing it again
		// waits for that, so no writer outlives its test.
		fc.pipeline.Close()
	})
	return fc, rec
}

// kafkaConfig is the config for cluster c, plus extra fields.
func kafkaConfig(c *kfake.Cluster, extra map[string]any) map[string]any {
	var brokers []any
	for _, a := range c.ListenAddrs() {
		brokers = append(brokers, a)
	}
	fields := map[string]any{"bootstrap_servers": brokers, "topic": topic}
	for k, v := range extra {
		fields[k] = v
	}
	return fields
}

// allFlags forwards method, uri, headers and body.
var allFlags = map[string]any{
	"forward_method": true, "forward_uri": true, "forward_headers": true, "forward_body": true,
}

// stream is one HTTP stream through the filter.
type stream struct {
	f  api.StreamFilter
	cb *filtertest.Callbacks
}

func newStream(cfg *filterConfig) *stream {
	cb := filtertest.NewCallbacks()
	return &stream{f: Factory(cfg, cb), cb: cb}
}

// send drives the filter as Envoy does for a request without trailers:
// DecodeHeaders, then, when a body follows, the whole body in one DecodeData
// (DecodeHeaders returned StopAndBuffer). A nil body means a bodyless
// request (endStream on the headers).
func (s *stream) send(t *testing.T, h *filtertest.Headers, body []byte) {
	t.Helper()
	if body == nil {
		if got := s.f.DecodeHeaders(h, true); got != api.Running {
			t.Fatalf("DecodeHeaders(endStream=true) = %d, want Running (%d)", got, api.Running)
		}
		return
	}
	if got := s.f.DecodeHeaders(h, false); got != api.StopAndBuffer {
		t.Fatalf("DecodeHeaders(endStream=false) = %d, want StopAndBuffer (%d)", got, api.StopAndBuffer)
	}
	if got := s.f.DecodeData(filtertest.NewBuffer(body), true); got != api.Running {
		t.Fatalf("DecodeData(endStream=true) = %d, want Running (%d)", got, api.Running)
	}
}

// finish awaits the reply and the end of the filter's goroutine, checks
// that exactly one terminal call was made with the shape every reply has,
// and ends the stream as Envoy does after a local reply.
func (s *stream) finish(t *testing.T) filtertest.LocalReply {
	t.Helper()
	reply := s.cb.WaitEnd(t, wait)
	checkReplyShape(t, reply)
	filtertest.DestroyStream(s.f, s.cb, api.Normal)
	return reply
}

// checkReplyShape checks what every reply of the filter carries: a JSON
// content-type, grpc status -1 (plain HTTP) and details usable in
// %RESPONSE_CODE_DETAILS%.
func checkReplyShape(t *testing.T, r filtertest.LocalReply) {
	t.Helper()
	if len(r.Headers) != 1 || len(r.Headers["content-type"]) != 1 || r.Headers["content-type"][0] != "application/json" {
		t.Errorf("reply headers = %v, want exactly content-type: application/json", r.Headers)
	}
	if r.GrpcStatus != -1 {
		t.Errorf("reply grpc status = %d, want -1", r.GrpcStatus)
	}
	if r.Details == "" || strings.ContainsAny(r.Details, " \t\r\n") {
		t.Errorf("reply details = %q, want non-empty without spaces or newlines", r.Details)
	}
}

func expectReply(t *testing.T, got filtertest.LocalReply, status int, body, details string) {
	t.Helper()
	if got.Status != status || got.Body != body || got.Details != details {
		t.Errorf("reply = %d %s (details %q)\nwant    %d %s (details %q)", got.Status, got.Body, got.Details, status, body, details)
	}
}
