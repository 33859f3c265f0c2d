package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSchedule(start, 1000)
	for _, i := range []int64{0, 1, 999, 1000, 123456} {
		if got, want := s.at(i), start.Add(time.Duration(i)*time.Millisecond); !got.Equal(want) {
			t.Errorf("rate 1000: at(%d) = %v, want %v", i, got, want)
		}
	}
	// An interval that is no whole number of nanoseconds does not drift:
	// 3 per second, request 3 million is 1 million seconds in.
	s = newSchedule(start, 3)
	if d := s.at(3_000_000).Sub(start) - 1_000_000*time.Second; d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("rate 3: at(3e6) is %v off 1e6 s", d)
	}
}

// stallingSender answers at once, but the call numbered stallAt takes
// stall.
func stallingSender(stallAt int64, stall time.Duration) sendFunc {
	var calls atomic.Int64
	return func(ctx context.Context) (int, error) {
		if calls.Add(1) == stallAt {
			time.Sleep(stall)
		}
		return 200, nil
	}
}

// One 100 ms stall of the only connection, at 1000 requests/s: the open
// loop schedules the requests that the stall delayed anyway and charges
// them from their intended time (about 100 of them, with latencies spread
// over 0–100 ms, so p90 is far above the normal latency); the closed loop
// sees one slow request.
func TestOpenLoopAvoidsCoordinatedOmission(t *testing.T) {
	const rate, dur, stall = 1000, 400 * time.Millisecond, 100 * time.Millisecond
	open := &options{Mode: modeOpen, Rate: rate, Duration: dur, Conns: 1, Streams: 1}
	s := run(context.Background(), open, []sendFunc{stallingSender(50, stall)})
	if s.Requests != rate*uint64(dur/time.Millisecond)/1000 {
		t.Errorf("open loop: %d requests, want exactly the %d scheduled", s.Requests, rate*uint64(dur/time.Millisecond)/1000)
	}
	if s.OK != s.Requests || s.Others != 0 {
		t.Errorf("open loop: 2xx %d others %d of %d", s.OK, s.Others, s.Requests)
	}
	// About half of the ~100 delayed requests waited over 50 ms.
	if n := countFrom(s.hist, 40*time.Millisecond); n < 40 {
		t.Errorf("open loop: %d requests took ≥ 40ms, want the ~60 the stall delayed by that much", n)
	}
	if mx := s.hist.percentile(100); mx < stall-10*time.Millisecond {
		t.Errorf("open loop max = %v, want about %v", mx, stall)
	}
	if s.LateSends < 50 {
		t.Errorf("open loop: %d late sends, want the ~100 the stall delayed", s.LateSends)
	}

	closed := &options{Mode: modeClosed, Duration: dur, Conns: 1, Streams: 1}
	s = run(context.Background(), closed, []sendFunc{stallingSender(50, stall)})
	if s.Requests < 1000 {
		t.Fatalf("closed loop: only %d requests", s.Requests)
	}
	if n := countFrom(s.hist, 40*time.Millisecond); n < 1 || n > 3 {
		t.Errorf("closed loop: %d requests took ≥ 40ms, want the one stalled (a hiccup or two of the machine aside)", n)
	}
}

// countFrom is how many values h holds in buckets from d up.
func countFrom(h *histogram, d time.Duration) uint64 {
	var n uint64
	for i := bucketIndex(int64(d)); i < len(h.counts); i++ {
		n += h.counts[i]
	}
	return n
}

// The warm-up is not counted: a sender failing during it leaves no trace.
func TestWarmupNotCounted(t *testing.T) {
	start := time.Now()
	failEarly := func(ctx context.Context) (int, error) {
		if time.Since(start) < 100*time.Millisecond {
			return 500, nil
		}
		return 204, nil
	}
	for _, mode := range []string{modeOpen, modeClosed} {
		start = time.Now()
		o := &options{Mode: mode, Duration: 200 * time.Millisecond, Warmup: 150 * time.Millisecond, Conns: 1, Streams: 1}
		if mode == modeOpen {
			o.Rate = 500
		}
		s := run(context.Background(), o, []sendFunc{failEarly})
		if s.Non2xx != 0 || s.OK == 0 || s.Status["204"] != s.OK {
			t.Errorf("%s: status %v, want only 204s", mode, s.Status)
		}
		if mode == modeOpen && s.Requests != 100 {
			t.Errorf("open: %d requests, want the 100 scheduled after the warm-up", s.Requests)
		}
	}
}

