//go:build integration

package integration_test

// Helpers of the secured-cluster tests (issue 7): configs for the secured
// listeners of the e2e/kafka.sh broker, one request through the filter,
// the record read back whole with the independent franz-go client, and a
// registry of every secret the tests use, checked against everything they
// capture (reply bodies, log lines, Parse errors, printed settings).

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/securetest"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
)

// Compression levels are global to a process in kafka-go (and config
// refuses a second level for a codec): every test of this binary that sets
// one uses these.
const (
	gzipLevel = 9
	zstdLevel = 19
)

// secureProduceTimeout is the produce_timeout of every secured config: the
// failures must be answered well within it (fastFailure).
const (
	secureProduceTimeout = 5 * time.Second
	fastFailure          = 3 * time.Second
)

// ---------------------------------------------------------------------------
// Secrets

// secrets holds every secret value the tests hand to the filter (passwords,
// client secrets, tokens), so that checkNoSecrets can look for each of them
// in everything captured.
var secrets struct {
	sync.Mutex
	values map[string]bool
}

// secret registers s as a secret and returns it.
func secret(s string) string {
	secrets.Lock()
	defer secrets.Unlock()
	if secrets.values == nil {
		secrets.values = map[string]bool{}
	}
	secrets.values[s] = true
	return s
}

func allSecrets() []string {
	secrets.Lock()
	defer secrets.Unlock()
	out := make([]string, 0, len(secrets.values))
	for s := range secrets.values {
		out = append(out, s)
	}
	return out
}

// captured is everything a test saw of the filter's output: reply bodies,
// Parse errors, printed settings (log lines are read from the recorders).
type captured struct {
	mu    sync.Mutex
	texts []string
	recs  []*logtest.Recorder
}

func (c *captured) add(label, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.texts = append(c.texts, label+": "+text)
}

func (c *captured) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]string(nil), c.texts...)
	for _, r := range c.recs {
		for _, l := range r.Lines() {
			out = append(out, "log: "+l)
		}
	}
	return out
}

// capture returns the test's collector; when the test ends (after its
// configs are destroyed, so their last log lines are in), every captured
// text is checked for every registered secret.
func capture(t *testing.T) *captured {
	t.Helper()
	c := &captured{}
	t.Cleanup(func() { checkNoSecrets(t, c.all()) })
	return c
}

func checkNoSecrets(t *testing.T, texts []string) {
	t.Helper()
	for _, s := range allSecrets() {
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("a secret (%d bytes, starting %q) leaked into %q", len(s), s[:min(4, len(s))], text)
			}
		}
	}
}

// secureParse is parse with the log and the config's printed form captured.
func (c *captured) parse(t *testing.T, fields map[string]any) (any, *logtest.Recorder) {
	t.Helper()
	cfg, rec := parse(t, fields)
	c.mu.Lock()
	c.recs = append(c.recs, rec)
	c.mu.Unlock()
	c.add("parsed config %+v", fmt.Sprintf("%+v", cfg))
	c.add("parsed config %#v", fmt.Sprintf("%#v", cfg))
	return cfg, rec
}

// writeFile writes content to name in dir (created if "") and returns the
// path; mode 0600 as a mounted secret.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replaceFile replaces path's content atomically (write then rename, as
// kubelet and cert-manager do), so a reader never sees half of it.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, to, string(b))
}

// ---------------------------------------------------------------------------
// Configs

// secureFields is the plugin_config of a secured listener addr: the record
// keyed by x-key, x-tenant and content-type as record headers, the method
// and the body in the value, produce_timeout secureProduceTimeout; extra
// adds tls, sasl, compression, ….
func secureFields(addr, topic string, extra map[string]any) map[string]any {
	fields := map[string]any{
		"bootstrap_servers": []any{addr},
		"topic":             topic,
		"forward_method":    true,
		"forward_body":      true,
		"key_header":        "x-key",
		"produce_timeout":   secureProduceTimeout.String(),
		"headers": map[string]any{
			"forward_http_headers_as_record_headers": true,
			"include_headers":                        []any{"x-tenant", "content-type"},
		},
	}
	for k, v := range extra {
		fields[k] = v
	}
	return fields
}

// tlsOn is a tls section trusting the test CA, plus extra fields.
func tlsOn(m *securetest.Material, extra map[string]any) map[string]any {
	section := map[string]any{"enabled": true, "ca_file": m.CAFile}
	for k, v := range extra {
		section[k] = v
	}
	return section
}

