package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A scenario is one way of serving the same request (issue 9, 2a–e).
type scenario struct {
	ID      string `json:"id"`      // a, b, c, e
	Adapter string `json:"adapter"` // envoy, dynmod, extproc, kafka-go
	Title   string `json:"title"`
	// Publishes: records reach Kafka, so the topic must grow by the 2xx
	// count; otherwise it must not grow at all.
	Publishes bool `json:"publishes"`
	// HTTP: driven through Envoy (both protocols); else kafka-go directly.
	HTTP bool `json:"http"`
	// Async: the adapter's config gets async: {enabled: true}; records
	// land after their replies.
	Async bool `json:"async,omitempty"`
}

var scenarios = []scenario{
	{ID: "a", Adapter: "envoy", Title: "Envoy direct_response (buffer filter)", HTTP: true},
	{ID: "b", Adapter: "dynmod", Title: "dynamic module, publishing disabled", HTTP: true},
	{ID: "b", Adapter: "extproc", Title: "ext_proc, publishing disabled", HTTP: true},
	{ID: "c", Adapter: "dynmod", Title: "dynamic module, sync acks=all", Publishes: true, HTTP: true},
	{ID: "c", Adapter: "extproc", Title: "ext_proc, sync acks=all", Publishes: true, HTTP: true},
	{ID: "d", Adapter: "dynmod", Title: "dynamic module, async acks=all", Publishes: true, HTTP: true, Async: true},
	{ID: "d", Adapter: "extproc", Title: "ext_proc, async acks=all", Publishes: true, HTTP: true, Async: true},
	{ID: "e", Adapter: "kafka-go", Title: "kafka-go directly, acks=all", Publishes: true},
}

func (s scenario) key() string { return s.ID + "-" + s.Adapter }

// Ports of the benchmark's own servers, apart from make run's and the
// tests' (all below 32768, clear of outgoing connections' ports).
const (
	envoyPort   = "20000"
	adminPort   = "20901"
	extprocPort = "20051"
	debugPort   = "20060"
)

// running is a scenario's servers, up and answering.
type running struct {
	procs []*proc
	// pids of what the report measures: envoy, extproc.
	pids      map[string]int
	debugAddr string // a Go runtime's profiles, "" when none runs
}

func (r *running) stop() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		r.procs[i].stop()
	}
}