func TestMakeBody(t *testing.T) {
	for _, n := range []int{8, 9, 1024, 65536} {
		b := makeBody(n, "application/json")
		if len(b) != n || !json.Valid(b) {
			t.Errorf("makeBody(%d, json) = %d bytes, valid JSON %v", n, len(b), json.Valid(b))
		}
	}
	if b := makeBody(5, "application/json"); string(b) != "xxxxx" {
		t.Errorf("makeBody(5) = %q", b)
	}
	if b := makeBody(0, "text/plain"); b != nil {
		t.Errorf("makeBody(0) = %q, want nil", b)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-url", "http://127.0.0.1:1/", "-mode", "open"},
		{"-url", "http://127.0.0.1:1/", "-rate", "10"},
		{"-url", "http://127.0.0.1:1/", "-streams", "2"},
		{"-url", "http://127.0.0.1:1/", "-proto", "h3"},
		{"-url", "http://127.0.0.1:1/", "-conns", "0"},
		{"-url", "http://127.0.0.1:1/", "-H", "novalue"},
	} {
		if err := mainErr(args, io.Discard, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// The generator against an httptest server, ~1 s per case, each mode on
// each protocol: the counts add up, the server saw the protocol, the body
// and no more connections than asked for, and the open loop keeps its rate.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator for seconds")
	}
	const body = 1024
	for _, proto := range []string{protoHTTP1, protoH2C} {
		for _, mode := range []string{modeClosed, modeOpen} {
			t.Run(proto+"/"+mode, func(t *testing.T) {
				var served, wrongProto, wrongBody atomic.Int64
				var mu sync.Mutex
				conns := map[net.Conn]bool{}
				srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					n := served.Add(1)
					if want := map[string]int{protoHTTP1: 1, protoH2C: 2}[proto]; r.ProtoMajor != want {
						wrongProto.Add(1)
					}
					b, _ := io.ReadAll(r.Body)
					if len(b) != body || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Bench") != "1" || r.Host != "ingest.test" {
						wrongBody.Add(1)
					}
					if n%10 == 0 {
						w.WriteHeader(http.StatusServiceUnavailable)
						return
					}
					w.Write([]byte(`{"message":"message sent"}`))
				}))
				srv.Config.Protocols = new(http.Protocols)
				srv.Config.Protocols.SetHTTP1(true)
				srv.Config.Protocols.SetUnencryptedHTTP2(true)
				srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
					if s == http.StateNew {
						mu.Lock()
						conns[c] = true
						mu.Unlock()
					}
				}
				srv.Start()
				defer srv.Close()

				out := filepath.Join(t.TempDir(), "summary.json")
				args := []string{"-url", srv.URL + "/orders", "-size", fmt.Sprint(body), "-proto", proto, "-conns", "4",
					"-mode", mode, "-duration", "800ms", "-warmup", "200ms", "-H", "X-Bench: 1", "-host", "ingest.test", "-out", out}
				const rate = 400
				if mode == modeOpen {
					args = append(args, "-rate", fmt.Sprint(rate))
				}
				var stderr strings.Builder
				if err := mainErr(args, io.Discard, &stderr); err != nil {
					t.Fatalf("loadgen: %v\n%s", err, stderr.String())
				}
				t.Log(strings.TrimSpace(stderr.String()))
				js, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				var s summary
				if err := json.Unmarshal(js, &s); err != nil {
					t.Fatalf("summary: %v\n%s", err, js)
				}

				defer func() {
					if t.Failed() {
						t.Logf("summary:\n%s", js)
					}
				}()
				if s.Requests == 0 || s.Requests != s.OK+s.Others || s.Others != s.Non2xx+s.Errors {
					t.Errorf("requests %d, 2xx %d, others %d (non-2xx %d, errors %d): do not add up", s.Requests, s.OK, s.Others, s.Non2xx, s.Errors)
				}
				var byStatus uint64
				for _, n := range s.Status {
					byStatus += n
				}
				if byStatus != s.OK+s.Non2xx || s.Status["200"] != s.OK || s.Status["503"] != s.Non2xx {
					t.Errorf("status %v vs 2xx %d non-2xx %d", s.Status, s.OK, s.Non2xx)
				}
				if s.Errors != 0 {
					t.Errorf("%d errors: %q", s.Errors, s.ErrorSample)
				}
				// Every tenth reply is a 503, warm-up included.
				if frac := float64(s.Non2xx) / float64(s.Requests); frac < 0.07 || frac > 0.13 {
					t.Errorf("503s are %.2f of the replies, want 0.1", frac)
				}
				if n := uint64(served.Load()); n < s.Requests {
					t.Errorf("server served %d, fewer than the %d counted", n, s.Requests)
				}
				if n := wrongProto.Load(); n != 0 {
					t.Errorf("%d requests not over %s", n, proto)
				}
				if n := wrongBody.Load(); n != 0 {
					t.Errorf("%d requests without the body, content-type, host or extra header", n)
				}
				mu.Lock()
				nconns := len(conns)
				mu.Unlock()
				if nconns != 4 || s.Dials != 4 {
					t.Errorf("server saw %d connections, loadgen dialled %d; want 4 kept alive", nconns, s.Dials)
				}
				if s.Latency.P50 <= 0 || s.Latency.P50 > s.Latency.P99 || s.Latency.P99 > s.Latency.Max {
					t.Errorf("latency %+v not ordered", s.Latency)
				}
				if mode == modeOpen {
					if want := uint64(rate * 0.8); s.Requests < want-1 || s.Requests > want+1 {
						t.Errorf("open loop counted %d requests, want the %d scheduled in 800ms", s.Requests, want)
					}
					if s.ThroughputRPS < rate*0.8 || s.ThroughputRPS > rate*1.2 {
						t.Errorf("open loop throughput %.0f req/s, want %d ± 20%%", s.ThroughputRPS, rate)
					}
				}
			})
		}
	}
}

// h2c with -streams 4 on 2 connections: 8 requests in flight on the 2
// connections, multiplexed.
func TestH2CStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	var inFlight, most atomic.Int64
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(5 * time.Millisecond)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns[c] = true
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	var stdout, stderr strings.Builder
	err := mainErr([]string{"-url", srv.URL, "-proto", "h2c", "-conns", "2", "-streams", "4", "-duration", "300ms", "-warmup", "50ms"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("loadgen: %v\n%s", err, stderr.String())
	}
	var s summary
	if err := json.Unmarshal([]byte(stdout.String()), &s); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 2 || s.Dials != 2 || most.Load() < 5 || s.OK != s.Requests || s.Requests == 0 {
		t.Errorf("%d connections (%d dialled), at most %d requests in flight (want up to 8), %d of %d 2xx\n%s",
			len(conns), s.Dials, most.Load(), s.OK, s.Requests, stderr.String())
	}
}
