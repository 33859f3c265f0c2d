package metrics

// Envoy stats from a module cost a call across the ABI (and a lock in
// Envoy) each: rather than one per request, the in-process adapters Flush
// the Set now and then (every FlushEvery) into their Envoy stats, adding
// what each counter gained since the last Flush and setting the gauges.
// Stats of one name are one stat in Envoy, whichever config defined them,
// so one Flush per process, through any live config's handles, is right.

import "time"

// FlushEvery is how often the in-process adapters flush: stats lag behind
// by at most this much, well under any scrape interval.
const FlushEvery = time.Second

// Counter names a counter of the Envoy stats.
type Counter uint8

// The counters; each has one label (LabelOf).
const (
	Requests Counter = iota
	RecordsSent
	BytesSent
	RecordsLost
)

// Gauge names a gauge of the Envoy stats; gauges have no label.
type Gauge uint8

// The gauges.
const (
	RequestsInFlight Gauge = iota
	AsyncBufferRecords
	AsyncBufferBytes
)

// Counters and Gauges list them all, for exporters that define stats ahead.
var (
	Counters = [...]Counter{Requests, RecordsSent, BytesSent, RecordsLost}
	Gauges   = [...]Gauge{RequestsInFlight, AsyncBufferRecords, AsyncBufferBytes}
)

func (c Counter) String() string {
	return [...]string{"requests", "records_sent", "bytes_sent", "records_lost"}[c]
}

// Label is the name of c's one label: "outcome" or "topic".
func (c Counter) Label() string {
	if c == Requests {
		return "outcome"
	}
	return "topic"
}

func (g Gauge) String() string {
	return [...]string{"requests_in_flight", "async_buffer_records", "async_buffer_bytes"}[g]
}

// Sink receives a Flush: an adapter's handles on its Envoy stats.
type Sink interface {
	// AddCounter adds delta (> 0) to counter c's series for label value
	// label (an outcome name or a topic).
	AddCounter(c Counter, label string, delta uint64)
	// SetGauge sets gauge g.
	SetGauge(g Gauge, value uint64)
}

// Buffered is the state of the async buffers of the process (the
// producer package's totals), which the Set does not hold itself.
type Buffered struct {
	Records, Bytes uint64
}

type flushState struct {
	requests [outcomeCount]uint64
	topics   map[string][3]uint64 // sent, bytes, lost
}

// Flush exports into sink what the Set gained since the last Flush, and
// the gauges. Flushes are serialised; a nil Set flushes nothing.
func (s *Set) Flush(sink Sink, buffered Buffered) {
	if s == nil {
		return
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	last := &s.flushed
	for o := range s.requests {
		now := s.requests[o].Load()
		if d := now - last.requests[o]; d > 0 {
			sink.AddCounter(Requests, outcomeNames[o], d)
			last.requests[o] = now
		}
	}
	if last.topics == nil {
		last.topics = map[string][3]uint64{}
	}
	s.Topics(func(topic string, c *TopicCounts) {
		now := [3]uint64{c.RecordsSent.Load(), c.BytesSent.Load(), c.RecordsLost.Load()}
		was := last.topics[topic]
		for i, counter := range []Counter{RecordsSent, BytesSent, RecordsLost} {
			if d := now[i] - was[i]; d > 0 {
				sink.AddCounter(counter, topic, d)
			}
		}
		last.topics[topic] = now
	})
	inFlight := s.inFlight.Load()
	if inFlight < 0 { // Done before Start can only be a bug; never wrap
		inFlight = 0
	}
	sink.SetGauge(RequestsInFlight, uint64(inFlight))
	sink.SetGauge(AsyncBufferRecords, buffered.Records)
	sink.SetGauge(AsyncBufferBytes, buffered.Bytes)
}
