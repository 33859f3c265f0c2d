package ingest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
	"github.com/kafka-upstream/envoy-kafka-upstream/metrics"
)

// observed records what a metrics.Observer gets.
type observed struct {
	produces, failed, records, bytes int
}

func (o *observed) Produce(_ time.Duration, ok bool) {
	o.produces++
	if !ok {
		o.failed++
	}
}
func (o *observed) Record(bytes int) { o.records++; o.bytes += bytes }

func countingPipeline(t *testing.T, cfg *config.Config, obs metrics.Observer) (*Pipeline, *metrics.Set) {
	t.Helper()
	s, err := config.Resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, log := logtest.New()
	m := metrics.New(obs)
	p := New(s, log, m)
	t.Cleanup(func() { p.Close() })
	return p, m
}

// Known traffic, counted exactly: 3 sent (one a fan-out to two topics),
// 2 refused for their body, 1 for its topic, 1 unknown topic.
func TestMetricsCountKnownTraffic(t *testing.T) {
	c := kfaketest.NewCluster(t, "events", "audit")
	obs := &observed{}
	p, m := countingPipeline(t, &config.Config{BootstrapServers: c.ListenAddrs(), Topic: "events",
		AllowedTopics: []string{"events", "audit", "gone"}, TopicsQueryArg: new("topic")}, obs)

	for _, req := range []struct{ path, body string }{
		{"/", "hello"}, {"/?topic=audit", "hi"}, {"/?topic=events,audit", "both"},
	} {
		if r := handle(t, p, post(req.path, req.body, "content-type", "text/plain")); r.Status != 200 {
			t.Fatalf("%s: %d %s", req.path, r.Status, r.Body)
		}
	}
	for range 2 {
		if r := handle(t, p, post("/", "{", "content-type", "application/json")); r.Status != 400 {
			t.Fatalf("bad body: %d %s", r.Status, r.Body)
		}
	}
	if r := handle(t, p, post("/?topic=secret", "x")); r.Status != 403 {
		t.Fatalf("topic not allowed: %d %s", r.Status, r.Body)
	}
	if r := handle(t, p, post("/?topic=gone", "x")); r.Status != 404 {
		t.Fatalf("unknown topic: %d %s", r.Status, r.Body)
	}

	want := map[metrics.Outcome]uint64{metrics.Sent: 3, metrics.BadBody: 2, metrics.TopicNotAllowed: 1, metrics.UnknownTopic: 1}
	for _, o := range metrics.Outcomes() {
		if got := m.Requests(o); got != want[o] {
			t.Errorf("requests %s = %d, want %d", o, got, want[o])
		}
	}
	if n := m.InFlight(); n != 0 {
		t.Errorf("in flight = %d after every reply, want 0", n)
	}
	// The kong envelope of each body is the record value; its size is
	// what Sent counted.
	for _, tc := range []struct {
		topic         string
		records, lost uint64
	}{{"events", 2, 0}, {"audit", 2, 0}, {"gone", 0, 0}} {
		sent, bytes, lost := m.Topic(tc.topic)
		if sent != tc.records || lost != tc.lost || (sent > 0) != (bytes > 0) {
			t.Errorf("topic %s: sent %d (%d bytes), lost %d; want %d sent, %d lost", tc.topic, sent, bytes, lost, tc.records, tc.lost)
		}
	}
	_, eventsBytes, _ := m.Topic("events")
	_, auditBytes, _ := m.Topic("audit")
	if obs.produces != 4 || obs.failed != 1 || obs.records != 4 || uint64(obs.bytes) != eventsBytes+auditBytes {
		t.Errorf("observer: %+v; want 4 produces (1 failed: the unknown topic), 4 records of %d bytes", obs, eventsBytes+auditBytes)
	}
}

// Async: accepted requests count when they are answered; their records
// count as sent once delivered, or as lost.
func TestMetricsAsyncDeliveredAndLost(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p, m := countingPipeline(t, &config.Config{BootstrapServers: c.ListenAddrs(), Topic: topic, Async: &config.Async{Enabled: true}}, nil)
	for range 5 {
		if r := handle(t, p, request("text/plain", "x")); r.Status != 202 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	waitFor(t, func() bool { sent, _, _ := m.Topic(topic); return sent == 5 }, "5 records delivered")
	if got := m.Requests(metrics.Accepted); got != 5 {
		t.Errorf("accepted = %d, want 5", got)
	}

	dead, m2 := countingPipeline(t, &config.Config{BootstrapServers: []string{kfaketest.RefusingAddr(t)}, Topic: topic,
		ProduceTimeout: durationpb.New(time.Second),
		Async:          &config.Async{Enabled: true, DeliveryTimeout: durationpb.New(200 * time.Millisecond)}}, nil)
	if r := handle(t, dead, request("text/plain", "x")); r.Status != 202 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	waitFor(t, func() bool { _, _, lost := m2.Topic(topic); return lost == 1 }, "1 record lost")
	if sent, _, _ := m2.Topic(topic); sent != 0 {
		t.Errorf("sent = %d to a refusing broker", sent)
	}
}

// A panic in the pipeline is answered with the JSON 500 and still ends
// its request: in flight back to 0, counted as internal_error.
func TestMetricsPanicCountsAsInternalError(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p, m := countingPipeline(t, &config.Config{BootstrapServers: c.ListenAddrs(), Topic: topic}, nil)
	p.router = nil // Route panics
	r := p.Handle(t.Context(), request("text/plain", "x"))
	if want := InternalError(); r.Status != 500 || r.Details != want.Details || string(r.Body) != string(want.Body) {
		t.Errorf("reply after a panic: %d %s %s, want %d %s", r.Status, r.Body, r.Details, want.Status, want.Body)
	}
	if m.InFlight() != 0 || m.Requests(metrics.InternalError) != 1 {
		t.Errorf("after a panic: in flight %d, internal_error %d; want 0 and 1", m.InFlight(), m.Requests(metrics.InternalError))
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Every details string the core answers with has an outcome of its own:
// the two lists are kept in step here.
func TestEveryDetailsHasAnOutcome(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	details := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"(kafka_upstream_[a-z_]+)"`).FindAllSubmatch(src, -1) {
			details[string(m[1])] = true
		}
	}
	if len(details) < 20 {
		t.Fatalf("found only %d details strings: %v", len(details), details)
	}
	for d := range details {
		o := metrics.OutcomeOf(d)
		if "kafka_upstream_"+o.String() != d {
			t.Errorf("details %s counts as %s", d, o)
		}
		if o := metrics.OutcomeOf(d + "_partly"); o != metrics.PartlySent {
			t.Errorf("%s_partly counts as %s", d, o)
		}
	}
}
