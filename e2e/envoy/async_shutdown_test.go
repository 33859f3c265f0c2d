//go:build e2e

package envoy_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
)

// A second stack of this run's adapter, on ports of its own, to be shut
// down by a test: Envoy with the module, or Envoy and an ext_proc server.
type ownStack struct {
	url      string
	debug    string // the adapter's pprof server (internal/debugserver)
	envoy    *exchangeProc
	server   *exchangeProc // ext_proc only
	exiting  *exchangeProc // what SIGTERM goes to: the module's Envoy, or the server
	exitLog  string        // where the adapter logs: Envoy's log, or the server's
	teardown func()
}

type exchangeProc struct {
	stop func()
	pid  int
	done chan struct{}
}

func startOwnStack(t *testing.T) *ownStack { return startOwnStackOn(t, nil, "") }

// startOwnStackOn is startOwnStack with the default config's cluster
// replaced by brokers (nil: the suite's broker) and, for ext_proc, the
// server's whole config file by serverYAML ("" : the suite's).
func startOwnStackOn(t *testing.T, brokers []string, serverYAML string) *ownStack {
	t.Helper()
	dir := t.TempDir()
	httpPort, adminPort, debugPort := freePort(), freePort(), freePort()
	s := &ownStack{url: fmt.Sprintf("http://127.0.0.1:%d", httpPort), debug: fmt.Sprintf("http://127.0.0.1:%d", debugPort)}
	debugAddr := fmt.Sprintf("127.0.0.1:%d", debugPort)
	run := func(name string, env []string, bin string, args ...string) *exchangeProc {
		cmd, err := start(filepath.Join(dir, name+".log"), env, bin, args...)
		if err != nil {
			t.Fatal(err)
		}
		p := &exchangeProc{pid: cmd.Process.Pid, done: make(chan struct{})}
		go func() { cmd.Wait(); close(p.done) }()
		p.stop = func() {
			syscall.Kill(-p.pid, syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(15 * time.Second):
				syscall.Kill(-p.pid, syscall.SIGKILL)
				<-p.done
			}
		}
		t.Cleanup(p.stop)
		return p
	}
	envoyConfig := filepath.Join(dir, "envoy.yaml")
	if stack.adapter == dynmod {
		var edit func(map[string]any, map[string]any, []any) error
		if brokers != nil {
			edit = func(_ map[string]any, filter map[string]any, _ []any) error {
				var list []any
				for _, b := range brokers {
					list = append(list, b)
				}
				value, err := dig(filter, "typed_config", "filter_config", "value")
				if err != nil {
					return err
				}
				value.(map[string]any)["bootstrap_servers"] = list
				return nil
			}
		}
		if err := writeDynmodConfig(envoyConfig, edit); err != nil {
			t.Fatal(err)
		}
		// The suite's config, on this stack's ports.
		b, _ := os.ReadFile(envoyConfig)
		text := strings.Replace(string(b), fmt.Sprintf("port_value: %d", stack.httpPort), fmt.Sprintf("port_value: %d", httpPort), 1)
		text = strings.Replace(text, fmt.Sprintf("port_value: %d", stack.adminPort), fmt.Sprintf("port_value: %d", adminPort), 1)
		os.WriteFile(envoyConfig, []byte(text), 0o644)
		s.envoy = run("envoy", append(dynmodEnv(), "KAFKA_UPSTREAM_DEBUG_ADDR="+debugAddr), stack.envoyBin, "-c", envoyConfig, "--disable-hot-restart", "--log-level", "warn")
		s.exiting, s.exitLog = s.envoy, filepath.Join(dir, "envoy.log")
	} else {
		grpcPort := freePort()
		serverConfig := filepath.Join(dir, "extproc.yaml")
		if serverYAML == "" {
			serverYAML = serverConfigYAML(stack.bootstrap)
		}
		os.WriteFile(serverConfig, []byte(serverYAML), 0o644)
		if err := writeEnvoyConfig(envoyConfig, httpPort, adminPort, grpcPort); err != nil {
			t.Fatal(err)
		}
		s.server = run("extproc", nil, filepath.Join(binDir(), "extproc"), "-config", serverConfig, "-addr", fmt.Sprintf("127.0.0.1:%d", grpcPort),
			"-debug-addr", debugAddr)
		s.envoy = run("envoy", nil, stack.envoyBin, "-c", envoyConfig, "--disable-hot-restart", "--log-level", "warn")
		s.exiting, s.exitLog = s.server, filepath.Join(dir, "extproc.log")
		if err := waitFor(30*time.Second, func() error { return dial(fmt.Sprintf("127.0.0.1:%d", grpcPort)) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := waitFor(30*time.Second, func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/ready", adminPort))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("ready: %d", resp.StatusCode)
		}
		return nil
	}); err != nil {
		logs, _ := os.ReadFile(filepath.Join(dir, "envoy.log"))
		t.Fatalf("%v\n%s", err, logs)
	}
	return s
}

// Shutdown (SIGTERM to Envoy with the module, to the ext_proc server)
// flushes the async buffer: every record answered 202 is in Kafka after
// the exit, and records that cannot be delivered (their broker never
// answers) are counted in one log line, never dropped unseen.
func TestAsyncShutdownFlushesAndCountsLoss(t *testing.T) {
	ensureTopics(t)
	s := startOwnStack(t)
	prior := kafkatest.Snapshot(t, stack.bootstrap, map[string]int{asyncTopic: partitions})
	const n = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]bool{}
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf("shutdown-%d", i)
			code, _, err := sendTo(s.url, clients[i%2].c, "/async", body)
			if err == nil && code == 202 {
				mu.Lock()
				accepted[body] = true
				mu.Unlock()
			}
		})
	}
	for range stalledBuffer {
		wg.Go(func() {
			if code, body, err := sendTo(s.url, http1, "/async-stalled", "held"); err != nil || code != 202 {
				t.Errorf("async-stalled: %d %s %v", code, body, err)
			}
		})
	}
	wg.Wait()
	if len(accepted) < n/2 {
		t.Fatalf("only %d of %d requests accepted", len(accepted), n)
	}
	began := time.Now()
	syscall.Kill(-s.exiting.pid, syscall.SIGTERM)
	select {
	case <-s.exiting.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the adapter did not exit within 20 s of SIGTERM")
	}
	t.Logf("exited %v after SIGTERM", time.Since(began).Round(time.Millisecond))

	now := kafkatest.Snapshot(t, stack.bootstrap, map[string]int{asyncTopic: partitions})
	got := map[string]int{}
	for p := range partitions {
		for _, rec := range kafkatest.Fetch(t, stack.bootstrap, asyncTopic, p, prior[asyncTopic][p], int(now[asyncTopic][p]-prior[asyncTopic][p])) {
			env, _ := decodeEnvelope(t, rec.Value)
			got[fmt.Sprint(env["body"])]++
		}
	}
	for body := range accepted {
		if got[body] != 1 {
			t.Errorf("%s was answered 202 and is in Kafka %d times after the shutdown", body, got[body])
		}
	}
	log, _ := os.ReadFile(s.exitLog)
	want := fmt.Sprintf(`msg="async: records not delivered" lost=%d buffered_at_close=%d`, stalledBuffer, stalledBuffer)
	if !strings.Contains(string(log), want) {
		t.Errorf("the log has no %q:\n%s", want, log)
	}
}

// sendTo posts a text body to path on base.
func sendTo(base string, client *http.Client, path, body string) (int, string, error) {
	code, respBody, _, err := sendAt(context.Background(), client, base, "POST", path, "text/plain", []byte(body))
	return code, respBody, err
}