// ---------------------------------------------------------------------------
// One request

// securedRequest is what every secured test sends: a JSON POST with a key
// and a tenant. The expected record is securedRecord(body, key).
func securedRequest(key string) []string {
	return []string{":method", "POST", ":path", "/secure", ":authority", authority, ":scheme", "https",
		"content-type", "application/json", "x-key", key, "x-tenant", "acme", "user-agent", "it/1"}
}

// securedValue is the record value of a securedRequest with a JSON object
// body without whitespace (body_args is the body itself).
func securedValue(body string) string {
	return `{"method":"POST","body":` + jsonString(body) + `,"body_args":` + body + `}`
}

// sentBody is the 200 body for one record at topic/0/offset.
func sentBody(topic string, offset int64) string {
	return fmt.Sprintf(`{"message":"message sent","records":[{"topic":%s,"partition":0,"offset":%d}]}`, jsonString(topic), offset)
}

const (
	authFailed = "kafka_upstream_auth_failed"
	tlsFailed  = "kafka_upstream_tls_failed"
	// genericFailure is the Kong wording of a failure reply without
	// error_handling.return_error_message.
	genericFailure = `{"message":"Bad Gateway","error":"could not send message to topic"}`
)

// publish sends one securedRequest with body through cfg, captures the
// reply body and returns the reply and how long it took.
func (c *captured) publish(t *testing.T, cfg any, key, body string) (filtertest.LocalReply, time.Duration) {
	t.Helper()
	start := time.Now()
	s := newStream(cfg)
	s.send(t, filtertest.NewHeaders(securedRequest(key)...), []byte(body))
	reply := s.finish(t)
	took := time.Since(start)
	c.add(fmt.Sprintf("reply %d (%s)", reply.Status, reply.Details), reply.Body)
	return reply, took
}

// reader is how the independent client reaches a listener.
type reader struct {
	addr string
	tls  *tls.Config
	mech sasl.Mechanism
}

// expectReadBack reads the topic's first offset+1 records back with
// franz-go over r and compares the one at offset whole with the record of
// a securedRequest(key) with body. It returns the record read.
func expectReadBack(t *testing.T, r reader, topic string, offset int64, key, body string) *kgo.Record {
	t.Helper()
	recs := securetest.ReadBack(t, r.addr, r.tls, r.mech, topic, int(offset)+1)
	got := recs[len(recs)-1]
	want := fmt.Sprintf("%s/0@%d key=%q headers=[content-type=%q x-tenant=%q] value=%s",
		topic, offset, key, "application/json", "acme", securedValue(body))
	if s := kgoRecordString(got); s != want {
		t.Errorf("record read back over %s =\n%s\nwant\n%s", r.addr, s, want)
	}
	return got
}

func kgoRecordString(r *kgo.Record) string {
	key := "null"
	if r.Key != nil {
		key = fmt.Sprintf("%q", r.Key)
	}
	var hs []string
	for _, h := range r.Headers {
		hs = append(hs, fmt.Sprintf("%s=%q", h.Key, h.Value))
	}
	value := "null"
	if r.Value != nil {
		value = string(r.Value)
	}
	return fmt.Sprintf("%s/%d@%d key=%s headers=[%s] value=%s", r.Topic, r.Partition, r.Offset, key, strings.Join(hs, " "), value)
}

// expectEndOffset requires topic's end offset, read over PLAINTEXT, to be
// want.
func expectEndOffset(t *testing.T, bootstrap, topic string, want int64) {
	t.Helper()
	if got := kafkatest.EndOffset(t, bootstrap, topic); got != want {
		t.Errorf("end offset of %s = %d, want %d", topic, got, want)
	}
}

// linesWith returns the lines of rec containing s.
func linesWith(rec *logtest.Recorder, s string) []string {
	var out []string
	for _, l := range rec.Lines() {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// ownLines returns the lines the code under test logged itself, leaving
// out kafka-go's warnings ("WARN kafka: …").
func ownLines(rec *logtest.Recorder) []string {
	var out []string
	for _, l := range rec.Lines() {
		if !strings.HasPrefix(l, "WARN kafka: ") {
			out = append(out, l)
		}
	}
	return out
}
