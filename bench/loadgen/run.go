package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// options is one run's settings (mainErr fills them from the flags).
type options struct {
	URL         string
	Method      string
	Body        []byte
	ContentType string
	Host        string // the Host header / :authority, when not the URL's
	Header      http.Header
	Proto       string // protoHTTP1 or protoH2C
	Conns       int
	Streams     int // concurrent requests per connection (h2c only)
	Mode        string
	Rate        float64 // requests per second in all, open loop
	Duration    time.Duration
	Warmup      time.Duration
	Timeout     time.Duration
	// Kafka, when set, is the brokers to publish to directly, instead of
	// HTTP requests to URL; KafkaConfig the server config with the record
	// and writer settings (kafka.go).
	Kafka       string
	KafkaConfig string
}

const (
	protoHTTP1 = "http1"
	protoH2C   = "h2c"
	modeOpen   = "open"
	modeClosed = "closed"
)

func (o *options) check() error {
	switch {
	case o.URL == "" && o.Kafka == "":
		return errors.New("-url (or -kafka) is required")
	case o.Kafka != "" && o.KafkaConfig == "":
		return errors.New("-kafka needs -kafka-config (the ext_proc server's config file)")
	case o.Kafka != "" && o.Streams > 1:
		return errors.New("-streams applies to HTTP only")
	case o.Proto != protoHTTP1 && o.Proto != protoH2C:
		return fmt.Errorf("-proto %q: want %s or %s", o.Proto, protoHTTP1, protoH2C)
	case o.Mode != modeOpen && o.Mode != modeClosed:
		return fmt.Errorf("-mode %q: want %s or %s", o.Mode, modeOpen, modeClosed)
	case o.Mode == modeOpen && o.Rate <= 0:
		return errors.New("-mode open needs -rate > 0 (requests per second, all connections together)")
	case o.Mode == modeClosed && o.Rate > 0:
		return errors.New("-rate applies to -mode open only")
	case o.Conns < 1:
		return errors.New("-conns must be at least 1")
	case o.Streams < 1:
		return errors.New("-streams must be at least 1")
	case o.Streams > 1 && o.Proto != protoH2C:
		return errors.New("-streams > 1 needs -proto h2c (an HTTP/1.1 connection carries one request at a time)")
	case o.Duration <= 0:
		return errors.New("-duration must be positive")
	case o.Warmup < 0:
		return errors.New("-warmup must not be negative")
	}
	return nil
}

// sendFunc sends one request and returns its status, or the error that
// kept it from having one (connecting, a timeout, a reset).
type sendFunc func(ctx context.Context) (status int, err error)

// schedule is the open loop's timetable: request i (counting from 0, over
// warm-up and measurement) is meant to be sent at start + i/rate, whenever
// a connection is free to send it. Computed from i, not by adding
// intervals, so it does not drift.
type schedule struct {
	start    time.Time
	interval float64 // nanoseconds
}

func newSchedule(start time.Time, rate float64) schedule {
	return schedule{start: start, interval: float64(time.Second) / rate}
}

func (s schedule) at(i int64) time.Time {
	return s.start.Add(time.Duration(float64(i) * s.interval))
}

// workerStats is what one worker saw; merged at the end.
type workerStats struct {
	hist     *histogram
	status   map[int]uint64
	errors   uint64
	samples  []string // the first distinct error messages
	lastDone time.Time
	// Open loop: how far behind its intended time each send started, and
	// how many sends were more than lateAfter behind.
	lag  *histogram
	late uint64
	// every2xx counts 2xx replies of the whole run, warm-up included: what
	// a topic grows by.
	every2xx uint64
}

// lateAfter is how far behind its intended time a send may start before
// it counts as late: the generator (or the connections) not keeping up.
const lateAfter = time.Millisecond

const maxSamples = 5

func newWorkerStats() *workerStats {
	return &workerStats{hist: newHistogram(), lag: newHistogram(), status: map[int]uint64{}}
}

