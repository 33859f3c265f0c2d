// Command driver is make bench (issue 9): in one run on this machine it
// measures the per-request core with Go benchmarks, then load through a
// real stock Envoy in each scenario (a: direct_response, b: each adapter
// with publishing disabled, c: each adapter publishing synchronously with
// acks=all, e: kafka-go publishing directly) at 16 and 64 connections over
// HTTP/1.1 and h2c — saturation (closed loop), then 50 % and 80 % of it
// (open loop) — and soaks each adapter at 80 %. It writes the raw results
// (results.json), has bench/charts.py draw the charts and writes
// BENCHMARKS.md. See BENCHMARKS.md, "Method".
//
//	go run ./bench/driver -root . [-quick] [-report-only]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type driver struct {
	root, work, envoy, loadgen string
	kafkaPort                  string
	kafkaPID                   int
	duration, warmup, soakFor  time.Duration
	benchtime                  string
	envoyConcurrency           int // 0: Envoy's default (one worker per core)
}

// results is everything one make bench measured (results.json).
type results struct {
	Started   time.Time                     `json:"started"`
	Finished  time.Time                     `json:"finished"`
	Machine   map[string]string             `json:"machine"`
	Versions  map[string]string             `json:"versions"`
	Method    map[string]string             `json:"method"`
	GoBench   []goBench                     `json:"go_benchmarks"`
	Runs      []*measurement                `json:"runs"`
	PeakRSS   map[string]map[string]float64 `json:"peak_rss_mib"` // scenario → process → MiB
	Soaks     []*soakResult                 `json:"soaks"`
	Scenarios []scenario                    `json:"scenarios"`
	// Failures: scenarios that could not be measured, and why; the others
	// still are.
	Failures []string `json:"failures,omitempty"`
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	root := flag.String("root", ".", "the repository")
	out := flag.String("out", "docs/benchmarks", "where results.json and the charts go (BENCHMARKS.md goes to -root)")
	quick := flag.Bool("quick", false, "short runs (3 s, 5 s soak... ) to try the driver; not for numbers")
	only := flag.String("only", "", "comma-separated scenario keys to run (a-envoy,b-dynmod,...); default all")
	reportOnly := flag.Bool("report-only", false, "redraw the charts and rewrite BENCHMARKS.md from results.json")
	skipGo := flag.Bool("skip-go-bench", false, "do not run the Go benchmarks")
	soak := flag.Duration("soak", 5*time.Minute, "soak duration per adapter (0: no soak)")
	concurrency := flag.Int("envoy-concurrency", 0, "Envoy's --concurrency (worker threads); 0: its default, one per core")
	flag.Parse()

	d := &driver{duration: 10 * time.Second, warmup: 2 * time.Second, soakFor: *soak, kafkaPort: "29092", benchtime: "1s"}
	d.envoyConcurrency = *concurrency
	if *quick {
		d.duration, d.warmup, d.benchtime = 3*time.Second, time.Second, "100ms"
		d.soakFor = min(d.soakFor, 40*time.Second)
		kafkaWarmup = 5 * time.Second
	}
	var err error
	if d.root, err = filepath.Abs(*root); err != nil {
		log.Fatal(err)
	}
	outDir := *out
	if !filepath.IsAbs(outDir) {
		outDir = filepath.Join(d.root, outDir)
	}
	if *reportOnly {
		var res results
		b, err := os.ReadFile(filepath.Join(outDir, "results.json"))
		if err == nil {
			err = json.Unmarshal(b, &res)
		}
		if err == nil {
			err = d.report(&res, outDir)
		}
		if err != nil {
			log.Fatal(err)
		}
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := d.runAll(ctx, *only, *skipGo)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		log.Fatal(err)
	}
	js, _ := json.MarshalIndent(res, "", " ")
	if err := os.WriteFile(filepath.Join(outDir, "results.json"), append(js, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := d.report(res, outDir); err != nil {
		log.Fatal(err)
	}
}

func (d *driver) runAll(ctx context.Context, only string, skipGo bool) (res *results, err error) {
	res = &results{Started: time.Now().UTC(), PeakRSS: map[string]map[string]float64{}, Scenarios: scenarios}
	if d.work, err = os.MkdirTemp("", "kafka-upstream-bench."); err != nil {
		return nil, err
	}
	log.Printf("work directory (configs, logs, loadgen summaries): %s", d.work)
	d.loadgen = filepath.Join(d.root, "build", "loadgen")
	for _, need := range []string{d.loadgen, "build/extproc", "build/libkafka_upstream.so", "build/bench/extproc", "build/bench/libkafka_upstream.so"} {
		if _, err := os.Stat(filepath.Join(d.root, need)); err != nil && !filepath.IsAbs(need) {
			return nil, fmt.Errorf("%s is missing: run make bench, which builds it", need)
		}
	}
	if d.envoy, err = output(d.root, "e2e/envoy.sh", "path"); err != nil {
		return nil, err
	}
	res.Machine, res.Versions = machine(), d.versions()
	envoyWorkers := "--concurrency default (one worker per core)"
	if d.envoyConcurrency > 0 {
		envoyWorkers = fmt.Sprintf("--concurrency %d", d.envoyConcurrency)
	}
	res.Method = map[string]string{
		"duration": d.duration.String(), "warmup": d.warmup.String(), "soak": d.soakFor.String(),
		"body":     "1024-byte JSON object, POST " + benchPath + " (make run's default route: Kong's envelope with every forward_* flag, topic events, 3 partitions)",
		"go_bench": "go test -run ^$ -bench . -benchmem -count 5 -benchtime " + d.benchtime + " ./encoder/ ./ingest/",
		"envoy":    envoyWorkers,
	}

	waitQuiet()
	res.Machine["loadavg_at_start"] = machine()["loadavg_at_start"]
	if !skipGo {
		log.Printf("Go benchmarks of encoder/ and ingest/ (count 5)")
		if res.GoBench, err = d.goBenchmarks(ctx, 5); err != nil {
			return nil, err
		}
	}

	if err := d.startKafka(ctx); err != nil {
		return nil, err
	}
	defer d.stopKafka()
	// A fresh broker's JVM compiles its produce path during the first
	// load: without this, the first publishing scenario pays for it.
	log.Printf("warming Kafka up: %v of kafka-go publishing, not measured", kafkaWarmup)
	if _, err := d.load(ctx, scenarios[len(scenarios)-1], &running{}, "kafka", 64, "warm-up", 0, kafkaWarmup); err != nil {
		return nil, err
	}

	want := map[string]bool{}
	for _, k := range strings.Split(only, ",") {
		if k != "" {
			want[k] = true
		}
	}
	for _, sc := range scenarios {
		if len(want) > 0 && !want[sc.key()] {
			continue
		}
		if err := d.runScenario(ctx, sc, res); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			// A half-hour run is not thrown away for one scenario.
			log.Printf("scenario %s FAILED: %v", sc.key(), err)
			res.Failures = append(res.Failures, fmt.Sprintf("%s: %v", sc.key(), err))
		}
	}
	res.Finished = time.Now().UTC()
	return res, nil
}

// runScenario measures one scenario at each connection count and protocol,
// then soaks it when it is an adapter publishing.
func (d *driver) runScenario(ctx context.Context, sc scenario, res *results) error {
	log.Printf("scenario %s: %s", sc.key(), sc.Title)
	r, err := d.startScenario(ctx, sc)
	if err != nil {
		return err
	}
	defer r.stop()
	protos := []string{"http1", "h2c"}
	if !sc.HTTP {
		protos = []string{"kafka"}
	}
	var saturation64 float64
	for _, conns := range []int{16, 64} {
		for _, proto := range protos {
			sat, err := d.load(ctx, sc, r, proto, conns, "saturation", 0, d.duration)
			if err != nil {
				return err
			}
			res.Runs = append(res.Runs, sat)
			if conns == 64 && (proto == "http1" || proto == "kafka") {
				saturation64 = sat.Summary.ThroughputRPS
			}
			for _, share := range []float64{0.5, 0.8} {
				m, err := d.load(ctx, sc, r, proto, conns, strconv.Itoa(int(share*100))+"%", share*sat.Summary.ThroughputRPS, d.duration)
				if err != nil {
					return err
				}
				res.Runs = append(res.Runs, m)
			}
		}
	}
	res.PeakRSS[sc.key()] = map[string]float64{}
	for name, pid := range r.pids {
		if st, err := status(pid); err == nil {
			res.PeakRSS[sc.key()][name] = float64(st["VmHWM"]) / 1024
		}
	}
	if sc.ID == "c" && d.soakFor > 0 {
		log.Printf("soak %s: %v at 80 %% of %.0f req/s, 64 connections, HTTP/1.1", sc.key(), d.soakFor, saturation64)
		s, err := d.soak(ctx, sc, r, 64, 0.8*saturation64)
		if err != nil {
			return err
		}
		res.Soaks = append(res.Soaks, s)
	}
	return nil
}

var kafkaWarmup = 20 * time.Second

// waitQuiet waits, up to 2 minutes, for the 1-minute load average to fall
// below 0.5: whatever ran before (a build, tests) would be in the numbers.
func waitQuiet() {
	for deadline := time.Now().Add(2 * time.Minute); ; {
		b, err := os.ReadFile("/proc/loadavg")
		if err != nil {
			return
		}
		load, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
		if load < 0.5 {
			return
		}
		if time.Now().After(deadline) {
			log.Printf("the machine is still busy (load average %.2f): measuring anyway; see loadavg_at_start", load)
			return
		}
		log.Printf("waiting for the machine to quieten (load average %.2f)", load)
		time.Sleep(10 * time.Second)
	}
}

func (d *driver) kafkaEnv() []string {
	p, _ := strconv.Atoi(d.kafkaPort)
	return append(os.Environ(), "KAFKA_PORT="+d.kafkaPort, "KAFKA_CONTROLLER_PORT="+strconv.Itoa(p+1),
		"KAFKA_SECURE_DIR=", "KAFKA_AUTO_CREATE_TOPICS=false")
}

func (d *driver) startKafka(ctx context.Context) error {
	log.Printf("starting Kafka on 127.0.0.1:%s", d.kafkaPort)
	for _, args := range [][]string{{"start"}, {"create-topic", benchTopic, "3", "--config", "max.message.bytes=5242880"}} {
		cmd := exec.CommandContext(ctx, filepath.Join(d.root, "e2e", "kafka.sh"), args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = d.kafkaEnv(), os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("kafka.sh %s: %w", args[0], err)
		}
	}
	b, err := os.ReadFile("/tmp/kafka-upstream-kafka-" + d.kafkaPort + "/kafka.pid")
	if err != nil {
		return err
	}
	d.kafkaPID, err = strconv.Atoi(strings.TrimSpace(string(b)))
	return err
}

func (d *driver) stopKafka() {
	cmd := exec.Command(filepath.Join(d.root, "e2e", "kafka.sh"), "stop")
	cmd.Env, cmd.Stdout, cmd.Stderr = d.kafkaEnv(), os.Stderr, os.Stderr
	cmd.Run()
}

// probe sends one request like the benchmark's and wants a 2xx (202 in async mode).
func (d *driver) probe(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "content-type: application/json",
		"--data", `{"probe":true}`, d.url())
	b, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if len(b) != 3 || b[0] != '2' {
		return fmt.Errorf("probe request got %s, want 2xx", b)
	}
	return nil
}

func output(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(b)), nil
}
