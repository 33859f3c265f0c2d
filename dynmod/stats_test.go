package dynmod_test

import (
	"maps"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/dynmod/envoyfake"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

// flushed waits for the module's next stats flush (a config scheduler
// commit a second, run here as Envoy's main thread would) and returns the
// stats after it.
func flushed(t *testing.T) map[string]uint64 {
	t.Helper()
	deadline := time.Now().Add(wait)
	for envoyfake.RunConfigScheduled() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no stats flush scheduled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return envoyfake.Stats()
}

// delta is after minus before for every stat that changed.
func delta(before, after map[string]uint64) map[string]int64 {
	d := map[string]int64{}
	for name, v := range after {
		if diff := int64(v) - int64(before[name]); diff != 0 {
			d[name] = diff
		}
	}
	return d
}

// Known traffic through the module, counted exactly in Envoy's stats: 3
// sent, 2 bad bodies, 1 CONNECT, 1 unknown topic. The stats live in the
// process, so the test compares before and after.
func TestStatsCountKnownTraffic(t *testing.T) {
	check(t)
	c := kfaketest.NewCluster(t, topic)
	h := newConfig(t, rawConfig(c, map[string]any{"format": "kong", "topics_query_arg": "topic", "allowed_topics": []any{"gone"}}))
	before := flushed(t)

	for i := range 3 {
		s := envoyfake.NewStream(h)
		s.RequestHeaders(headers("POST", "/", "content-type", "text/plain"), false)
		s.RequestBody([]byte("hello"), true)
		if r := finish(t, s); r.Status != 200 {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
		md := s.Metadata()
		if md["kafka_upstream.topic"] != topic || md["kafka_upstream.partition"] != 0.0 || md["kafka_upstream.offset"] != float64(i) || md["kafka_upstream.records"] != 1.0 {
			t.Errorf("dynamic metadata of request %d: %v", i, md)
		}
	}
	for range 2 {
		s := envoyfake.NewStream(h)
		s.RequestHeaders(headers("POST", "/", "content-type", "application/json"), false)
		s.RequestBody([]byte("{"), true)
		if r := finish(t, s); r.Status != 400 {
			t.Fatalf("bad body: %d %s", r.Status, r.Body)
		}
		if md := s.Metadata(); len(md) != 0 {
			t.Errorf("dynamic metadata of a refused request: %v", md)
		}
	}
	s := envoyfake.NewStream(h)
	s.RequestHeaders(headers("CONNECT", "example.com:443"), false)
	if r := s.Replies(); len(r) != 1 || r[0].Status != 405 {
		t.Fatalf("CONNECT: %+v", r)
	}
	s = envoyfake.NewStream(h)
	s.RequestHeaders(headers("POST", "/?topic=gone"), true)
	if r := finish(t, s); r.Status != 404 {
		t.Fatalf("unknown topic: %d %s", r.Status, r.Body)
	}

	got := delta(before, flushed(t))
	_, bytesSeen := got["kafka_upstream.bytes_sent.topic.events"]
	delete(got, "kafka_upstream.bytes_sent.topic.events")
	want := map[string]int64{
		"kafka_upstream.requests.outcome.sent":               3,
		"kafka_upstream.requests.outcome.bad_body":           2,
		"kafka_upstream.requests.outcome.method_not_allowed": 1,
		"kafka_upstream.requests.outcome.unknown_topic":      1,
		"kafka_upstream.records_sent.topic.events":           3,
	}
	if !maps.Equal(got, want) || !bytesSeen {
		t.Errorf("stats changed by %v (bytes_sent counted: %v), want %v", got, bytesSeen, want)
	}
	after := envoyfake.Stats()
	for _, g := range []string{"kafka_upstream.requests_in_flight", "kafka_upstream.async_buffer_records", "kafka_upstream.async_buffer_bytes"} {
		if v, ok := after[g]; !ok || v != 0 {
			t.Errorf("gauge %s = %d (set: %v), want 0", g, v, ok)
		}
	}
}

// A destroyed config's scheduler is never committed to again.
func TestStatsStopWithTheirConfig(t *testing.T) {
	check(t)
	c := kfaketest.NewCluster(t, topic)
	h := envoyfake.ConfigNew("kafka-upstream", jsonOf(t, rawConfig(c, nil)))
	flushed(t)
	envoyfake.ConfigDestroy(h)
	time.Sleep(1200 * time.Millisecond) // a tick: it must find no config
	envoyfake.RunConfigScheduled()
	for _, v := range envoyfake.Violations() {
		t.Errorf("ABI misuse: %s", v)
	}
}
