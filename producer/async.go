package producer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// Async delivery (issue 10, groundwork: not reachable from a config yet).
// A request's records are accepted into a bounded buffer and the client is
// answered at once; each accepted request is published in the background,
// retried as Publish retries, until its own delivery deadline. Nothing
// is dropped silently: a record that cannot be delivered by its deadline,
// or is still buffered when the flush on Close runs out, is counted as
// lost and reported to the caller's callback.

// AsyncLimits bound the buffer and say how long records may take.
type AsyncLimits struct {
	// Records and Bytes: the most records, and record bytes (recordSize),
	// accepted and not yet acknowledged or given up.
	Records int
	Bytes   int64
	// DeliveryTimeout: how long one request's records are retried.
	DeliveryTimeout time.Duration
	// FlushTimeout: how long Close waits for the buffer to drain.
	FlushTimeout time.Duration
	// HealthGating: after a delivery failed, and until one succeeds,
	// Accept refuses with ErrUnhealthy but for one request a second (the
	// probe that finds the cluster back).
	HealthGating bool
}

// ErrUnhealthy is Accept's answer while the cluster is failing (health
// gating): records accepted now would most likely not be delivered.
var ErrUnhealthy = errors.New("the Kafka cluster is failing: not buffering new records")

// probeEvery is how often a failing cluster is given one request.
const probeEvery = time.Second

// ErrBufferFull is Accept's answer when the records do not fit: nothing
// of the request was accepted.
var ErrBufferFull = errors.New("the async buffer is full")

// ErrBufferClosed is Accept's answer once Close began.
var ErrBufferClosed = errors.New("the async buffer is closed")

// AsyncBuffer holds the accepted records of one producer.
type AsyncBuffer struct {
	p      *Producer
	limits AsyncLimits

	mu      sync.Mutex
	records int
	bytes   int64
	closed  bool

	inflight sync.WaitGroup
	// ctx ends every delivery still running when the flush times out.
	ctx    context.Context
	cancel context.CancelFunc

	delivered, lost atomic.Int64
	// failing: the last delivery to settle failed; lastProbe (UnixNano)
	// the last request let through since.
	failing   atomic.Bool
	lastProbe atomic.Int64
}

// NewAsyncBuffer is a buffer publishing through p.
func NewAsyncBuffer(p *Producer, limits AsyncLimits) *AsyncBuffer {
	ctx, cancel := context.WithCancel(context.Background())
	return &AsyncBuffer{p: p, limits: limits, ctx: ctx, cancel: cancel}
}

// Accept takes all of records or none. When it returns nil, the records
// are published in the background and done is called once with their
// results (an undelivered record's Err set) when they are acknowledged or
// given up.
func (b *AsyncBuffer) Accept(records []message.Record, done func([]message.Result)) error {
	if b.limits.HealthGating && b.failing.Load() && !b.probe() {
		return ErrUnhealthy
	}
	var size int64
	for _, r := range records {
		size += recordSize(r)
	}
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return ErrBufferClosed
	case b.records+len(records) > b.limits.Records || b.bytes+size > b.limits.Bytes:
		b.mu.Unlock()
		return ErrBufferFull
	}
	b.records += len(records)
	b.bytes += size
	b.inflight.Add(1)
	b.mu.Unlock()

	go b.deliver(records, size, done)
	return nil
}

func (b *AsyncBuffer) deliver(records []message.Record, size int64, done func([]message.Result)) {
	defer b.inflight.Done()
	ctx, cancel := context.WithTimeout(b.ctx, b.limits.DeliveryTimeout)
	results := b.p.Publish(ctx, records)
	cancel()
	var ok, failed int64
	clusterFailing := false
	for _, r := range results {
		if r.Err == nil {
			ok++
			continue
		}
		failed++
		var perr *Error
		if errors.As(r.Err, &perr) {
			switch perr.Reason {
			case Unavailable, Timeout, AuthFailed, TLSFailed:
				clusterFailing = true
			}
		}
	}
	b.delivered.Add(ok)
	b.lost.Add(failed)
	// Only the cluster's failures gate: a record the broker refused as
	// too large says nothing about the next one.
	b.failing.Store(clusterFailing)
	b.mu.Lock()
	b.records -= len(records)
	b.bytes -= size
	b.mu.Unlock()
	if done != nil {
		done(results)
	}
}

// probe reports whether a request may go through to a failing cluster:
// one a second.
func (b *AsyncBuffer) probe() bool {
	now := time.Now().UnixNano()
	last := b.lastProbe.Load()
	return now-last >= int64(probeEvery) && b.lastProbe.CompareAndSwap(last, now)
}

// Buffered is the records and bytes accepted and not yet settled.
func (b *AsyncBuffer) Buffered() (records int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.records, b.bytes
}

// Delivered and Lost count records acknowledged and given up.
func (b *AsyncBuffer) Delivered() int64 { return b.delivered.Load() }
func (b *AsyncBuffer) Lost() int64      { return b.lost.Load() }

// Close stops accepting, waits up to FlushTimeout for what is buffered,
// then ends the deliveries still running (their records count as lost)
// and returns the number of records lost in all.
func (b *AsyncBuffer) Close() int64 {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	drained := make(chan struct{})
	go func() { b.inflight.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(b.limits.FlushTimeout):
		b.cancel()
		<-drained
	}
	b.cancel()
	return b.lost.Load()
}
