package metrics

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
)

// recordingSink keeps what Flush exported: counters as totals by
// "name{label}", gauges by name.
type recordingSink struct {
	counters map[string]uint64
	gauges   map[string]uint64
	calls    int
}

func newSink() *recordingSink {
	return &recordingSink{counters: map[string]uint64{}, gauges: map[string]uint64{}}
}

func (r *recordingSink) AddCounter(c Counter, label string, delta uint64) {
	if delta == 0 {
		panic("AddCounter with 0")
	}
	r.calls++
	r.counters[fmt.Sprintf("%s{%s=%s}", c, c.Label(), label)] += delta
}

func (r *recordingSink) SetGauge(g Gauge, v uint64) { r.gauges[g.String()] = v }

func TestFlushAddsOnlyWhatChanged(t *testing.T) {
	s := New(nil)
	for range 3 {
		s.Start()
		s.Done("kafka_upstream_sent")
		s.Sent("events", 10)
	}
	s.Start() // still in flight at the flush
	s.Refused("kafka_upstream_method_not_allowed")
	s.Lost("audit")

	sink := newSink()
	s.Flush(sink, Buffered{Records: 7, Bytes: 700})
	want := map[string]uint64{
		"requests{outcome=sent}":               3,
		"requests{outcome=method_not_allowed}": 1,
		"records_sent{topic=events}":           3,
		"bytes_sent{topic=events}":             30,
		"records_lost{topic=audit}":            1,
	}
	if !maps.Equal(sink.counters, want) {
		t.Errorf("first flush: %v, want %v", sink.counters, want)
	}
	wantGauges := map[string]uint64{"requests_in_flight": 1, "async_buffer_records": 7, "async_buffer_bytes": 700}
	if !maps.Equal(sink.gauges, wantGauges) {
		t.Errorf("gauges: %v, want %v", sink.gauges, wantGauges)
	}

	// Nothing new: no counter call at all.
	calls := sink.calls
	s.Flush(sink, Buffered{})
	if sink.calls != calls {
		t.Errorf("a flush with nothing new made %d counter calls", sink.calls-calls)
	}
	s.Done("kafka_upstream_produce_failed_partly")
	s.Flush(sink, Buffered{})
	want["requests{outcome=partly_sent}"] = 1
	if !maps.Equal(sink.counters, want) {
		t.Errorf("after one more request: %v, want %v", sink.counters, want)
	}
	if sink.gauges["requests_in_flight"] != 0 || sink.gauges["async_buffer_records"] != 0 {
		t.Errorf("gauges not set back: %v", sink.gauges)
	}
}

// Counting from many goroutines while flushing loses nothing.
func TestConcurrentCountingAndFlushing(t *testing.T) {
	s := New(nil)
	sink := newSink()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 1000 {
				s.Start()
				s.Sent(fmt.Sprintf("t%d", g%2), 1)
				s.Done("kafka_upstream_sent")
			}
		})
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				s.Flush(sink, Buffered{})
			}
		}
	}()
	wg.Wait()
	close(done)
	s.Flush(sink, Buffered{})
	if got := sink.counters["requests{outcome=sent}"]; got != 8000 {
		t.Errorf("requests sent = %d, want 8000", got)
	}
	if a, b := sink.counters["records_sent{topic=t0}"], sink.counters["records_sent{topic=t1}"]; a != 4000 || b != 4000 {
		t.Errorf("records sent = %d + %d, want 4000 each", a, b)
	}
}

// A nil Set (a pipeline without metrics) takes every call and exports
// nothing: no counter, no gauge.
func TestNilSetCountsNothing(t *testing.T) {
	var s *Set
	s.Start()
	s.Done("kafka_upstream_sent")
	s.Sent("x", 1)
	s.Lost("x")
	s.Refused("x")
	s.Produce(0, true)
	sink := newSink()
	s.Flush(sink, Buffered{Records: 1, Bytes: 1})
	if sink.calls != 0 || len(sink.counters) != 0 || len(sink.gauges) != 0 {
		t.Errorf("a nil Set exported %v %v", sink.counters, sink.gauges)
	}
}

func TestOutcomeNames(t *testing.T) {
	names := map[string]bool{}
	for _, o := range Outcomes() {
		if names[o.String()] || o.String() == "" {
			t.Errorf("outcome %d: name %q empty or twice", o, o)
		}
		names[o.String()] = true
		if OutcomeOf("kafka_upstream_"+o.String()) != o {
			t.Errorf("OutcomeOf(%s) != %s", o, o)
		}
	}
	if got := OutcomeOf("something_else"); got != InternalError {
		t.Errorf("unknown details count as %s", got)
	}
	if len(slices.Collect(maps.Keys(names))) != int(outcomeCount) {
		t.Error("outcome list and names differ")
	}
}

// What the core adds to each request: Start, one Sent, Done.
func BenchmarkCountRequest(b *testing.B) {
	s := New(nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Start()
			s.Sent("events", 1024)
			s.Done("kafka_upstream_sent")
		}
	})
}
