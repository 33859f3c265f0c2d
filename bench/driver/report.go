package main

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// report draws the charts (bench/charts.sh) and writes BENCHMARKS.md.
func (d *driver) report(res *results, outDir string) error {
	cmd := exec.Command(filepath.Join(d.root, "bench", "charts.sh"), filepath.Join(outDir, "results.json"), outDir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("charts: %w", err)
	}
	rel, err := filepath.Rel(d.root, outDir)
	if err != nil {
		return err
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Benchmarks\n\n")
	w("Written by `make bench` (bench/driver) on %s UTC, in %.0f minutes, at commit %s. Every number below comes from that one run on one machine; absolute numbers differ between machines, the ratios between scenarios measured side by side are what the README quotes. Raw results: [`%s/results.json`](%s/results.json); each load run's full loadgen summary is kept in it.\n\n",
		res.Started.Format("2006-01-02 15:04"), res.Finished.Sub(res.Started).Minutes(), res.Versions["commit"], rel, rel)
	w("Regenerate with `make bench` (about 30 minutes; it needs the machine to itself: anything else running shows up in the numbers). `go run ./bench/driver -quick` tries the driver in a few minutes (numbers not meaningful); `-report-only` redraws charts and this file from results.json.\n\n")

	w("## Machine and versions\n\n| | |\n|---|---|\n")
	for _, k := range slices.Sorted(maps.Keys(res.Machine)) {
		w("| %s | %s |\n", k, res.Machine[k])
	}
	for _, k := range slices.Sorted(maps.Keys(res.Versions)) {
		w("| %s | %s |\n", k, res.Versions[k])
	}
	w("\n")
	writeMethod(w, res)

	t := newTable(res)
	writeTargets(w, res, t)
	writeSaturation(w, res, t)
	writeLatency(w, res, t)
	writeCost(w, res, t)
	writeBudget(w, res, t)
	writeChecks(w, res)
	writeSoaks(w, res)
	writeGoBench(w, res)

	w("## Charts\n\n")
	w("Throughput against p99 latency (each scenario at 50 %%, 80 %% and 100 %% of its saturation throughput):\n\n![throughput vs p99](%s/throughput-p99.png)\n\n", rel)
	w("Latency distribution at 80 %% of each scenario's saturation (x: the percentile on a 1/(1−p) scale, so the tail is visible):\n\n![latency CDFs](%s/latency-cdf.png)\n\n", rel)
	if len(res.Soaks) > 0 {
		w("Soak: RSS and goroutines over time:\n\n![soak](%s/soak.png)\n\n", rel)
	}
	for _, f := range []string{"analysis.md", "optimisations.md"} {
		extra, err := os.ReadFile(filepath.Join(d.root, "bench", f))
		if err != nil {
			return err
		}
		b.Write(extra)
		w("\n")
	}
	return os.WriteFile(filepath.Join(d.root, "BENCHMARKS.md"), []byte(b.String()), 0o644)
}

func writeMethod(w func(string, ...any), res *results) {
	w("## Method\n\n")
	w("- **Request**: %s. Every scenario answers the same request; (a) answers it with a `direct_response` of the size of the product's reply.\n", res.Method["body"])
	w("- **Scenarios**: ")
	for i, sc := range res.Scenarios {
		if i > 0 {
			w("; ")
		}
		w("(%s) `%s` %s", sc.ID, sc.key(), sc.Title)
	}
	w(". (d) is (c) with `async: {enabled: true}` added to the config (replies once the records are buffered; the topic check waits up to 30 s for them to land). (b) runs binaries built with `-tags kafka_upstream_nopublish` (`producer/nopublish.go`): the whole adapter and core, with `Publish` answering at once without a broker. (e) is `bench/loadgen -kafka`: one kafka-go Writer with the product's settings from `e2e/extproc.yaml` (acks=all, batch timeout 1 ms, batch size 100, one attempt), each of N workers writing the record (c) writes (Kong's envelope of the same request, encoded once) and waiting for its acknowledgement: the publishing ceiling at the same concurrency.\n")
	w("- **Load**: `bench/loadgen`, on the same machine (its CPU is in the cost table). Per scenario, connection count (16, 64) and protocol (HTTP/1.1 keep-alive, h2c with prior knowledge): a closed loop for the saturation throughput (each connection sends when it has its reply), then open loops at 50 %% and 80 %% of that throughput, latency measured from each request's intended send time (no coordinated omission). Each run: %s warm-up, then %s measured.\n", res.Method["warmup"], res.Method["duration"])
	w("- **Servers**: stock Envoy %s (%s), the ext_proc server, Kafka %s (one KRaft broker, heap 512 MiB, topic `events` with 3 partitions) on 127.0.0.1, all fresh for the run; Envoy's and the server's access and error logs go to files.\n", res.Versions["envoy"], res.Method["envoy"], res.Versions["kafka"])
	w("- **Measured per run**: CPU time of each process from `/proc/PID/stat` (warm-up included, divided by every 2xx of the run), peak RSS (`VmHWM`) per scenario, and the topic's high watermarks before and after: a publishing scenario must grow it by exactly its 2xx replies, the others not at all.\n")
	w("- **Soak**: each publishing adapter at 80 %% of its 64-connection HTTP/1.1 saturation for %s, sampling RSS, threads, open files (`/proc`) and goroutines (the module's or server's `/debug/pprof`, `internal/debugserver`) every 5 s.\n", res.Method["soak"])
	w("- **Go benchmarks**: `%s`; medians of the 5 runs.\n\n", res.Method["go_bench"])
}

// table indexes the runs by scenario, protocol, connections and load.
type table map[string]*measurement

func newTable(res *results) table {
	t := table{}
	for _, m := range res.Runs {
		t[fmt.Sprintf("%s|%s|%d|%s", m.Scenario, m.Proto, m.Conns, m.Load)] = m
	}
	return t
}

func (t table) get(sc, proto string, conns int, load string) *measurement {
	if sc == "e-kafka-go" {
		proto = "kafka"
	}
	return t[fmt.Sprintf("%s|%s|%d|%s", sc, proto, conns, load)]
}

func (t table) rps(sc, proto string, conns int) float64 {
	if m := t.get(sc, proto, conns, "saturation"); m != nil {
		return m.Summary.ThroughputRPS
	}
	return 0
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "not met"
}

var (
	protos = []string{"http1", "h2c"}
	conns  = []int{16, 64}
)

func writeTargets(w func(string, ...any), res *results, t table) {
	w("## Targets (issue 9)\n\n| target | measured | |\n|---|---|---|\n")
	for _, p := range protos {
		r := t.rps("c-dynmod", p, 64) / t.rps("e-kafka-go", p, 64)
		w("| (c) dynamic module ≥ 0.5× (e) at 64 connections, %s | %s (%.0f vs %.0f req/s) | %s |\n", p, ratio(t.rps("c-dynmod", p, 64), t.rps("e-kafka-go", p, 64)), t.rps("c-dynmod", p, 64), t.rps("e-kafka-go", p, 64), met(r >= 0.5))
	}
	for _, n := range conns {
		for _, p := range protos {
			c, e := t.get("c-dynmod", p, n, "50%"), t.get("e-kafka-go", p, n, "50%")
			if c == nil || e == nil {
				continue
			}
			diff := c.Summary.Latency.P99 - e.Summary.Latency.P99
			w("| (c) dynamic module p99 − (e) p99 < 2 ms at 50 %% load, %d connections, %s | %.2f ms (%.2f vs %.2f ms) | %s |\n", n, p, diff, c.Summary.Latency.P99, e.Summary.Latency.P99, met(diff < 2))
		}
	}
	for _, p := range protos {
		r := t.rps("c-extproc", p, 64) / t.rps("e-kafka-go", p, 64)
		// The starting point: ≈4 700 vs ≈31 700 req/s.
		w("| (c) ext_proc ÷ (e) at 64 connections at least doubles the issue's 0.15 (≥ 0.30), %s | %s | %s |\n", p, ratio(t.rps("c-extproc", p, 64), t.rps("e-kafka-go", p, 64)), met(r >= 0.30))
	}
	for _, n := range conns {
		for _, p := range protos {
			a := t.rps("a-envoy", p, n)
			w("| (b) dynamic module ≥ 0.85× (a), %d connections, %s | %s | %s |\n", n, p, ratio(t.rps("b-dynmod", p, n), a), met(a > 0 && t.rps("b-dynmod", p, n)/a >= 0.85))
			w("| (b) ext_proc ≥ 0.5× (a), %d connections, %s | %s | %s |\n", n, p, ratio(t.rps("b-extproc", p, n), a), met(a > 0 && t.rps("b-extproc", p, n)/a >= 0.5))
		}
	}
	for _, g := range res.GoBench {
		switch g.Name {
		case "BenchmarkEncode/kong-all/json/1KiB", "BenchmarkEncode/kong-default/json/1KiB":
			w("| `%s` < 2 µs and < 10 allocations | %.0f ns, %.0f allocs | %s |\n", strings.TrimPrefix(g.Name, "Benchmark"), g.NsPerOp, g.AllocsPerOp, met(g.NsPerOp < 2000 && g.AllocsPerOp < 10))
		case "BenchmarkEncode/raw/json/1KiB":
			w("| `%s` < 300 ns and ≤ 2 allocations | %.0f ns, %.0f allocs | %s |\n", strings.TrimPrefix(g.Name, "Benchmark"), g.NsPerOp, g.AllocsPerOp, met(g.NsPerOp < 300 && g.AllocsPerOp <= 2))
		}
	}
	for _, s := range res.Soaks {
		w("| memory flat over the soak, %s | see Soak | %s |\n", s.Scenario, met(s.Flat))
	}
	w("\n")
}

func writeSaturation(w func(string, ...any), res *results, t table) {
	w("## Saturation throughput (closed loop)\n\nRequests per second; in brackets the ratio to (a), Envoy alone, and to (e), kafka-go alone, at the same connection count.\n\n")
	w("| scenario | 16 conns HTTP/1.1 | 16 conns h2c | 64 conns HTTP/1.1 | 64 conns h2c |\n|---|---|---|---|---|\n")
	for _, sc := range res.Scenarios {
		w("| (%s) %s |", sc.ID, sc.Title)
		for _, n := range conns {
			for _, p := range protos {
				v := t.rps(sc.key(), p, n)
				if v == 0 {
					w(" – |")
					continue
				}
				w(" %.0f (a %s, e %s) |", v, ratio(v, t.rps("a-envoy", p, n)), ratio(v, t.rps("e-kafka-go", p, n)))
			}
		}
		w("\n")
	}
	w("\n(e) has no HTTP: its column pairs show the same run.\n\n")
}

func writeLatency(w func(string, ...any), res *results, t table) {
	w("## Latency (ms)\n\np50 / p99 / p99.9 at 50 %% and 80 %% of the scenario's own saturation throughput (open loop, from the intended send time), and p99 at saturation (closed loop). `lag` is the p50 delay from intended to actual send: when it is not far below p50, the generator or the connections could not keep the rate.\n\n")
	w("| scenario | conns | proto | 50 %%: rate, p50 / p99 / p99.9 | 80 %%: rate, p50 / p99 / p99.9 | lag p50 at 80 %% | saturation p99 |\n|---|---|---|---|---|---|---|\n")
	eachRun(res, func(sc scenario, n int, p string) {
		h, e, s := t.get(sc.key(), p, n, "50%"), t.get(sc.key(), p, n, "80%"), t.get(sc.key(), p, n, "saturation")
		if h == nil || e == nil || s == nil {
			return
		}
		lag := "–"
		if e.Summary.SendLag != nil {
			lag = fmt.Sprintf("%.2f", e.Summary.SendLag.P50)
		}
		w("| (%s) %s | %d | %s | %.0f/s: %.2f / %.2f / %.2f | %.0f/s: %.2f / %.2f / %.2f | %s | %.2f |\n", sc.ID, sc.Adapter, n, p,
			h.Rate, h.Summary.Latency.P50, h.Summary.Latency.P99, h.Summary.Latency.P999,
			e.Rate, e.Summary.Latency.P50, e.Summary.Latency.P99, e.Summary.Latency.P999, lag, s.Summary.Latency.P99)
	})
	w("\n")
}

func writeCost(w func(string, ...any), res *results, t table) {
	w("## Cost per request at saturation\n\nCPU µs per reply for each process (user + system), and peak RSS (MiB) over the scenario's runs.\n\n")
	w("| scenario | conns | proto | Envoy | ext_proc server | Kafka | loadgen | peak RSS Envoy | peak RSS server |\n|---|---|---|---|---|---|---|---|---|\n")
	cell := func(m map[string]float64, k string) string {
		if v, ok := m[k]; ok {
			return fmt.Sprintf("%.0f", v)
		}
		return "–"
	}
	eachRun(res, func(sc scenario, n int, p string) {
		m := t.get(sc.key(), p, n, "saturation")
		if m == nil {
			return
		}
		rss := res.PeakRSS[sc.key()]
		w("| (%s) %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", sc.ID, sc.Adapter, n, p, cell(m.CPUPerRequestUS, "envoy"), cell(m.CPUPerRequestUS, "extproc"),
			cell(m.CPUPerRequestUS, "kafka"), cell(m.CPUPerRequestUS, "loadgen"), cell(rss, "envoy"), cell(rss, "extproc"))
	})
	w("\n")
}

func writeChecks(w func(string, ...any), res *results) {
	bad, non2xx := 0, uint64(0)
	for _, m := range res.Runs {
		if !m.GrowthOK {
			bad++
		}
		non2xx += m.Summary.Others
	}
	w("## Checks\n\n")
	for _, f := range res.Failures {
		w("- **Not measured**: %s\n", f)
	}
	w("- Topic growth: in %d of %d runs the topic grew by exactly the number of 2xx replies (publishing scenarios) or not at all (the others).\n", len(res.Runs)-bad, len(res.Runs))
	w("- Replies other than 2xx (errors included) over all runs: %d.\n", non2xx)
	for _, m := range res.Runs {
		if !m.GrowthOK || m.Summary.Others > 0 {
			w("  - %s %s %d conns %s: topic +%d, 2xx %d, others %d %v %v\n", m.Scenario, m.Proto, m.Conns, m.Load, m.TopicGrowth, m.Summary.Every2xx, m.Summary.Others, m.Summary.Status, m.Summary.ErrorSamples)
		}
	}
	w("\n")
}

func writeSoaks(w func(string, ...any), res *results) {
	if len(res.Soaks) == 0 {
		return
	}
	w("## Soak\n\n")
	for _, s := range res.Soaks {
		m := s.Run
		w("**%s** at %.0f req/s (64 connections, HTTP/1.1), %d samples: %d requests, %d others, topic +%d for %d 2xx (%s), p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms. Memory, threads, files and goroutines: **%s**.\n\n",
			s.Scenario, s.Rate, len(s.Samples), m.Summary.Requests, m.Summary.Others, m.TopicGrowth, m.Summary.Every2xx, map[bool]string{true: "exact", false: "MISMATCH"}[m.GrowthOK],
			m.Summary.Latency.P50, m.Summary.Latency.P99, m.Summary.Latency.P999, map[bool]string{true: "flat", false: "not flat"}[s.Flat])
		for _, v := range s.Verdicts {
			w("- %s\n", v)
		}
		w("\n")
	}
}

func writeGoBench(w func(string, ...any), res *results) {
	if len(res.GoBench) == 0 {
		return
	}
	w("## Go benchmarks of the core\n\nMedians of the runs (range of ns/op in brackets). `Encode/<format>/<body>/<size>`: encoding one request (`kong-all`: Kong's envelope with every `forward_*` flag, make run's default; `kong-default`: `forward_body` only). `Handle*`: the whole core against kfake in the process, acks=all, one record or a fan-out to 3 topics, sequentially (latency, dominated by the 1 ms batch timeout) and 16×GOMAXPROCS in parallel (inverse throughput).\n\n")
	w("| benchmark | ns/op | B/op | allocs/op |\n|---|---|---|---|\n")
	for _, g := range res.GoBench {
		w("| `%s` | %.0f [%.0f–%.0f] | %.0f | %.0f |\n", strings.TrimPrefix(g.Name, "Benchmark"), g.NsPerOp, g.NsMin, g.NsMax, g.BytesPerOp, g.AllocsPerOp)
	}
	w("\n")
}

// writeBudget shows how CPU-bound each scenario is: with every process on
// the same cores, throughput cannot pass cores ÷ (CPU per request, all
// processes together).
func writeBudget(w func(string, ...any), res *results, t table) {
	cores := 2.0
	if n, err := strconv.Atoi(res.Machine["cpus"]); err == nil && n > 0 {
		cores = float64(n)
	}
	w("## CPU budget at saturation\n\nEvery process shares the machine's %.0f cores, so a scenario's throughput cannot pass %.0f s ÷ its CPU per request summed over all processes (load generator and Kafka included). `used` is the measured throughput over that ceiling: near 100 %%, the scenario is CPU-bound and the ratios between scenarios are ratios of CPU per request.\n\n", cores, cores)
	w("| scenario | conns | proto | CPU µs per request, all processes | ceiling (req/s) | measured (req/s) | used |\n|---|---|---|---|---|---|---|\n")
	eachRun(res, func(sc scenario, n int, p string) {
		m := t.get(sc.key(), p, n, "saturation")
		if m == nil {
			return
		}
		total := 0.0
		for _, v := range m.CPUPerRequestUS {
			total += v
		}
		if total == 0 {
			return
		}
		ceiling := cores * 1e6 / total
		w("| (%s) %s | %d | %s | %.0f | %.0f | %.0f | %.0f %% |\n", sc.ID, sc.Adapter, n, p, total, ceiling, m.Summary.ThroughputRPS, 100*m.Summary.ThroughputRPS/ceiling)
	})
	w("\n")
}

// eachRun calls f for every scenario, connection count and protocol the
// tables have a row for ((e) has one protocol, kafka).
func eachRun(res *results, f func(sc scenario, conns int, proto string)) {
	for _, sc := range res.Scenarios {
		ps := protos
		if !sc.HTTP {
			ps = []string{"kafka"}
		}
		for _, n := range conns {
			for _, p := range ps {
				f(sc, n, p)
			}
		}
	}
}
