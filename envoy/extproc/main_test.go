package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/kafka-upstream/envoy-kafka-upstream/internal/extproctest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

const (
	topic = "events"
	// wait bounds every wait on the command, on gRPC or on Kafka; the tests
	// normally finish far sooner.
	wait = 15 * time.Second

	extProcService = "envoy.service.ext_proc.v3.ExternalProcessor"

	// runMainEnv makes the test binary run the command's main instead of
	// the tests: the tests start it as a subprocess, so that flags, exit
	// codes, signals and logs are the real command's.
	runMainEnv = "EXTPROC_TEST_RUN_MAIN"
)

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main() // parses os.Args[1:]: the command's flags
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// command is one run of the extproc command as a subprocess.
type command struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process exited and stderr is read
	err    error         // cmd.Wait's, valid once exited is closed

	mu      sync.Mutex
	lines   []string      // stderr (the log), line by line
	changed chan struct{} // closed and replaced on each new line
}

// startCommand starts the command with args; it is killed when the test
// ends if it is still running.
func startCommand(t *testing.T, args ...string) *command {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &command{cmd: cmd, exited: make(chan struct{}), changed: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the command: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
		}
		c.err = cmd.Wait() // after every read from the pipe, as Wait closes it
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
			return
		default:
		}
		_ = cmd.Process.Kill()
		select {
		case <-c.exited:
		case <-time.After(wait):
			t.Errorf("the command (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("command log:\n%s", c.log())
		}
	})
	return c
}

func (c *command) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// waitLine waits for a log line containing s and returns it.
func (c *command) waitLine(t *testing.T, s string) string {
	t.Helper()
	timeout := time.After(wait)
	for {
		c.mu.Lock()
		for _, l := range c.lines {
			if strings.Contains(l, s) {
				c.mu.Unlock()
				return l
			}
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-c.exited:
			// The reader stored every line before closing exited.
			if l := c.findLine(s); l != "" {
				return l
			}
			t.Fatalf("the command exited (%v) without logging %q:\n%s", c.err, s, c.log())
		case <-timeout:
			t.Fatalf("no log line with %q after %s:\n%s", s, wait, c.log())
		}
	}
}

func (c *command) findLine(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// exitCode waits at most d for the command to exit and returns its exit
// code.
func (c *command) exitCode(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-c.exited:
	case <-time.After(d):
		t.Fatalf("the command did not exit within %s:\n%s", d, c.log())
	}
	var exitErr *exec.ExitError
	if c.err != nil && !errors.As(c.err, &exitErr) {
		t.Fatalf("waiting for the command: %v", c.err)
	}
	return c.cmd.ProcessState.ExitCode()
}

func (c *command) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %v: %v", sig, err)
	}
}

var addrRE = regexp.MustCompile(`\baddr=(127\.0\.0\.1:\d+)`)

// serve starts the command with the config file contents cfg (a JSON
// object) on a port the kernel picks on 127.0.0.1, waits until it serves
// and returns it with its address, read from its "serving ext_proc" log.
func serve(t *testing.T, cfg map[string]any, args ...string) (*command, string) {
	t.Helper()
	path := writeConfig(t, cfg)
	c := startCommand(t, append([]string{"-config", path, "-addr", "127.0.0.1:0"}, args...)...)
	line := c.waitLine(t, `msg="serving ext_proc"`)
	m := addrRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no 127.0.0.1 address in %q", line)
	}
	return c, m[1]
}

func writeConfig(t *testing.T, cfg map[string]any) string {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "kafka-upstream.json", string(data))
}

func writeFile(t *testing.T, name, contents string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func kafkaConfig(c *kfake.Cluster) map[string]any {
	return map[string]any{"bootstrap_servers": c.ListenAddrs(), "topic": topic}
}

// getRequest is a bodyless GET as Envoy sends it: request_headers with
// end_of_stream=true, values in raw_value.
func getRequest() *extprocv3.ProcessingRequest {
	hm := &corev3.HeaderMap{}
	for _, kv := range [][2]string{{":authority", "example.com"}, {":path", "/"}, {":method", "GET"}, {":scheme", "http"}} {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])})
	}
	return &extprocv3.ProcessingRequest{
		Request:        &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: hm, EndOfStream: true}},
		ProtocolConfig: &extprocv3.ProtocolConfiguration{RequestBodyMode: filterv3.ProcessingMode_BUFFERED},
	}
}

// sent is the 200 body for one record acknowledged at topic/partition,
// offset.
func sent(topic string, partition int, offset int64) string {
	return fmt.Sprintf(`{"message":"message sent","records":[{"topic":%q,"partition":%d,"offset":%d}]}`, topic, partition, offset)
}

