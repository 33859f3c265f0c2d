package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

// -kafka publishes the record the product would write (Kong's envelope of
// the request, the config's record headers), one per 2xx, each with its
// own x-request-id.
func TestKafkaModePublishesOneRecordPer2xx(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator for a second")
	}
	c := kfaketest.NewPartitionedCluster(t, 3, "events")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "server.yaml")
	if err := os.WriteFile(cfg, []byte(`default:
  bootstrap_servers: ["ignored:1"]
  topic: events
  forward_method: true
  forward_body: true
  required_acks: -1
  headers:
    forward_http_headers_as_record_headers: true
    include_headers: [x-request-id]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "summary.json")
	args := []string{"-kafka", strings.Join(c.ListenAddrs(), ","), "-kafka-config", cfg, "-url", "http://127.0.0.1:10000/bench?x=1",
		"-size", "64", "-conns", "4", "-duration", "500ms", "-warmup", "200ms", "-out", out}
	var stderr strings.Builder
	if err := mainErr(args, io.Discard, &stderr); err != nil {
		t.Fatalf("loadgen: %v\n%s", err, stderr.String())
	}
	js, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal(js, &s); err != nil {
		t.Fatal(err)
	}
	if s.Proto != "kafka" || s.Errors != 0 || s.OK == 0 || s.Every2xx < s.OK {
		t.Fatalf("summary: %s", js)
	}
	if got := kfaketest.Records(t, c, "events"); got != int64(s.Every2xx) {
		t.Errorf("topic holds %d records, every_2xx is %d", got, s.Every2xx)
	}
	recs := kfaketest.ReadRecords(t, c, "events", int(s.Every2xx))
	ids := map[string]bool{}
	for _, r := range recs {
		var env struct {
			Method string `json:"method"`
			Body   string `json:"body"`
		}
		if err := json.Unmarshal([]byte(r.Value), &env); err != nil || env.Method != "POST" || len(env.Body) != 64 {
			t.Fatalf("record %s: not the envelope of the request (%v)", r.Value, err)
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != "x-request-id" {
			t.Fatalf("record headers %v, want one x-request-id", r.Headers)
		}
		ids[r.Headers[0].Value] = true
	}
	if len(ids) != len(recs) {
		t.Errorf("%d distinct x-request-ids for %d records", len(ids), len(recs))
	}
}

func TestKafkaModeNeedsItsConfig(t *testing.T) {
	err := mainErr([]string{"-kafka", "127.0.0.1:1"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-kafka-config") {
		t.Errorf("error %v, want one naming -kafka-config", err)
	}
}