func (w *workerStats) add(status int, err error, latency time.Duration, done time.Time) {
	w.hist.record(latency)
	if done.After(w.lastDone) {
		w.lastDone = done
	}
	if err != nil {
		w.errors++
		if len(w.samples) < maxSamples {
			msg := err.Error()
			for _, s := range w.samples {
				if s == msg {
					return
				}
			}
			w.samples = append(w.samples, msg)
		}
		return
	}
	w.status[status]++
}

func (w *workerStats) count2xx(status int, err error) {
	if err == nil && status >= 200 && status < 300 {
		w.every2xx++
	}
}

// run drives senders (one per worker) for o.Warmup + o.Duration and
// summarises the requests meant to be sent (open loop) or sent (closed
// loop) after the warm-up. In the open loop latency runs from the
// intended send time, so a stalled server is charged for every request
// it delayed (no coordinated omission); in the closed loop from the
// actual send time.
func run(ctx context.Context, o *options, senders []sendFunc) *summary {
	start := time.Now()
	measureFrom := start.Add(o.Warmup)
	end := measureFrom.Add(o.Duration)

	stats := make([]*workerStats, len(senders))
	var wg sync.WaitGroup
	var tokens chan time.Time
	if o.Mode == modeOpen {
		tokens = make(chan time.Time, len(senders))
		wg.Go(func() { dispatch(ctx, newSchedule(start, o.Rate), end, tokens) })
	}
	for k, send := range senders {
		st := newWorkerStats()
		stats[k] = st
		wg.Go(func() {
			if o.Mode == modeOpen {
				openLoop(ctx, send, st, tokens, measureFrom)
			} else {
				closedLoop(ctx, send, st, measureFrom, end)
			}
		})
	}
	wg.Wait()
	return summarise(o, stats, measureFrom)
}

// dispatch hands out the open loop's intended send times, each when it
// comes, to whichever worker is free, until end (then it closes tokens).
// When every worker is busy it blocks, and then hands out the overdue
// times at once: a request's intended time never moves. One goroutine
// keeps time, on a thread of its own (waitUntil), so that the workers
// need no timer.
func dispatch(ctx context.Context, sched schedule, end time.Time, tokens chan<- time.Time) {
	defer close(tokens)
	lockThread()
	for i := int64(0); ctx.Err() == nil; i++ {
		intended := sched.at(i)
		if !intended.Before(end) {
			return
		}
		if !waitUntil(ctx, intended) {
			return
		}
		select {
		case tokens <- intended:
		case <-ctx.Done():
			return
		}
	}
}

func openLoop(ctx context.Context, send sendFunc, st *workerStats, tokens <-chan time.Time, measureFrom time.Time) {
	for intended := range tokens {
		if ctx.Err() != nil {
			return
		}
		sent := time.Now()
		status, err := send(ctx)
		done := time.Now()
		st.count2xx(status, err)
		if intended.Before(measureFrom) {
			continue
		}
		lag := sent.Sub(intended)
		st.lag.record(lag)
		if lag > lateAfter {
			st.late++
		}
		st.add(status, err, done.Sub(intended), done)
	}
}

func closedLoop(ctx context.Context, send sendFunc, st *workerStats, measureFrom, end time.Time) {
	for ctx.Err() == nil {
		sent := time.Now()
		if !sent.Before(end) {
			return
		}
		status, err := send(ctx)
		done := time.Now()
		st.count2xx(status, err)
		if sent.Before(measureFrom) {
			continue
		}
		st.add(status, err, done.Sub(sent), done)
	}
}

