// Package metrics counts what kafka-upstream does, in one host-agnostic
// place: requests by outcome, records and bytes sent and records lost per
// topic, requests in flight. The core (ingest) writes into a Set on the
// request path with atomic adds only; each adapter exports the Set where
// Envoy users look — Envoy stats (golang filter, dynamic module: Flush into
// a Sink) or Prometheus (the ext_proc server: a Collector).
package metrics

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Prefix starts every stat and metric name.
const Prefix = "kafka_upstream"

// Outcome is how a request ended: the reply's %RESPONSE_CODE_DETAILS%
// without its "kafka_upstream_" prefix, so that a stat and an access log
// line name it alike. Every *_partly reply (a fan-out of which some
// records were acknowledged) counts as PartlySent.
type Outcome uint8

// The outcomes, a stable list (the README's metrics table).
const (
	Sent Outcome = iota
	Accepted
	PartlySent
	BadBody
	BadTopic
	BadPartition
	BadEvent
	UnsupportedEvent
	TopicNotAllowed
	UnknownTopic
	UnknownPartition
	RecordTooLarge
	ProduceTimeout
	ProduceFailed
	AuthFailed
	TLSFailed
	Closed
	ClientGone
	BufferFull
	Unhealthy
	MethodNotAllowed
	Misconfigured
	InternalError
	SchemaMismatch
	RegistryUnavailable
	RegistryError
	SchemaNotFound
	outcomeCount
)

var outcomeNames = [outcomeCount]string{
	"sent", "accepted", "partly_sent", "bad_body", "bad_topic", "bad_partition", "bad_event",
	"unsupported_event", "topic_not_allowed", "unknown_topic", "unknown_partition", "record_too_large",
	"produce_timeout", "produce_failed", "auth_failed", "tls_failed", "closed", "client_gone",
	"buffer_full", "unhealthy", "method_not_allowed", "misconfigured", "internal_error",
	"schema_mismatch", "registry_unavailable", "registry_error", "schema_not_found",
}

var outcomeByName = func() map[string]Outcome {
	m := make(map[string]Outcome, outcomeCount)
	for o, name := range outcomeNames {
		m[name] = Outcome(o)
	}
	return m
}()

func (o Outcome) String() string { return outcomeNames[o] }

// Outcomes lists every outcome, for exporters that define stats ahead.
func Outcomes() []Outcome {
	out := make([]Outcome, outcomeCount)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// OutcomeOf maps a reply's details to its outcome; details the core does
// not produce count as InternalError (a test keeps the two lists in step).
func OutcomeOf(details string) Outcome {
	name := strings.TrimPrefix(details, "kafka_upstream_")
	if strings.HasSuffix(name, "_partly") {
		return PartlySent
	}
	if o, ok := outcomeByName[name]; ok {
		return o
	}
	return InternalError
}

// Observer takes the observations that only a histogram can hold (the
// ext_proc server's Prometheus histograms); Envoy stats from Go have none.
type Observer interface {
	// Produce is one synchronous publish: how long Kafka took, and
	// whether every record was acknowledged.
	Produce(took time.Duration, ok bool)
	// Record is the size of one record sent (key and value bytes).
	Record(bytes int)
}

// Set is what one process counts. The zero value is not usable: New.
// A nil *Set counts nothing, so tests and tools can leave it out.
type Set struct {
	requests [outcomeCount]atomic.Uint64
	inFlight atomic.Int64
	topics   sync.Map // topic → *TopicCounts
	observer Observer

	// flushed is what the last Flush exported (flush.go).
	flushMu sync.Mutex
	flushed flushState
}

// TopicCounts are one topic's counters.
type TopicCounts struct {
	// RecordsSent: records Kafka acknowledged (synchronously, or
	// delivered from the async buffer). BytesSent: their key and value
	// bytes, before compression.
	RecordsSent, BytesSent atomic.Uint64
	// RecordsLost: records accepted in async mode and not delivered.
	RecordsLost atomic.Uint64
}

// New is an empty Set; obs (may be nil) also gets every observation.
func New(obs Observer) *Set { return &Set{observer: obs} }

// Start counts a request in flight; Done ends it with its outcome.
func (s *Set) Start() {
	if s != nil {
		s.inFlight.Add(1)
	}
}

// Done counts a request that Start counted, by its reply's details.
func (s *Set) Done(details string) {
	if s == nil {
		return
	}
	s.inFlight.Add(-1)
	s.requests[OutcomeOf(details)].Add(1)
}

// Refused counts a request answered without going through the pipeline
// (CONNECT, a misconfigured route, a recovered panic): no Start.
func (s *Set) Refused(details string) {
	if s != nil {
		s.requests[OutcomeOf(details)].Add(1)
	}
}

// Sent counts a record Kafka acknowledged.
func (s *Set) Sent(topic string, bytes int) {
	if s == nil {
		return
	}
	t := s.topic(topic)
	t.RecordsSent.Add(1)
	t.BytesSent.Add(uint64(bytes))
	if s.observer != nil {
		s.observer.Record(bytes)
	}
}

// Lost counts a record accepted in async mode and not delivered.
func (s *Set) Lost(topic string) {
	if s != nil {
		s.topic(topic).RecordsLost.Add(1)
	}
}

// Produce passes one synchronous publish's duration to the Observer.
func (s *Set) Produce(took time.Duration, ok bool) {
	if s != nil && s.observer != nil {
		s.observer.Produce(took, ok)
	}
}

func (s *Set) topic(name string) *TopicCounts {
	if t, ok := s.topics.Load(name); ok {
		return t.(*TopicCounts)
	}
	t, _ := s.topics.LoadOrStore(name, &TopicCounts{})
	return t.(*TopicCounts)
}

// Requests is how many requests ended with o.
func (s *Set) Requests(o Outcome) uint64 { return s.requests[o].Load() }

// InFlight is how many requests are being handled.
func (s *Set) InFlight() int64 { return s.inFlight.Load() }

// Topics calls fn for every topic counted so far, in no order.
func (s *Set) Topics(fn func(topic string, c *TopicCounts)) {
	s.topics.Range(func(k, v any) bool {
		fn(k.(string), v.(*TopicCounts))
		return true
	})
}

// Topic is one topic's counters, zero when it has none yet.
func (s *Set) Topic(name string) (sent, bytes, lost uint64) {
	t, ok := s.topics.Load(name)
	if !ok {
		return 0, 0, 0
	}
	c := t.(*TopicCounts)
	return c.RecordsSent.Load(), c.BytesSent.Load(), c.RecordsLost.Load()
}
