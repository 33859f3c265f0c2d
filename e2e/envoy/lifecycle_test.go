//go:build e2e

package envoy_test

// What happens around requests rather than to them: clients that go while
// their request is being published, and configs Envoy must refuse.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The module's debug lines (dynmod/filter.go) about a stream destroyed
// before its reply, and about its publishing goroutine ending.
const (
	abandonedLine = `msg="stream gone before its reply: publish cancelled"`
	endedLine     = `msg="publish ended after its stream went"`
	noneLeftLine  = endedLine + " still_publishing=0"
)

// TestClientAbortsWhilePublishing: many clients give up while their
// request is being published (the /stalled route's broker accepts
// connections and never answers; its produce_timeout is 30 s). Envoy keeps
// serving on the same client, and, for the module, every abandoned
// stream's publish is cancelled when Envoy destroys the stream: each
// goroutine ends at once, not at produce_timeout, and none is left.
func TestClientAbortsWhilePublishing(t *testing.T) {
	ensureTopics(t)
	const n = 100
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			logFrom := logSize(t)
			ctx, abort := context.WithCancel(context.Background())
			defer abort()
			var wg sync.WaitGroup
			bad := make(chan string, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					path := fmt.Sprintf("/stalled/%s/%d", client.name, i)
					code, body, _, err := send(ctx, client.c, "POST", path, "text/plain", []byte("abandoned"))
					switch {
					case err == nil:
						bad <- fmt.Sprintf("%s: answered %d %s, though its broker never answers", path, code, body)
					case !errors.Is(err, context.Canceled):
						bad <- fmt.Sprintf("%s: %v, want the client's own cancellation", path, err)
					}
				}()
			}
			// The clients give up once Envoy has all their requests
			// (and a moment for their small bodies to reach the
			// publish): far sooner than the stalled config's
			// produce_timeout.
			if err := waitFor(15*time.Second, func() error {
				if active := envoyGauge(t, "http.kafka_upstream.downstream_rq_active"); active != n {
					return fmt.Errorf("%d requests active in Envoy, want %d", active, n)
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
			time.Sleep(300 * time.Millisecond)
			abort()
			wg.Wait()
			aborted := time.Now()
			close(bad)
			for b := range bad {
				t.Error(b)
			}

			t.Run("no goroutine left", func(t *testing.T) {
				onlyOn(t, dynmod, "the publishing goroutines are the ext_proc server's, which Envoy's log does not show; "+
					"the server's cancellation is tested in extproc/")
				// Every stream was destroyed mid-publish (abandonedLine),
				// every one's goroutine ended (endedLine), the last
				// leaving none (still_publishing=0), all well before
				// produce_timeout.
				var lines []string
				err := waitFor(stalledTimeout/3, func() error {
					lines = logLines(t, logFrom)
					abandoned, ended := count(lines, abandonedLine), count(lines, endedLine)
					if abandoned != n || ended != n || count(lines, noneLeftLine) == 0 {
						return fmt.Errorf("%d streams destroyed mid-publish and %d publishes ended since the aborts, want %d each and a line %q",
							abandoned, ended, n, noneLeftLine)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("%v\n(%s after the aborts; the module's lines:\n%s)", err, time.Since(aborted).Round(time.Millisecond),
						strings.Join(filter(lines, "dynamic_modules"), "\n"))
				}
				t.Logf("all %d publishes ended %s after the aborts", n, time.Since(aborted).Round(time.Millisecond))
			})

			// Envoy is still up and serving, on the same client.
			if err := envoyReady(); err != nil {
				t.Fatalf("envoy stopped serving: %v\n%s", err, tail("envoy.log"))
			}
			prior := before(t)
			code, body, ct := do(t, client.c, "POST", "/after-aborts", "text/plain", []byte("still serving"))
			rec := expectSent(t, code, body, ct, prior, target{topic, -1})[0]
			if env, _ := decodeEnvelope(t, rec.Value); env["uri"] != "/after-aborts" || env["body"] != "still serving" {
				t.Errorf("record %s", rec)
			}
		})
	}
}

// envoyGauge reads one of Envoy's stats from its admin interface.
func envoyGauge(t *testing.T, name string) int {
	t.Helper()
	resp, err := http.Get(stack.admin + "/stats?filter=" + url.QueryEscape("^"+regexp.QuoteMeta(name)+"$"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), name+": %d", &v); err != nil {
		t.Fatalf("stat %s: %q: %v", name, data, err)
	}
	return v
}

func logSize(t *testing.T) int64 {
	t.Helper()
	fi, err := os.Stat(stack.envoyLog)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// logLines are Envoy's log lines from byte offset from on, the last one
// left out if it is not complete yet.
func logLines(t *testing.T, from int64) []string {
	t.Helper()
	data, err := os.ReadFile(stack.envoyLog)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) < from {
		t.Fatalf("%s shrank: %d bytes, had %d", stack.envoyLog, len(data), from)
	}
	data = data[from:]
	if i := strings.LastIndexByte(string(data), '\n'); i >= 0 {
		data = data[:i]
	} else {
		return nil
	}
	return strings.Split(string(data), "\n")
}

func count(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func filter(lines []string, s string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	if len(out) > 40 {
		out = append(out[:20], append([]string{"…"}, out[len(out)-20:]...)...)
	}
	return out
}

// TestEnvoyRejectsConfig: a kafka-upstream config the module refuses
// fails Envoy's config load (`envoy --mode validate` loads the module and
// has it parse every config): a non-zero exit, Envoy's own error, and the
// module's reason naming the field. The suite's own config, written the
// same way, passes: the failures are the edits'.
func TestEnvoyRejectsConfig(t *testing.T) {
	onlyOn(t, dynmod, "ext_proc's Envoy never sees the kafka-upstream config: the ext_proc server reads it, and its refusals are tested in extproc/ and config/")
	// Envoy's error when the module returns no config, at the filter and
	// per route (docs/development-dynmod.md, trap 1).
	const (
		filterFailed   = "Failed to initialize dynamic module"
		perRouteFailed = "Failed to initialize per-route dynamic module"
	)
	filterValue := func(filter map[string]any) map[string]any {
		return filter["typed_config"].(map[string]any)["filter_config"].(map[string]any)["value"].(map[string]any)
	}
	routeValue := func(routes []any, prefix string) (map[string]any, error) {
		for _, r := range routes {
			if p, _ := dig(r, "match", "path_separated_prefix"); p == prefix {
				v, err := dig(r, "typed_per_filter_config")
				if err != nil {
					return nil, err
				}
				for _, entry := range v.(map[string]any) {
					value, err := dig(entry, "filter_config", "value")
					if err != nil {
						return nil, err
					}
					return value.(map[string]any), nil
				}
			}
		}
		return nil, fmt.Errorf("no route %s with a per-route config", prefix)
	}
	tests := []struct {
		name string
		edit func(bootstrap, filter map[string]any, routes []any) error
		// want are in the output, in this order: the module's reason as
		// it logs it (slog's text quoting), then Envoy's error.
		want []string
	}{
		{"the suite's own config passes", nil, nil},
		{"filter config, invalid topic",
			func(_, filter map[string]any, _ []any) error {
				filterValue(filter)["topic"] = "bad topic!"
				return nil
			},
			[]string{`kafka-upstream: msg="filter_config rejected" error="topic: \"bad topic!\" is not a valid Kafka topic name`, filterFailed}},
		{"filter config, unknown field",
			func(_, filter map[string]any, _ []any) error {
				filterValue(filter)["topik"] = "x"
				return nil
			},
			[]string{`kafka-upstream: msg="filter_config rejected" error="topik: unknown field`, filterFailed}},
		{"filter_name of no filter",
			func(_, filter map[string]any, _ []any) error {
				filter["typed_config"].(map[string]any)["filter_name"] = "other"
				return nil
			},
			[]string{`kafka-upstream: msg="filter_config rejected" error="filter_name: \"other\" is not a filter of this module`, filterFailed}},
		{"per-route config changes the shared producer",
			func(_, _ map[string]any, routes []any) error {
				v, err := routeValue(routes, "/raw")
				if err == nil {
					v["produce_timeout"] = "1s"
				}
				return err
			},
			[]string{`kafka-upstream: msg="per-route filter_config rejected" error="produce_timeout: a config without bootstrap_servers shares its parent's Kafka producer and cannot change it`, perRouteFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "envoy.yaml")
			if err := writeDynmodConfig(path, tt.edit); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, stack.envoyBin, "--mode", "validate", "-c", path, "--disable-hot-restart")
			cmd.Env = dynmodEnv()
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("envoy --mode validate: %v, want success\n%s", err, out)
			case tt.want == nil:
				return
			case err == nil:
				t.Fatalf("envoy --mode validate accepted the config, want it refused\n%s", out)
			case !errors.As(err, &exit) || ctx.Err() != nil:
				t.Fatalf("envoy --mode validate: %v\n%s", err, out)
			}
			rest := string(out)
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("exit %d; the output lacks (after what came before)\n  %s\noutput:\n%s", exit.ExitCode(), w, out)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
