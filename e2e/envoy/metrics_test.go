//go:build e2e

package envoy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What the adapters report, read from outside as an operator would: the
// module's stats on Envoy's admin /stats, the ext_proc server's
// Prometheus /metrics; both as Envoy-style names
// (kafka_upstream.requests.outcome.sent).

var (
	envoyStatRE = regexp.MustCompile(`^dynamicmodulescustom\.(kafka_upstream\.\S+): (\d+)$`)
	promRE      = regexp.MustCompile(`^kafka_upstream_(\w+?)(?:_total)?(?:\{(\w+)="([^"]*)"\})? (\S+)$`)
)

// stats reads the adapter's counters and gauges.
func stats(t *testing.T) map[string]float64 {
	t.Helper()
	url := stack.admin + "/stats?filter=kafka_upstream"
	if stack.adapter == extproc {
		url = stack.metrics + "/metrics"
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		if stack.adapter == dynmod {
			if m := envoyStatRE.FindStringSubmatch(line); m != nil {
				v, _ := strconv.ParseFloat(m[2], 64)
				out[m[1]] = v
			}
			continue
		}
		m := promRE.FindStringSubmatch(line)
		if m == nil || strings.HasSuffix(m[1], "_bucket") || strings.HasSuffix(m[1], "_sum") || strings.HasSuffix(m[1], "_count") {
			continue
		}
		name := "kafka_upstream." + m[1]
		if m[2] != "" {
			name += "." + m[2] + "." + m[3]
		}
		v, _ := strconv.ParseFloat(m[4], 64)
		out[name] = v
	}
	return out
}

