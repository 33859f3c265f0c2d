package filter

import (
	"log/slog"
	"maps"
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
	"github.com/kafka-upstream/envoy-kafka-upstream/metrics"
)

// parseWithStats is parseConfig keeping the fake Envoy's config callbacks,
// where the stats live.
func parseWithStats(t *testing.T, fields map[string]any) (*filterConfig, *filtertest.ConfigCallbacks) {
	t.Helper()
	filtertest.InstallLogger()
	_, log := logtest.New()
	cc := &filtertest.ConfigCallbacks{}
	cfg, err := (&Parser{NewLogger: func() *slog.Logger { return log }}).Parse(kfaketest.TypedStruct(t, config.TypeURL, fields), cc)
	if err != nil {
		t.Fatal(err)
	}
	fc := cfg.(*filterConfig)
	t.Cleanup(func() { fc.Destroy(); fc.pipeline.Close() })
	return fc, cc
}

// values reads every stat the filter defines.
func values(cc *filtertest.ConfigCallbacks, topics ...string) map[string]uint64 {
	out := map[string]uint64{}
	for _, o := range metrics.Outcomes() {
		name := statName(metrics.Requests, o.String())
		out[name] = cc.Counter(name).Get()
	}
	for _, tp := range topics {
		for _, c := range []metrics.Counter{metrics.RecordsSent, metrics.BytesSent, metrics.RecordsLost} {
			if m := cc.Counter(statName(c, tp)); m != nil {
				out[statName(c, tp)] = m.Get()
			}
		}
	}
	for _, g := range metrics.Gauges {
		out[metrics.Prefix+"."+g.String()] = cc.Gauge(metrics.Prefix + "." + g.String()).Get()
	}
	return out
}

// Known traffic, counted exactly in the stats the SDK holds: 2 sent to
// the config's topic, 1 to an allowed one, 1 refused (not allowed), 1
// CONNECT; the records' place in the dynamic metadata.
func TestStatsCountKnownTraffic(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, "orders")
	cfg, cc := parseWithStats(t, kafkaConfig(c, map[string]any{"allowed_topics": []any{"orders"}, "topics_query_arg": "topics"}))
	if cc.Counter("kafka_upstream.records_sent.topic.orders") == nil || cc.Counter("kafka_upstream.records_sent.topic._other") == nil ||
		cc.Counter("kafka_upstream.requests.outcome.sent") == nil || cc.Gauge("kafka_upstream.async_buffer_bytes") == nil {
		t.Fatal("the filter-level Parse did not define the stats")
	}
	flush()
	before := values(cc, topic, "orders", otherTopic)

	for i, path := range []string{"/", "/", "/?topics=orders"} {
		s := newStream(cfg)
		s.send(t, filtertest.NewHeaders(":method", "GET", ":path", path, ":authority", "example.com"), nil)
		r := s.finish(t)
		if r.Status != 200 {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
		want := map[string]any{"topic": topic, "partition": 0, "offset": int64(i), "records": 1}
		if i == 2 {
			want["topic"], want["offset"] = "orders", int64(0)
		}
		if got := s.cb.Info.Metadata.Get("kafka_upstream"); !maps.Equal(got, want) {
			t.Errorf("request %d: dynamic metadata %v, want %v", i, got, want)
		}
	}
	s := newStream(cfg)
	s.send(t, filtertest.NewHeaders(":method", "GET", ":path", "/?topics=secret"), nil)
	if r := s.finish(t); r.Status != 403 {
		t.Fatalf("secret topic: %d", r.Status)
	}
	if md := s.cb.Info.Metadata.Get("kafka_upstream"); md != nil {
		t.Errorf("dynamic metadata of a refused request: %v", md)
	}
	if r := refusedAtHeaders(t, cfg, false, ":method", "CONNECT", ":authority", "example.com:443"); r.Status != 405 {
		t.Fatalf("CONNECT: %d", r.Status)
	}

	flush()
	after := values(cc, topic, "orders", otherTopic)
	changed := map[string]uint64{}
	for name, v := range after {
		if v != before[name] {
			changed[name] = v - before[name]
		}
	}
	bytes := changed["kafka_upstream.bytes_sent.topic.events"]
	delete(changed, "kafka_upstream.bytes_sent.topic.events")
	want := map[string]uint64{
		"kafka_upstream.requests.outcome.sent":               3,
		"kafka_upstream.requests.outcome.topic_not_allowed":  1,
		"kafka_upstream.requests.outcome.method_not_allowed": 1,
		"kafka_upstream.records_sent.topic.events":           2,
		"kafka_upstream.records_sent.topic.orders":           1,
		"kafka_upstream.bytes_sent.topic.orders":             bytes / 2, // the same envelope
	}
	if !maps.Equal(changed, want) || bytes == 0 {
		t.Errorf("stats changed by %v (events bytes %d), want %v", changed, bytes, want)
	}
	if after["kafka_upstream.requests_in_flight"] != 0 {
		t.Errorf("in flight = %d after every reply", after["kafka_upstream.requests_in_flight"])
	}
}

// A topic without stats of its own counts under _other; a destroyed
// config is flushed through no more.
func TestStatsOtherTopicAndDestroy(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, "late")
	_, cc := parseWithStats(t, kafkaConfig(c, nil))
	flush()
	before := cc.Counter("kafka_upstream.records_sent.topic._other").Get()
	processMetrics.Sent("late", 10) // as a route config's topic would
	flush()
	if got := cc.Counter("kafka_upstream.records_sent.topic._other").Get() - before; got != 1 {
		t.Errorf("_other grew by %d, want 1", got)
	}

	// A newer listener config with a topic of its own: records to the
	// older one's topic still count under that topic's stat.
	newer, ccNewer := parseWithStats(t, kafkaConfig(c, map[string]any{"topic": "late"}))
	flush()
	beforeOwn := cc.Counter("kafka_upstream.records_sent.topic." + topic).Get()
	processMetrics.Sent(topic, 10)
	processMetrics.Sent("late", 10)
	flush()
	if got := cc.Counter("kafka_upstream.records_sent.topic."+topic).Get() - beforeOwn; got != 1 {
		t.Errorf("the older config's topic grew by %d, want 1", got)
	}
	if got := ccNewer.Counter("kafka_upstream.records_sent.topic.late").Get(); got != 1 {
		t.Errorf("the newer config's topic has %d, want 1", got)
	}
	if got := ccNewer.Counter("kafka_upstream.records_sent.topic._other").Get(); got != 0 {
		t.Errorf("_other of the newer config has %d, want 0: both topics have stats", got)
	}
	newer.Destroy()

	second, cc2 := parseWithStats(t, kafkaConfig(c, nil))
	second.Destroy()
	processMetrics.Refused("kafka_upstream_bad_body")
	flush()
	if v := cc2.Counter("kafka_upstream.requests.outcome.bad_body").Get(); v != 0 {
		t.Errorf("a destroyed config's stat was flushed into: %d", v)
	}
}
