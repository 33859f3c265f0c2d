package producer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// Publish writes records and returns once the brokers acknowledged all of
// them or gave up, with one result per record, indexed like records. A
// failed record's Err is an *Error. The caller bounds the wait through ctx.
//
// Failures Kafka calls retriable (leader changes, not enough replicas, a
// topic being created, …) are retried until ctx ends, as a Java producer
// does until delivery.timeout.ms. Connection failures are tried
// maxNetworkAttempts times only: when the cluster is unreachable, clients
// learn it in well under a second instead of at the deadline. Only the
// records not yet acknowledged are written again.
func (p *Producer) Publish(ctx context.Context, records []message.Record) []message.Result {
	if publishingDisabled {
		return pretendPublished(records)
	}
	call := &publishCall{results: make([]message.Result, len(records)), acked: make([]bool, len(records))}
	msgs := make([]kafka.Message, len(records))
	for i, r := range records {
		call.results[i] = message.Result{Topic: r.Topic, Partition: message.AnyPartition, Offset: -1}
		msgs[i] = kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: kafkaHeaders(r.Headers),
			WriterData: &slot{call: call, index: i, partition: r.Partition}}
	}
	fail := func(msgs []kafka.Message, err *Error) []message.Result {
		if err.Reason == AuthFailed || err.Reason == TLSFailed {
			p.forgetFailedConnections()
		}
		return call.finish(msgs, err, p.acks)
	}
	if err := p.checkSizes(records); err != nil {
		return fail(msgs, err)
	}
	if err := p.checkTargets(ctx, records); err != nil {
		return fail(msgs, err)
	}
	networkFailures := 0
	for attempt := 0; ; attempt++ {
		err := p.writer.WriteMessages(ctx, msgs...)
		if err == nil {
			return call.finish(nil, nil, p.acks)
		}
		var cause error
		msgs, cause = unacknowledged(msgs, err)
		// A bare error (the deadline, say) may come after some batches were
		// acknowledged: those are done, whatever the error says.
		msgs = call.pending(msgs)
		if len(msgs) == 0 {
			return call.finish(nil, nil, p.acks)
		}
		reason := classify(ctx, cause)
		if reason != Unavailable || !retriable(cause) {
			return fail(msgs, &Error{Reason: reason, Err: err})
		}
		if isNetwork(cause) {
			if networkFailures++; networkFailures >= maxNetworkAttempts {
				return fail(msgs, &Error{Reason: Unavailable, Err: err})
			}
		}
		select {
		case <-ctx.Done():
			return fail(msgs, &Error{Reason: classify(ctx, ctx.Err()), Err: fmt.Errorf("%w; last error: %v", ctx.Err(), cause)})
		case <-time.After(backoff(attempt)):
		}
	}
}

// forgetFailedConnections drops the transport's connection pools after an
// authentication or TLS failure. kafka-go keeps a pool's failure and
// answers from it until its next metadata refresh; dropped, the next
// request dials again and so reads a rotated password, token or client
// certificate at once. At most once a second, so that a password that stays
// wrong does not make every request a login attempt at the broker.
func (p *Producer) forgetFailedConnections() {
	now := time.Now().UnixNano()
	last := p.lastForget.Load()
	if now-last < int64(time.Second) || !p.lastForget.CompareAndSwap(last, now) {
		return
	}
	p.transport.CloseIdleConnections()
}

// publishCall collects where the records of one Publish went. kafka-go's
// Completion fills it from its own goroutines, and a write abandoned at the
// deadline may complete after Publish returned: hence the lock.
type publishCall struct {
	mu       sync.Mutex
	results  []message.Result
	acked    []bool
	finished bool
}

// pending returns the messages of msgs not acknowledged yet.
func (c *publishCall) pending(msgs []kafka.Message) []kafka.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	left := msgs[:0:0]
	for _, m := range msgs {
		if !c.acked[m.WriterData.(*slot).index] {
			left = append(left, m)
		}
	}
	return left
}

// slot is a message's kafka.Message.WriterData: its place in a call, and
// the partition the client named (message.AnyPartition if none).
type slot struct {
	call      *publishCall
	index     int
	partition int
}

func kafkaHeaders(hs []message.RecordHeader) []kafka.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]kafka.Header, len(hs))
	for i, h := range hs {
		out[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// recordCompletion is the Writer's Completion: it runs once per batch
// attempt, before the WriteMessages waiting for that batch returns.
func recordCompletion(msgs []kafka.Message, err error) {
	if err != nil {
		return
	}
	for _, m := range msgs {
		s, ok := m.WriterData.(*slot)
		if !ok {
			continue
		}
		s.call.mu.Lock()
		if !s.call.finished {
			r := &s.call.results[s.index]
			r.Partition, r.Offset, r.Err = m.Partition, m.Offset, nil
			s.call.acked[s.index] = true
		}
		s.call.mu.Unlock()
	}
}

// finish marks failed the messages left unacknowledged and freezes the
// results. With acks=0 the broker sends no offsets.
func (c *publishCall) finish(failed []kafka.Message, err *Error, acks int) []message.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finished = true
	for _, m := range failed {
		i := m.WriterData.(*slot).index
		if c.acked[i] {
			continue
		}
		r := &c.results[i]
		r.Partition, r.Offset, r.Err = message.AnyPartition, -1, err
	}
	if acks == 0 {
		for i := range c.results {
			c.results[i].Offset = -1
		}
	}
	return c.results
}

// FirstError returns the first failed result's error, or nil.
func FirstError(results []message.Result) error {
	for _, r := range results {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// maxNetworkAttempts bounds the tries that fail to reach a broker at all.
const maxNetworkAttempts = 3

// backoff is the pause after failed attempt n (0-based): 100 ms doubling,
// at most 1 s.
func backoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(n, 4)
	return min(d, time.Second)
}

// unacknowledged returns the messages a failed write left unwritten and the
// error that decides what to do: kafka-go reports one error per message
// (WriteErrors, indexed like the input), or one error for the whole write.
func unacknowledged(msgs []kafka.Message, err error) ([]kafka.Message, error) {
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
		return msgs, err
	}
	var left []kafka.Message
	var cause error
	for i, e := range werrs {
		if e != nil {
			left = append(left, msgs[i])
			if cause == nil {
				cause = e
			}
		}
	}
	return left, cause
}

// Check refuses records Publish would refuse before writing anything (too
// large for batching.bytes, a topic or partition that does not exist),
// from the producer's cached metadata: the async path answers these
// before accepting a request.
func (p *Producer) Check(ctx context.Context, records []message.Record) error {
	if publishingDisabled {
		return nil
	}
	if err := p.checkSizes(records); err != nil {
		return err
	}
	if err := p.checkTargets(ctx, records); err != nil {
		return err
	}
	return nil
}