// sentResponse is the whole 200 answer with body.
func sentResponse(body string) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocv3.ImmediateResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_OK},
			Headers: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
				Header: &corev3.HeaderValue{Key: "content-type", RawValue: []byte("application/json")},
			}}},
			Body:    []byte(body),
			Details: "kafka_upstream_sent",
		}},
		DynamicMetadata: extproctest.Metadata(body),
	}
}

// startGET opens an ext_proc stream and sends a bodyless GET on it.
func startGET(t *testing.T, conn *grpc.ClientConn) extprocv3.ExternalProcessor_ProcessClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	stream, err := extprocv3.NewExternalProcessorClient(conn).Process(ctx)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if err := stream.Send(getRequest()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	return stream
}

// expectSent receives the 200 answer with body, then the end of the
// stream.
func expectSent(t *testing.T, stream extprocv3.ExternalProcessor_ProcessClient, body string) {
	t.Helper()
	got, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v, want the 200 ImmediateResponse", err)
	}
	if want := sentResponse(body); !proto.Equal(got, want) {
		t.Fatalf("response =\n%s\nwant\n%s", prototext.Format(got), prototext.Format(want))
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("after the answer: %v, want io.EOF", err)
	}
}

func checkHealth(t *testing.T, conn *grpc.ClientConn, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health Check(%q): %v", service, err)
	}
	if resp.GetStatus() != want {
		t.Errorf("health Check(%q) = %v, want %v", service, resp.GetStatus(), want)
	}
}

func TestServesHealthAndExtProc(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	cmd, addr := serve(t, kafkaConfig(c))
	conn := dial(t, addr)

	checkHealth(t, conn, "", healthpb.HealthCheckResponse_SERVING)
	checkHealth(t, conn, extProcService, healthpb.HealthCheckResponse_SERVING)

	stream := startGET(t, conn)
	expectSent(t, stream, sent(topic, 0, 0))
	if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != `{"body":"","body_args":{},"body_base64":true}` {
		t.Errorf("record value = %s", got[0])
	}

	cmd.signal(t, syscall.SIGINT)
	if code := cmd.exitCode(t, wait); code != 0 {
		t.Errorf("exit code after SIGINT = %d, want 0:\n%s", code, cmd.log())
	}
	cmd.waitLine(t, `msg=stopped`)
}

