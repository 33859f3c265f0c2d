package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// soakSample is the processes' state at one moment of a soak.
type soakSample struct {
	AtS        float64          `json:"at_s"`
	RSSKiB     map[string]int64 `json:"rss_kib"`
	Threads    map[string]int64 `json:"threads"`
	OpenFiles  map[string]int   `json:"open_files"`
	Goroutines int              `json:"goroutines"` // of the Go runtime (module or server); -1 if unknown
}

// soakResult is a soak at a fixed rate and whether memory, goroutines and
// open files stayed flat.
type soakResult struct {
	Scenario string       `json:"scenario"`
	Rate     float64      `json:"rate_rps"`
	Samples  []soakSample `json:"samples"`
	Run      *measurement `json:"run"`
	Flat     bool         `json:"flat"`
	Verdicts []string     `json:"verdicts"`
	// IdleGoroutines before the soak and after it (3 s without load): under
	// load the count follows the requests in flight, so a leak shows idle.
	IdleGoroutinesBefore int `json:"idle_goroutines_before"`
	IdleGoroutinesAfter  int `json:"idle_goroutines_after"`
}

const soakEvery = 5 * time.Second

// soak runs the scenario at rate (HTTP/1.1, conns connections) for
// d.soakFor, sampling RSS, threads, open files and goroutines.
func (d *driver) soak(ctx context.Context, sc scenario, r *running, conns int, rate float64) (*soakResult, error) {
	res := &soakResult{Scenario: sc.key(), Rate: rate, IdleGoroutinesBefore: -1, IdleGoroutinesAfter: -1}
	if r.debugAddr != "" {
		time.Sleep(3 * time.Second)
		res.IdleGoroutinesBefore = goroutines(r.debugAddr)
	}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	t0 := time.Now()
	go func() {
		defer close(sampled)
		tick := time.NewTicker(soakEvery)
		defer tick.Stop()
		for {
			res.Samples = append(res.Samples, sample(r, t0))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	m, err := d.load(ctx, sc, r, "http1", conns, "soak", rate, d.soakFor)
	close(stop)
	<-sampled
	if err != nil {
		return nil, err
	}
	res.Run = m
	res.Flat, res.Verdicts = flatness(res.Samples, d.warmup+time.Minute)
	if r.debugAddr != "" {
		time.Sleep(3 * time.Second)
		res.IdleGoroutinesAfter = goroutines(r.debugAddr)
		ok := res.IdleGoroutinesAfter >= 0 && res.IdleGoroutinesAfter <= res.IdleGoroutinesBefore+5
		res.Flat = res.Flat && ok
		res.Verdicts = append(res.Verdicts, fmt.Sprintf("idle goroutines: %d before the soak, %d 3 s after it (allowed %d): %s",
			res.IdleGoroutinesBefore, res.IdleGoroutinesAfter, res.IdleGoroutinesBefore+5, map[bool]string{true: "flat", false: "GROWING"}[ok]))
	}
	return res, nil
}

func sample(r *running, t0 time.Time) soakSample {
	s := soakSample{AtS: time.Since(t0).Seconds(), RSSKiB: map[string]int64{}, Threads: map[string]int64{}, OpenFiles: map[string]int{}, Goroutines: -1}
	for name, pid := range r.pids {
		if st, err := status(pid); err == nil {
			s.RSSKiB[name] = st["VmRSS"]
			s.Threads[name] = st["Threads"]
		}
		s.OpenFiles[name] = openFiles(pid)
	}
	if r.debugAddr != "" {
		s.Goroutines = goroutines(r.debugAddr)
	}
	return s
}

// flatness compares the first and the last third of the samples taken
// after settle (connections opened, caches and pools grown): memory may
// not grow by more than 5 % + 4 MiB, goroutines and open files by more
// than 10 % + 10.
func flatness(samples []soakSample, settle time.Duration) (bool, []string) {
	var steady []soakSample
	for _, s := range samples {
		if s.AtS >= settle.Seconds() {
			steady = append(steady, s)
		}
	}
	if len(steady) < 6 {
		return false, []string{fmt.Sprintf("only %d samples after %v: too short to judge", len(steady), settle)}
	}
	third := len(steady) / 3
	first, last := steady[:third], steady[len(steady)-third:]
	flat := true
	var verdicts []string
	check := func(what string, get func(soakSample) float64, allowed func(float64) float64, unit string) {
		a := maxOf(first, get)
		b := maxOf(last, get)
		if a < 0 || b < 0 {
			return // not measured
		}
		ok := b <= allowed(a)
		flat = flat && ok
		verdicts = append(verdicts, fmt.Sprintf("%s: first third max %.0f%s, last third max %.0f%s (allowed %.0f%s): %s",
			what, a, unit, b, unit, allowed(a), unit, map[bool]string{true: "flat", false: "GROWING"}[ok]))
	}
	names := map[string]bool{}
	for _, s := range steady {
		for n := range s.RSSKiB {
			names[n] = true
		}
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		check(n+" RSS", func(s soakSample) float64 { return float64(s.RSSKiB[n]) / 1024 }, func(a float64) float64 { return a*1.05 + 4 }, " MiB")
		check(n+" open files", func(s soakSample) float64 { return float64(s.OpenFiles[n]) }, func(a float64) float64 { return a*1.1 + 10 }, "")
		check(n+" threads", func(s soakSample) float64 { return float64(s.Threads[n]) }, func(a float64) float64 { return a*1.1 + 10 }, "")
	}
	// Goroutines under load are the requests in flight (one each in the
	// module and the server): a latency spike raises them. They are
	// judged idle, before and after (soak); here they are only reported.
	if g := maxOf(first, func(s soakSample) float64 { return float64(s.Goroutines) }); g >= 0 {
		verdicts = append(verdicts, fmt.Sprintf("goroutines under load (requests in flight): first third max %.0f, last third max %.0f",
			g, maxOf(last, func(s soakSample) float64 { return float64(s.Goroutines) })))
	}
	return flat, verdicts
}

func maxOf(s []soakSample, get func(soakSample) float64) float64 {
	m := -1.0
	for _, x := range s {
		m = max(m, get(x))
	}
	return m
}
