package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// loadSummary is the part of bench/loadgen's JSON summary the report uses
// (the whole of it is kept in Raw).
type loadSummary struct {
	Requests      uint64            `json:"requests"`
	OK            uint64            `json:"2xx"`
	Every2xx      uint64            `json:"every_2xx"`
	Others        uint64            `json:"others"`
	Status        map[string]uint64 `json:"status"`
	ErrorSamples  []string          `json:"error_samples"`
	ThroughputRPS float64           `json:"throughput_rps"`
	Latency       struct {
		P50  float64 `json:"p50"`
		P99  float64 `json:"p99"`
		P999 float64 `json:"p99_9"`
		Max  float64 `json:"max"`
	} `json:"latency_ms"`
	SendLag *struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"send_lag_ms"`
	CDF []struct {
		P  float64 `json:"p"`
		MS float64 `json:"ms"`
	} `json:"cdf"`
}

// measurement is one load run and what it cost.
type measurement struct {
	Scenario string  `json:"scenario"` // scenario key, e.g. c-dynmod
	Proto    string  `json:"proto"`    // http1, h2c, kafka
	Conns    int     `json:"conns"`
	Load     string  `json:"load"` // saturation, 50%, 80%
	Rate     float64 `json:"rate_rps,omitempty"`
	// CPUSeconds per process over the run (warm-up included), and
	// CPUPerRequestUS: CPU µs per reply (every reply of the run).
	CPUSeconds      map[string]float64 `json:"cpu_s"`
	CPUPerRequestUS map[string]float64 `json:"cpu_us_per_request"`
	// TopicGrowth: records the topic gained; must equal Every2xx when the
	// scenario publishes, 0 otherwise.
	TopicGrowth int64       `json:"topic_growth"`
	GrowthOK    bool        `json:"growth_ok"`
	Summary     loadSummary `json:"summary"`
}

// load runs bench/loadgen once against the running scenario and measures
// the processes around it.
func (d *driver) load(ctx context.Context, sc scenario, r *running, proto string, conns int, load string, rate float64, dur time.Duration) (*measurement, error) {
	out := filepath.Join(d.work, fmt.Sprintf("%s-%s-%d-%s.json", sc.key(), proto, conns, strings.TrimSuffix(load, "%")))
	args := []string{"-conns", strconv.Itoa(conns), "-size", "1024", "-content-type", "application/json",
		"-duration", dur.String(), "-warmup", d.warmup.String(), "-timeout", "15s", "-out", out}
	if sc.HTTP {
		args = append(args, "-url", d.url(), "-proto", proto)
	} else {
		args = append(args, "-url", d.url(), "-kafka", "127.0.0.1:"+d.kafkaPort,
			"-kafka-config", filepath.Join(d.root, "e2e", "extproc.yaml"))
	}
	if rate > 0 {
		args = append(args, "-mode", "open", "-rate", strconv.FormatFloat(rate, 'f', 0, 64))
	} else {
		args = append(args, "-mode", "closed")
	}

	before, err := d.topicEnd(ctx)
	if err != nil {
		return nil, err
	}
	pids := map[string]int{"kafka": d.kafkaPID}
	for name, pid := range r.pids {
		pids[name] = pid
	}
	cpu0 := map[string]float64{}
	for name, pid := range pids {
		if cpu0[name], err = cpuSeconds(pid); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	cmd := exec.CommandContext(ctx, d.loadgen, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("loadgen %s: %w", strings.Join(args, " "), err)
	}
	m := &measurement{Scenario: sc.key(), Proto: proto, Conns: conns, Load: load, Rate: rate,
		CPUSeconds: map[string]float64{}, CPUPerRequestUS: map[string]float64{}}
	for name, pid := range pids {
		c, err := cpuSeconds(pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		m.CPUSeconds[name] = c - cpu0[name]
	}
	m.CPUSeconds["loadgen"] = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()

	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &m.Summary); err != nil {
		return nil, fmt.Errorf("%s: %w", out, err)
	}
	replies := float64(m.Summary.Every2xx)
	if replies > 0 {
		for name, s := range m.CPUSeconds {
			m.CPUPerRequestUS[name] = s / replies * 1e6
		}
	}
	// Replies are in. Synchronously, records are acknowledged before
	// their reply, so the high watermark is final (a moment for the broker
	// to expose it); asynchronously they land after it: wait for them, up
	// to the delivery timeout.
	want := int64(0)
	if sc.Publishes {
		want = int64(m.Summary.Every2xx)
	}
	wait := 200 * time.Millisecond
	if sc.Async {
		wait = 30 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		time.Sleep(100 * time.Millisecond)
		after, err := d.topicEnd(ctx)
		if err != nil {
			return nil, err
		}
		m.TopicGrowth = after - before
		if m.TopicGrowth >= want || time.Now().After(deadline) {
			break
		}
	}
	m.GrowthOK = m.TopicGrowth == want
	return m, nil
}

// topicEnd is the sum of the bench topic's partitions' high watermarks.
// A topic just created may not have its leaders yet: it asks again for
// up to 15 s.
func (d *driver) topicEnd(ctx context.Context) (int64, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, err := d.topicEndOnce(ctx)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return n, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (d *driver) topicEndOnce(ctx context.Context) (int64, error) {
	c := &kafka.Client{Addr: kafka.TCP("127.0.0.1:" + d.kafkaPort), Timeout: 10 * time.Second}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{benchTopic}})
	if err != nil {
		return 0, fmt.Errorf("metadata: %w", err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return 0, fmt.Errorf("metadata of %s: %+v", benchTopic, md.Topics)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{benchTopic: reqs}})
	if err != nil {
		return 0, fmt.Errorf("list offsets: %w", err)
	}
	var sum int64
	for _, p := range resp.Topics[benchTopic] {
		if p.Error != nil {
			return 0, fmt.Errorf("offsets of %s/%d: %w", benchTopic, p.Partition, p.Error)
		}
		sum += p.LastOffset
	}
	return sum, nil
}

// benchTopic is the default route's topic in e2e/extproc.yaml and
// e2e/envoy-dynmod.yaml.
const benchTopic = "events"