func TestStartupErrors(t *testing.T) {
	tests := []struct {
		name string
		args func(t *testing.T) []string
		code int
		want string // in the log
	}{
		{"no -config", func(*testing.T) []string { return nil },
			1, `level=ERROR msg="extproc: -config is required"`},
		{"config file missing", func(t *testing.T) []string {
			return []string{"-config", filepath.Join(t.TempDir(), "none.yaml")}
		}, 1, `none.yaml: no such file or directory"`},
		{"topic missing", func(t *testing.T) []string {
			path := writeFile(t, "c.yaml", "bootstrap_servers: [\"127.0.0.1:9092\"]\n")
			return []string{"-config", path}
		}, 1, `c.yaml: topic: must not be empty"`},
		{"bad named config", func(t *testing.T) []string {
			path := writeFile(t, "c.yaml", "configs:\n  audit: {bootstrap_servers: [\"127.0.0.1:9092\"], topic: \"a b\"}\n")
			return []string{"-config", path}
		}, 1, `c.yaml: configs.audit.topic: \"a b\" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)"`},
		{"base naming no config", func(t *testing.T) []string {
			path := writeFile(t, "c.yaml", "default: {bootstrap_servers: [\"127.0.0.1:9092\"], topic: events}\nconfigs:\n  a: {base: nope}\n")
			return []string{"-config", path}
		}, 1, `c.yaml: configs.a.base: \"nope\" is not a config of this file"`},
		{"bad -log-level", func(t *testing.T) []string {
			return []string{"-log-level", "loud"}
		}, 2, `extproc: -log-level: slog: level string "loud": unknown name`},
		{"address in use", func(t *testing.T) []string {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			path := writeFile(t, "c.yaml", "bootstrap_servers: [\"127.0.0.1:9092\"]\ntopic: events\n")
			return []string{"-config", path, "-addr", l.Addr().String()}
		}, 1, `bind: address already in use"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := startCommand(t, tt.args(t)...)
			if code := cmd.exitCode(t, wait); code != tt.code {
				t.Errorf("exit code = %d, want %d", code, tt.code)
			}
			if log := cmd.log(); !strings.Contains(log, tt.want) {
				t.Errorf("log =\n%s\nwant it to contain %s", log, tt.want)
			}
		})
	}
}

// On SIGTERM the command reports NOT_SERVING, stops accepting connections,
// finishes the request in flight and exits 0.
func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	cmd, addr := serve(t, kafkaConfig(c))
	arrived, release := kfaketest.HoldProduce(t, c)
	conn := dial(t, addr)

	// A health watcher sees the status change.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	watch, err := healthpb.NewHealthClient(conn).Watch(watchCtx, &healthpb.HealthCheckRequest{Service: extProcService})
	if err != nil {
		t.Fatalf("health Watch: %v", err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health Watch = %v, %v; want SERVING", st, err)
	}

	stream := startGET(t, conn)
	select {
	case <-arrived:
	case <-time.After(wait):
		t.Fatal("the produce request never reached the broker")
	}

	cmd.signal(t, syscall.SIGTERM)
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health Watch after SIGTERM = %v, %v; want NOT_SERVING", st, err)
	}
	// The watch is an RPC in flight too: end it, or GracefulStop waits for it.
	stopWatch()
	cmd.waitLine(t, `msg="shutting down: finishing in-flight requests" grace=15s`)

	// The listener closes: new connections are refused. (No signal tells
	// when GracefulStop closed it, hence the polling.)
	deadline := time.Now().Add(wait)
	for {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections %s after SIGTERM", addr, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-cmd.exited:
		t.Fatalf("the command exited with a request in flight:\n%s", cmd.log())
	default:
	}

	release()
	expectSent(t, stream, sent(topic, 0, 0))
	if code := cmd.exitCode(t, wait); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if l := cmd.findLine("grace period over"); l != "" {
		t.Errorf("the grace period ran out: %s", l)
	}
	cmd.waitLine(t, `msg=stopped`)
	kfaketest.ReadValues(t, c, topic, 1)
}

// A request stuck past -grace is cancelled without an answer, and the
// command exits 0. Closing the producer afterwards still waits for kafka-go's
// attempts at the batch nobody awaits any more (up to 3 × produce_timeout;
// see TestShutdownIsBoundedByGrace), so produce_timeout is kept short here,
// yet longer than the grace period: the request is still in flight when the
// grace period runs out.
func TestGracePeriodCancelsStuckRequests(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	const grace, produceTimeout = time.Second, 2 * time.Second
	cfg := kafkaConfig(c)
	cfg["produce_timeout"] = produceTimeout.String()
	cmd, addr := serve(t, cfg, "-grace", grace.String())
	arrived, _ := kfaketest.HoldProduce(t, c) // held until the test ends
	conn := dial(t, addr)

	stream := startGET(t, conn)
	select {
	case <-arrived:
	case <-time.After(wait):
		t.Fatal("the produce request never reached the broker")
	}

	start := time.Now()
	cmd.signal(t, syscall.SIGTERM)
	// The stream is cancelled when the grace period runs out, before
	// produce_timeout: no answer (in particular no 504).
	if m, err := stream.Recv(); m != nil || err == nil || err == io.EOF {
		t.Errorf("Recv = %v, %v; want the stream to fail without an answer", prototext.Format(m), err)
	}
	if elapsed := time.Since(start); elapsed < grace || elapsed >= produceTimeout {
		t.Errorf("the stream failed %s after SIGTERM, want after the grace period (%s) and before produce_timeout (%s)",
			elapsed, grace, produceTimeout)
	}
	cmd.waitLine(t, `msg="grace period over: cancelling the requests still in flight"`)

	bound := grace + time.Second + 3*time.Second // drain, the flush's minimum, slack
	if code := cmd.exitCode(t, bound); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	t.Logf("exited %s after SIGTERM", time.Since(start))
	cmd.waitLine(t, `msg=stopped`)
}

// With a produce held forever and the default produce_timeout (10s),
// SIGTERM with -grace 1s should end the process soon after the grace period.
func TestShutdownIsBoundedByGrace(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	const grace = time.Second
	cmd, addr := serve(t, kafkaConfig(c), "-grace", grace.String())
	arrived, _ := kfaketest.HoldProduce(t, c) // held until the test ends
	conn := dial(t, addr)

	startGET(t, conn)
	select {
	case <-arrived:
	case <-time.After(wait):
		t.Fatal("the produce request never reached the broker")
	}
	start := time.Now()
	cmd.signal(t, syscall.SIGTERM)
	if code := cmd.exitCode(t, grace+4*time.Second); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	t.Logf("exited %s after SIGTERM", time.Since(start))
}

// A health Watch (gRPC client-side health checking) is an RPC that never
// ends by itself; it should not make every shutdown wait out -grace.
func TestHealthWatchDoesNotHoldShutdown(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	cmd, addr := serve(t, kafkaConfig(c), "-grace", "5s")
	conn := dial(t, addr)
	watch, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health Watch: %v", err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health Watch = %v, %v; want SERVING", st, err)
	}
	cmd.signal(t, syscall.SIGTERM)
	if code := cmd.exitCode(t, 4*time.Second); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if l := cmd.findLine("grace period over"); l != "" {
		t.Errorf("shutdown waited out the grace period: %s", l)
	}
}