// summary is the JSON the generator prints.
type summary struct {
	URL        string            `json:"url"`
	Method     string            `json:"method"`
	Proto      string            `json:"proto"`
	Mode       string            `json:"mode"`
	Conns      int               `json:"conns"`
	Streams    int               `json:"streams_per_conn"`
	TargetRate float64           `json:"target_rate_rps,omitempty"`
	BodyBytes  int               `json:"body_bytes"`
	DurationS  float64           `json:"duration_s"`
	WarmupS    float64           `json:"warmup_s"`
	Requests   uint64            `json:"requests"`
	OK         uint64            `json:"2xx"`
	Others     uint64            `json:"others"` // non_2xx + errors
	Non2xx     uint64            `json:"non_2xx"`
	Errors     uint64            `json:"errors"`
	Status     map[string]uint64 `json:"status"`
	// Every2xx: every 2xx reply of the run, the warm-up's included; what
	// the topic should have grown by.
	Every2xx    uint64   `json:"every_2xx"`
	ErrorSample []string `json:"error_samples,omitempty"`
	// ElapsedS runs from the end of the warm-up to the end of the window
	// or, if later, the last reply to a request counted; ThroughputRPS is
	// Requests over it. Latency covers every request counted, errors
	// included (until they failed); from the intended send time in the
	// open loop, from the actual one in the closed loop.
	ElapsedS      float64   `json:"elapsed_s"`
	ThroughputRPS float64   `json:"throughput_rps"`
	Latency       latencyMS `json:"latency_ms"`
	// Open loop: how far behind its intended time each send started
	// (the generator's timer slack, or every connection busy: the server
	// not keeping up), and how many were over 1 ms behind. The lag is
	// part of the latencies.
	SendLag   *lagMS `json:"send_lag_ms,omitempty"`
	LateSends uint64 `json:"late_sends,omitempty"`
	Dials     int64  `json:"dials"`
	// CDF: the latency (ms) at each of cdfPercentiles, for charts.
	CDF  []cdfPoint `json:"cdf"`
	hist *histogram
}

type lagMS struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type latencyMS struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

type cdfPoint struct {
	Percentile float64 `json:"p"`
	LatencyMS  float64 `json:"ms"`
}