// substitute copies a config of e2e/ with the ports replaced; each token
// must appear exactly once, as those files promise.
func substitute(src, dst string, pairs ...string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	s := string(b)
	for i := 0; i < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			return fmt.Errorf("%s: %q appears %d times, want once", src, pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return os.WriteFile(dst, []byte(s), 0o644)
}

// asyncToken is the line after which a scenario (d) config gets its async
// section, at the same indentation (both adapters' configs have it once).
const asyncToken = "produce_timeout: 10s"

// withAsync inserts `async: {enabled: true}` after the line holding
// asyncToken in file, indented as that line is.
func withAsync(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	s := string(b)
	i := strings.Index(s, asyncToken)
	if i < 0 || strings.Count(s, asyncToken) != 1 {
		return fmt.Errorf("%s: %q must appear once", file, asyncToken)
	}
	lineStart := strings.LastIndexByte(s[:i], '\n') + 1
	indent := s[lineStart:i]
	end := i + len(asyncToken)
	s = s[:end] + "\n" + indent + "async: {enabled: true}" + s[end:]
	return os.WriteFile(file, []byte(s), 0o644)
}

// startScenario starts what sc needs on top of Kafka and waits until a
// request is answered with 200.
func (d *driver) startScenario(ctx context.Context, sc scenario) (*running, error) {
	r := &running{pids: map[string]int{}}
	if !sc.HTTP {
		return r, nil
	}
	dir := filepath.Join(d.work, sc.key())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ports := []string{"port_value: 10000", "port_value: " + envoyPort, "port_value: 9901", "port_value: " + adminPort}
	kafka := []string{`"127.0.0.1:9092"`, `"127.0.0.1:` + d.kafkaPort + `"`}
	envoyCfg := filepath.Join(dir, "envoy.yaml")
	buildDir := filepath.Join(d.root, "build")
	if !sc.Publishes {
		buildDir = filepath.Join(d.root, "build", "bench")
	}
	var env []string
	switch sc.Adapter {
	case "envoy":
		if err := substitute(filepath.Join(d.root, "bench", "envoy-direct.yaml"), envoyCfg, ports...); err != nil {
			return nil, err
		}
	case "dynmod":
		if err := substitute(filepath.Join(d.root, "e2e", "envoy-dynmod.yaml"), envoyCfg, append(ports, kafka...)...); err != nil {
			return nil, err
		}
		if sc.Async {
			if err := withAsync(envoyCfg); err != nil {
				return nil, err
			}
		}
		r.debugAddr = "127.0.0.1:" + debugPort
		env = []string{"ENVOY_DYNAMIC_MODULES_SEARCH_PATH=" + buildDir, "KAFKA_UPSTREAM_DEBUG_ADDR=" + r.debugAddr}
	case "extproc":
		if err := substitute(filepath.Join(d.root, "e2e", "envoy-extproc.yaml"), envoyCfg,
			append(ports, "port_value: 50051", "port_value: "+extprocPort)...); err != nil {
			return nil, err
		}
		serverCfg := filepath.Join(dir, "extproc.yaml")
		if err := substitute(filepath.Join(d.root, "e2e", "extproc.yaml"), serverCfg, kafka...); err != nil {
			return nil, err
		}
		if sc.Async {
			if err := withAsync(serverCfg); err != nil {
				return nil, err
			}
		}
		r.debugAddr = "127.0.0.1:" + debugPort
		p, err := start("extproc", dir, nil, filepath.Join(buildDir, "extproc"), "-config", serverCfg,
			"-addr", "127.0.0.1:"+extprocPort, "-debug-addr", r.debugAddr, "-log-level", "warn")
		if err != nil {
			return nil, err
		}
		r.procs = append(r.procs, p)
		r.pids["extproc"] = p.pid()
		if err := waitFor(ctx, r.procs, "listening", func() bool { return listening("127.0.0.1:" + extprocPort) }); err != nil {
			r.stop()
			return nil, err
		}
	}
	args := []string{"-c", envoyCfg, "--disable-hot-restart", "--log-level", "warn"}
	if d.envoyConcurrency > 0 {
		args = append(args, "--concurrency", strconv.Itoa(d.envoyConcurrency))
	}
	p, err := start("envoy", dir, env, d.envoy, args...)
	if err != nil {
		r.stop()
		return nil, err
	}
	r.procs = append(r.procs, p)
	r.pids["envoy"] = p.pid()
	if err := waitFor(ctx, r.procs, "ready", func() bool { return httpOK("http://127.0.0.1:" + adminPort + "/ready") }); err != nil {
		r.stop()
		return nil, err
	}
	// One request through, so that a broken setup fails here, not as a
	// run of errors.
	if err := d.probe(ctx); err != nil {
		r.stop()
		return nil, fmt.Errorf("%s: %w; envoy log:\n%s", sc.key(), err, p.tail())
	}
	if sc.Async {
		// The probe's record lands after its reply: before the first
		// run counts the topic.
		if err := d.settle(ctx); err != nil {
			r.stop()
			return nil, err
		}
	}
	return r, nil
}

// The request every HTTP scenario serves: POST of 1 KiB of JSON to the
// default route of make run (Kong's envelope, topic events).
const benchPath = "/bench"

func (d *driver) url() string { return "http://127.0.0.1:" + envoyPort + benchPath }

// settle waits until the topic stops growing (two reads 500 ms apart
// agree), up to 30 s.
func (d *driver) settle(ctx context.Context) error {
	last, err := d.topicEnd(ctx)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		n, err := d.topicEnd(ctx)
		if err != nil {
			return err
		}
		if n == last {
			return nil
		}
		last = n
	}
	return fmt.Errorf("the topic kept growing for 30 s with no load")
}