// statsChange waits (the module flushes once a second) until the stats
// named by want changed by exactly want since before, and fails with what
// they did instead.
func statsChange(t *testing.T, before map[string]float64, want map[string]float64) map[string]float64 {
	t.Helper()
	var now map[string]float64
	err := waitFor(5*time.Second, func() error {
		now = stats(t)
		for name, d := range want {
			if got := now[name] - before[name]; got != d {
				return fmt.Errorf("%s changed by %v, want %v", name, got, d)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("%v (stats now: %v)", err, now)
	}
	return now
}

// settledStats reads the stats once what earlier tests did has been
// flushed: the module flushes once a second, so two reads a flush apart
// agree (the server's are never behind).
func settledStats(t *testing.T) map[string]float64 {
	t.Helper()
	last := stats(t)
	for deadline := time.Now().Add(10 * time.Second); stack.adapter == dynmod && time.Now().Before(deadline); {
		time.Sleep(1200 * time.Millisecond)
		now := stats(t)
		if maps.Equal(now, last) {
			break
		}
		last = now
	}
	return last
}

// Known traffic, counted exactly: 5 sent, 2 bad bodies, 1 topic refused.
func TestStatsAfterKnownTraffic(t *testing.T) {
	ensureTopics(t)
	before := settledStats(t)
	for i := range 5 {
		if code, body, _ := do(t, http1, "POST", "/stats-test", "text/plain", []byte(fmt.Sprint("record ", i))); code != 200 {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	for range 2 {
		if code, body, _ := do(t, http1, "POST", "/stats-test", "application/json", []byte("{")); code != 400 {
			t.Fatalf("bad body: %d %s", code, body)
		}
	}
	if code, body, _ := do(t, http1, "POST", "/stats-test?topics="+secretTopic, "text/plain", []byte("x")); code != 403 {
		t.Fatalf("topic not allowed: %d %s", code, body)
	}
	now := statsChange(t, before, map[string]float64{
		"kafka_upstream.requests.outcome.sent":              5,
		"kafka_upstream.requests.outcome.bad_body":          2,
		"kafka_upstream.requests.outcome.topic_not_allowed": 1,
		"kafka_upstream.requests.outcome.produce_failed":    0,
		"kafka_upstream.records_sent.topic." + topic:        5,
		"kafka_upstream.records_lost.topic." + topic:        0,
	})
	if b := now["kafka_upstream.bytes_sent.topic."+topic] - before["kafka_upstream.bytes_sent.topic."+topic]; b < float64(5*len("record 0")) {
		t.Errorf("bytes_sent grew by %v for 5 records of at least %d bytes", b, len("record 0"))
	}
	for _, g := range []string{"kafka_upstream.requests_in_flight", "kafka_upstream.async_buffer_records"} {
		if v, ok := now[g]; !ok || v != 0 {
			t.Errorf("gauge %s = %v (present: %v), want 0 when idle", g, v, ok)
		}
	}
}

// On Envoy's Prometheus endpoint the module's stats carry their labels.
func TestStatsOnEnvoysPrometheusEndpoint(t *testing.T) {
	onlyOn(t, dynmod, "the ext_proc server's metrics are its own (TestStatsAfterKnownTraffic reads them)")
	ensureTopics(t)
	if code, body, _ := do(t, http1, "POST", "/prom", "text/plain", []byte("x")); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	want := []string{
		`envoy_dynamicmodulescustom_kafka_upstream_requests{outcome="sent"} `,
		fmt.Sprintf(`envoy_dynamicmodulescustom_kafka_upstream_records_sent{topic=%q} `, topic),
		`envoy_dynamicmodulescustom_kafka_upstream_requests_in_flight{} `, // Envoy writes {} for no labels
	}
	err := waitFor(5*time.Second, func() error {
		resp, err := http.Get(stack.admin + "/stats/prometheus")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, w := range want {
			if !strings.Contains(string(body), "\n"+w) {
				return fmt.Errorf("no line starting %q", w)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// The access log line of a request shows where its record went, from the
// dynamic metadata the adapter set (README "Operating it").
func TestAccessLogShowsWhereTheRecordWent(t *testing.T) {
	ensureTopics(t)
	path := fmt.Sprintf("/access-log-%d", time.Now().UnixNano())
	code, body, _ := do(t, http1, "POST", path, "text/plain", []byte("where am I?"))
	var partition, offset int
	if _, err := fmt.Sscanf(body, `{"message":"message sent","records":[{"topic":"`+topic+`","partition":%d,"offset":%d}]}`, &partition, &offset); code != 200 || err != nil {
		t.Fatalf("%d %s", code, body)
	}
	want := fmt.Sprintf(" kafka=%s/%d/%d", topic, partition, offset)
	refused := path + "-refused"
	do(t, http1, "POST", refused+"?topics="+secretTopic, "text/plain", []byte("x"))
	// Envoy writes its access log out every 10 s (--file-flush-interval-msec).
	err := waitFor(15*time.Second, func() error {
		log, _ := os.ReadFile(stack.envoyLog)
		var sent, denied string
		for line := range strings.SplitSeq(string(log), "\n") {
			switch {
			case strings.Contains(line, refused):
				denied = line
			case strings.Contains(line, " "+path+" "):
				sent = line
			}
		}
		if !strings.HasSuffix(sent, want) || !strings.Contains(sent, "kafka_upstream_sent") {
			return fmt.Errorf("access log line %q, want it to end with %q", sent, want)
		}
		if !strings.HasSuffix(denied, " kafka=-/-/-") {
			return fmt.Errorf("refused request's line %q, want no record place (kafka=-/-/-)", denied)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// adapterLog is the file the adapter logs to: Envoy's for the module,
// the server's for ext_proc.
func adapterLog() string {
	if stack.adapter == extproc {
		return filepath.Join(stack.dir, "extproc.log")
	}
	return stack.envoyLog
}

// adapterLogSize is the size of adapterLog, to read what follows later.
func adapterLogSize() int64 {
	fi, err := os.Stat(adapterLog())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logFrom returns what the adapter logged after offset bytes of its log.
func logFrom(offset int64) string {
	data, _ := os.ReadFile(adapterLog())
	if int64(len(data)) < offset {
		return ""
	}
	return string(data[offset:])
}

// expectReachable waits for the ext_proc server's Kafka check (every
// 500 ms) to find the suite's broker reachable or not, on /ready and on
// /metrics. The server stays ready either way: it runs without
// -ready-requires-kafka, since the suite's "stalled" cluster never answers
// (envoy/extproc's tests cover readiness that follows Kafka).
func expectReachable(t *testing.T, reachable bool) {
	t.Helper()
	gauge := fmt.Sprintf("kafka_upstream.cluster_reachable.cluster.%s", stack.bootstrap)
	want := map[bool]float64{true: 1, false: 0}[reachable]
	if err := waitFor(10*time.Second, func() error {
		resp, err := http.Get(stack.metrics + "/ready")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body struct {
			Ready    bool `json:"ready"`
			Clusters []struct {
				Name      string `json:"name"`
				Reachable bool   `json:"reachable"`
			} `json:"clusters"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || !body.Ready {
			return fmt.Errorf("/ready: %d %+v %v", resp.StatusCode, body, err)
		}
		found := false
		for _, c := range body.Clusters {
			if c.Name == stack.bootstrap {
				found = c.Reachable == reachable
			}
		}
		if !found {
			return fmt.Errorf("/ready: %+v, want %s reachable=%v", body, stack.bootstrap, reachable)
		}
		if v, ok := stats(t)[gauge]; !ok || v != want {
			return fmt.Errorf("%s = %v (present: %v), want %v", gauge, v, ok, want)
		}
		return nil
	}); err != nil {
		t.Errorf("the Kafka check did not follow the broker: %v", err)
	}
}

// outageLogs keeps requests coming for 10 s with Kafka down and checks
// that the adapter's log stayed short: one line per failure cause per
// 10 s, the count of those held back on the next (README "Logs").
func outageLogs(t *testing.T, logStart int64) {
	t.Helper()
	requests := 0
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); requests++ {
		if code, body, _ := do(t, http1, "POST", "/outage", "text/plain", []byte("lost")); code != 502 {
			t.Fatalf("during the outage: %d %s", code, body)
		}
	}
	logged := logFrom(logStart)
	failures, warnings := 0, 0
	held := false
	var failureLines []string
	for line := range strings.SplitSeq(logged, "\n") {
		if strings.Contains(line, "publishing to kafka failed") {
			failures++
			failureLines = append(failureLines, line)
			held = held || strings.Contains(line, "similar_failures=")
		}
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") ||
			strings.Contains(line, "[warning]") || strings.Contains(line, "[error]") {
			warnings++
		}
	}
	t.Logf("%d failed requests in 10 s: %d failure lines, %d warnings and errors in all:\n%s", requests+4, failures, warnings, strings.Join(failureLines, "\n"))
	if requests < 20 {
		t.Fatalf("only %d requests in 10 s: the failures were not fast", requests)
	}
	if failures < 1 || failures > 2 || (failures == 2 && !held) {
		t.Errorf("%d %q lines for %d failed requests in 10 s (held-back count given: %v), want 1 or 2 with the count:\n%s",
			failures, "publishing to kafka failed", requests+4, held, logged)
	}
	if warnings > 12 {
		t.Errorf("%d warning and error lines during a 10 s outage, want at most 12:\n%s", warnings, logged)
	}
}
