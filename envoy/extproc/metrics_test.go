package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/twmb/franz-go/pkg/kfake"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

// serveMetrics starts the command with -metrics-addr and returns it with
// its gRPC address and its metrics base URL.
func serveMetrics(t *testing.T, cfg map[string]any, args ...string) (cmd *command, grpcAddr, metricsURL string) {
	t.Helper()
	cmd, grpcAddr = serve(t, cfg, append([]string{"-metrics-addr", "127.0.0.1:0"}, args...)...)
	line := cmd.waitLine(t, `msg="serving metrics and readiness"`)
	m := addrRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no address in %q", line)
	}
	return cmd, grpcAddr, "http://" + m[1]
}

var sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$`)

// scrape reads /metrics into series (name with labels, as printed) → value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("content-type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("content-type"))
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		if m := sampleRE.FindStringSubmatch(line); m != nil {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			out[m[1]] = v
		}
	}
	return out
}

// readyState is GET /ready: its status and body.
func readyState(t *testing.T, base string) (int, readyJSON) {
	t.Helper()
	resp, err := http.Get(base + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body readyJSON
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("/ready body: %v", err)
	}
	return resp.StatusCode, body
}

func waitReady(t *testing.T, base string, wantStatus int) readyJSON {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		status, body := readyState(t, base)
		if status == wantStatus {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready stayed %d %+v, want %d", status, body, wantStatus)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// connect sends a CONNECT request's headers: refused with 405 by the
// headers alone.
func connect(t *testing.T, stream extprocv3.ExternalProcessor_ProcessClient) {
	t.Helper()
	hm := &corev3.HeaderMap{}
	for _, kv := range [][2]string{{":authority", "example.com:443"}, {":method", "CONNECT"}} {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
	}
	if err := stream.Send(&extprocv3.ProcessingRequest{
		Request:        &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: hm}},
		ProtocolConfig: &extprocv3.ProtocolConfiguration{RequestBodyMode: filterv3.ProcessingMode_BUFFERED},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetImmediateResponse().GetStatus().GetCode() != 405 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
}

// Known traffic, counted exactly on /metrics: 3 sent, 1 refused.
func TestMetricsCountKnownTraffic(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	_, addr, base := serveMetrics(t, kafkaConfig(c))
	conn := dial(t, addr)
	for i := range 3 {
		expectSent(t, startGET(t, conn), sent(topic, 0, int64(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := extprocv3.NewExternalProcessorClient(conn).Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	connect(t, stream)

	m := scrape(t, base)
	for _, name := range []string{"sent", "method_not_allowed", "bad_body", "produce_failed", "client_gone", "partly_sent"} {
		want := map[string]float64{"sent": 3, "method_not_allowed": 1}[name]
		series := fmt.Sprintf(`kafka_upstream_requests_total{outcome=%q}`, name)
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present: %v), want %v", series, got, ok, want)
		}
	}
	exact := map[string]float64{
		`kafka_upstream_records_sent_total{topic="events"}`:                     3,
		`kafka_upstream_records_lost_total{topic="events"}`:                     0,
		`kafka_upstream_requests_in_flight`:                                     0,
		`kafka_upstream_async_buffer_records`:                                   0,
		`kafka_upstream_produce_duration_seconds_count{result="ok"}`:            3,
		`kafka_upstream_record_size_bytes_count`:                                3,
		fmt.Sprintf(`kafka_upstream_cluster_reachable{cluster=%q}`, brokers(c)): 1,
	}
	for series, want := range exact {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present: %v), want %v", series, got, ok, want)
		}
	}
	// Each record is the GET's kong envelope; its size is the same three
	// times, in the counter and in the histogram.
	if b := m[`kafka_upstream_bytes_sent_total{topic="events"}`]; b <= 0 || b != m[`kafka_upstream_record_size_bytes_sum`] {
		t.Errorf("bytes sent %v, record size sum %v: want equal and > 0", b, m[`kafka_upstream_record_size_bytes_sum`])
	}
	for _, series := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := m[series]; !ok {
			t.Errorf("%s missing: no Go runtime or process collector", series)
		}
	}
}

func brokers(c *kfake.Cluster) string { return strings.Join(c.ListenAddrs(), ",") }

// With -ready-requires-kafka, readiness and gRPC health follow the
// broker: NOT_SERVING while it is down, SERVING again once it is back.
func TestReadinessFollowsKafka(t *testing.T) {
	port := freePort(t)
	c := kfaketest.NewClusterOpts(t, kfake.Ports(port), kfake.SeedTopics(1, topic))
	_, addr, base := serveMetrics(t, kafkaConfig(c), "-kafka-check-interval", "100ms", "-ready-requires-kafka")
	conn := dial(t, addr)
	body := waitReady(t, base, 200)
	if !body.Ready || !body.RequiresKafka || len(body.Clusters) != 1 || !body.Clusters[0].Reachable {
		t.Errorf("/ready with the broker up: %+v", body)
	}
	checkHealth(t, conn, "", healthpb.HealthCheckResponse_SERVING)
	checkHealth(t, conn, extProcService, healthpb.HealthCheckResponse_SERVING)

	c.Close()
	body = waitReady(t, base, 503)
	if body.Ready || body.Clusters[0].Reachable || body.Clusters[0].Error == "" {
		t.Errorf("/ready with the broker down: %+v", body)
	}
	checkHealth(t, conn, "", healthpb.HealthCheckResponse_NOT_SERVING)
	checkHealth(t, conn, extProcService, healthpb.HealthCheckResponse_NOT_SERVING)
	if v := scrape(t, base)[fmt.Sprintf(`kafka_upstream_cluster_reachable{cluster="127.0.0.1:%d"}`, port)]; v != 0 {
		t.Errorf("cluster_reachable = %v with the broker down", v)
	}

	kfaketest.NewClusterOpts(t, kfake.Ports(port), kfake.SeedTopics(1, topic))
	waitReady(t, base, 200)
	checkHealth(t, conn, extProcService, healthpb.HealthCheckResponse_SERVING)
}

// Without -ready-requires-kafka (the default) the server stays ready
// through an outage, and /ready says what the checks found.
func TestReadinessIgnoresKafkaByDefault(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	_, addr, base := serveMetrics(t, kafkaConfig(c), "-kafka-check-interval", "100ms")
	conn := dial(t, addr)
	c.Close()
	deadline := time.Now().Add(wait)
	for {
		status, body := readyState(t, base)
		if status != 200 || !body.Ready || body.RequiresKafka {
			t.Fatalf("/ready = %d %+v, want 200 and ready", status, body)
		}
		if len(body.Clusters) == 1 && body.Clusters[0].Checked && !body.Clusters[0].Reachable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the check never found the broker down: %+v", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkHealth(t, conn, extProcService, healthpb.HealthCheckResponse_SERVING)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
