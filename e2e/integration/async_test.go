//go:build integration

package integration_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
)

// The golang filter in async mode against the real broker: 50 concurrent
// requests get 202 at once; a reload (a second config for the same
// cluster) arrives and the first config is destroyed, as Envoy does on an
// LDS update, right after the replies; every accepted record is in Kafka
// afterwards, exactly once, and the reloaded config still publishes.
func TestAsyncGolangFilterAcrossAReload(t *testing.T) {
	const n = 50
	bootstrap := kafkatest.Bootstrap(t)
	topic := newTopic(t, bootstrap)
	fields := kafkaConfig(bootstrap, topic, map[string]any{"async": map[string]any{"enabled": true}})
	filtertest.InstallLogger()
	_, log := logtest.New()
	parser := &filter.Parser{NewLogger: func() *slog.Logger { return log }}
	first, err := parser.Parse(kfaketest.TypedStruct(t, configTypeURL, fields), nil)
	if err != nil {
		t.Fatal(err)
	}
	before := kafkatest.EndOffset(t, bootstrap, topic)

	accepted := fmt.Sprintf(`{"message":"message accepted","records":[{"topic":%q}]}`, topic)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s := newStream(first)
			h := filtertest.NewHeaders(":method", "POST", ":path", "/async", ":authority", authority, "content-type", "text/plain")
			if err := s.start(h, []byte(fmt.Sprintf("async-%d", i))); err != nil {
				t.Error(err)
				return
			}
			reply := s.cb.WaitEnd(t, wait)
			if reply.Status != 202 || reply.Body != accepted || reply.Details != "kafka_upstream_accepted" {
				t.Errorf("request %d: %d %s (%s)", i, reply.Status, reply.Body, reply.Details)
			}
			filtertest.DestroyStream(s.f, s.cb, api.Normal)
		})
	}
	wg.Wait()
	reloaded, _ := parse(t, fields)
	first.(api.Config).Destroy()

	msgs := kafkatest.Read(t, bootstrap, topic, before, n)
	seen := map[string]int{}
	for _, m := range msgs {
		seen[string(expectBody(t, m.Value))]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("async-%d", i)]; c != 1 {
			t.Errorf("async-%d is in Kafka %d times, want once", i, c)
		}
	}
	s := newStream(reloaded)
	s.send(t, filtertest.NewHeaders(":method", "POST", ":path", "/async", ":authority", authority, "content-type", "text/plain"), []byte("after"))
	if reply := s.finish(t); reply.Status != 202 {
		t.Errorf("the reloaded config after the first was destroyed: %d %s", reply.Status, reply.Body)
	}
	deadline := time.Now().Add(wait)
	for kafkatest.EndOffset(t, bootstrap, topic) < before+n+1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if end := kafkatest.EndOffset(t, bootstrap, topic); end != before+n+1 {
		t.Errorf("end offset %d, want %d", end, before+n+1)
	}
}

// expectBody is the envelope's body (forward_body only, the default).
func expectBody(t *testing.T, value []byte) []byte {
	t.Helper()
	var env struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal(value, &env); err != nil {
		t.Fatalf("record %s: %v", value, err)
	}
	return []byte(env.Body)
}