// cdfPercentiles are where a latency CDF is sampled: every percent, then
// ever closer to the tail, which is where the scenarios differ.
var cdfPercentiles = func() []float64 {
	var ps []float64
	for p := 1.0; p < 99; p++ {
		ps = append(ps, p)
	}
	return append(ps, 99, 99.5, 99.9, 99.95, 99.99, 100)
}()

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func summarise(o *options, stats []*workerStats, measureFrom time.Time) *summary {
	s := &summary{
		URL: o.URL, Method: o.Method, Proto: o.Proto, Mode: o.Mode, Conns: o.Conns, Streams: o.Streams,
		TargetRate: o.Rate, BodyBytes: len(o.Body), DurationS: o.Duration.Seconds(), WarmupS: o.Warmup.Seconds(),
		Status: map[string]uint64{}, hist: newHistogram(),
	}
	var last time.Time
	lag := newHistogram()
	for _, st := range stats {
		s.hist.merge(st.hist)
		lag.merge(st.lag)
		s.Errors += st.errors
		for code, n := range st.status {
			s.Status[strconv.Itoa(code)] += n
			if code >= 200 && code < 300 {
				s.OK += n
			} else {
				s.Non2xx += n
			}
		}
		for _, m := range st.samples {
			if len(s.ErrorSample) < maxSamples && !contains(s.ErrorSample, m) {
				s.ErrorSample = append(s.ErrorSample, m)
			}
		}
		if st.lastDone.After(last) {
			last = st.lastDone
		}
		s.LateSends += st.late
		s.Every2xx += st.every2xx
	}
	s.Requests = s.hist.n
	s.Others = s.Non2xx + s.Errors
	// The window, or longer when replies to its requests came after it.
	elapsed := max(o.Duration, last.Sub(measureFrom))
	s.ElapsedS = elapsed.Seconds()
	s.ThroughputRPS = float64(s.Requests) / elapsed.Seconds()
	h := s.hist
	s.Latency = latencyMS{
		Min: ms(h.minimum()), Mean: ms(h.mean()),
		P50: ms(h.percentile(50)), P90: ms(h.percentile(90)), P99: ms(h.percentile(99)),
		P999: ms(h.percentile(99.9)), Max: ms(h.percentile(100)),
	}
	for _, p := range cdfPercentiles {
		s.CDF = append(s.CDF, cdfPoint{Percentile: p, LatencyMS: ms(h.percentile(p))})
	}
	if o.Mode == modeOpen {
		s.SendLag = &lagMS{P50: ms(lag.percentile(50)), P99: ms(lag.percentile(99)), Max: ms(lag.percentile(100))}
	}
	return s
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// line is the one-line human summary.
func (s *summary) line() string {
	mode := "closed loop"
	if s.Mode == modeOpen {
		mode = fmt.Sprintf("open loop at %g req/s", s.TargetRate)
	}
	codes := make([]string, 0, len(s.Status))
	for c := range s.Status {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	var byCode bytes.Buffer
	for _, c := range codes {
		fmt.Fprintf(&byCode, " %s:%d", c, s.Status[c])
	}
	late := ""
	if s.SendLag != nil {
		late = fmt.Sprintf("; send lag p50 %.3fms p99 %.3fms max %.3fms, %d sends over 1ms late", s.SendLag.P50, s.SendLag.P99, s.SendLag.Max, s.LateSends)
	}
	return fmt.Sprintf("%s %s, %d conns×%d: %d requests in %.2fs = %.0f req/s; 2xx %d, others %d (errors %d; status%s); latency p50 %.3fms p90 %.3fms p99 %.3fms p99.9 %.3fms max %.3fms%s",
		s.Proto, mode, s.Conns, s.Streams, s.Requests, s.ElapsedS, s.ThroughputRPS, s.OK, s.Others, s.Errors, byCode.String(),
		s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.P999, s.Latency.Max, late)
}

// httpSenders opens o.Conns keep-alive connections' worth of clients (each
// its own transport, limited to one connection, HTTP/1.1 or h2c with prior
// knowledge) and returns o.Streams senders per connection, with a count of
// the connections dialled (more than o.Conns: the server closed some).
func httpSenders(o *options) ([]sendFunc, *atomic.Int64, func()) {
	var dials atomic.Int64
	dialer := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
	var transports []*http.Transport
	var senders []sendFunc
	for range o.Conns {
		protocols := new(http.Protocols)
		if o.Proto == protoH2C {
			protocols.SetUnencryptedHTTP2(true)
		} else {
			protocols.SetHTTP1(true)
		}
		tr := &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return dialer.DialContext(ctx, network, addr)
			},
			MaxConnsPerHost:     1,
			MaxIdleConns:        1,
			MaxIdleConnsPerHost: 1,
			DisableCompression:  true,
			Protocols:           protocols,
		}
		transports = append(transports, tr)
		client := &http.Client{
			Transport: tr,
			Timeout:   o.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
		for range o.Streams {
			senders = append(senders, newSender(o, client))
		}
	}
	closeAll := func() {
		for _, tr := range transports {
			tr.CloseIdleConnections()
		}
	}
	return senders, &dials, closeAll
}

func newSender(o *options, client *http.Client) sendFunc {
	header := o.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if o.ContentType != "" && len(o.Body) > 0 {
		header.Set("Content-Type", o.ContentType)
	}
	return func(ctx context.Context) (int, error) {
		var body io.Reader = http.NoBody
		if len(o.Body) > 0 {
			body = bytes.NewReader(o.Body)
		}
		req, err := http.NewRequestWithContext(ctx, o.Method, o.URL, body)
		if err != nil {
			return 0, err
		}
		req.Header = header.Clone()
		if o.Host != "" {
			req.Host = o.Host
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	}
}
