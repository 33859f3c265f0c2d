// Package producer publishes records to Kafka with a segmentio/kafka-go
// Writer and classifies what went wrong, so adapters can answer with the
// right HTTP status. A Producer is built once per configuration and shared
// by all of its requests.
package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// Reason classifies a failed publish.
type Reason int

const (
	// Unavailable: the brokers could not be reached (after
	// maxNetworkAttempts tries), or refused the record for a reason that
	// retrying cannot fix (authorization, invalid record, …).
	Unavailable Reason = iota
	// TooLarge: the record exceeds batching.bytes; it was not sent.
	TooLarge
	// BrokerTooLarge: the broker refused the record as larger than its
	// (or the topic's) max.message.bytes.
	BrokerTooLarge
	// Timeout: no acknowledgement within produce_timeout. A write in
	// flight may still land (at-least-once): nobody is told.
	Timeout
	// Canceled: the caller gave up (the HTTP stream was reset).
	Canceled
	// Closed: the configuration was replaced and its producer closed.
	Closed
)

// Error is a failed publish with its reason and the underlying error.
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Producer publishes records and waits for the configured acknowledgements.
type Producer struct {
	writer    *kafka.Writer
	transport *kafka.Transport
	maxBytes  int64
	acks      int
}

// New builds a producer for cluster c with settings s. It opens no connection: kafka-go connects
// on the first write, so a config naming a broker that is down still loads,
// as with any Kafka client.
func New(c config.Cluster, s config.Producer, log *slog.Logger) *Producer {
	transport := &kafka.Transport{
		ClientID:    c.ClientID,
		DialTimeout: s.ProduceTimeout,
		// kafka-go serves metadata, and a failure to fetch it, from a cache
		// refreshed at random within this period (6 s by default): a short
		// one lets retries see a new partition leader, or a cluster back
		// from an outage, sooner, for one small request a second.
		MetadataTTL: time.Second,
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(c.Brokers...),
		// murmur2 on the key, as Java clients do, so keyed records land
		// where a Java producer would put them; keyless records are spread.
		Balancer: &kafka.Murmur2Balancer{},
		// kafka-go defaults that are wrong for a synchronous gateway:
		// a 1 s batch timeout would delay every reply by a second, and
		// RequiredAcks would default to none.
		BatchTimeout: s.BatchTimeout,
		BatchSize:    s.BatchSize,
		BatchBytes:   s.BatchBytes,
		RequiredAcks: kafka.RequiredAcks(s.RequiredAcks),
		// One attempt per write: Publish retries, within its request's
		// deadline. kafka-go's own retries (10 by default) go on after the
		// request was answered, and queue every later batch of the
		// partition behind the failing one.
		MaxAttempts:            1,
		ReadTimeout:            s.ProduceTimeout,
		WriteTimeout:           s.ProduceTimeout,
		Transport:              transport,
		AllowAutoTopicCreation: true, // as the Java producer: the broker's auto.create.topics.enable decides
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Warn("kafka: " + fmt.Sprintf(msg, args...))
		}),
		// Where each acknowledged record went: kafka-go tells it only here.
		Completion: recordCompletion,
	}
	return &Producer{writer: w, transport: transport, maxBytes: s.BatchBytes, acks: s.RequiredAcks}
}

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
	call := &publishCall{results: make([]message.Result, len(records))}
	msgs := make([]kafka.Message, len(records))
	for i, r := range records {
		call.results[i] = message.Result{Topic: r.Topic, Partition: message.AnyPartition, Offset: -1}
		msgs[i] = kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value, WriterData: &slot{call: call, index: i}}
	}
	fail := func(msgs []kafka.Message, err *Error) []message.Result {
		return call.finish(msgs, err, p.acks)
	}
	networkFailures := 0
	for attempt := 0; ; attempt++ {
		err := p.writer.WriteMessages(ctx, msgs...)
		if err == nil {
			return call.finish(nil, nil, p.acks)
		}
		var cause error
		msgs, cause = unacknowledged(msgs, err)
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

// publishCall collects where the records of one Publish went. kafka-go's
// Completion fills it from its own goroutines, and a write abandoned at the
// deadline may complete after Publish returned: hence the lock.
type publishCall struct {
	mu       sync.Mutex
	results  []message.Result
	finished bool
}

// slot is a message's kafka.Message.WriterData: its place in a call.
type slot struct {
	call  *publishCall
	index int
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
		r := &c.results[m.WriterData.(*slot).index]
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

// retriable says whether writing again may succeed.
func retriable(err error) bool {
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary()
	}
	return isNetwork(err)
}

// isNetwork reports a failure to reach or talk to a broker.
func isNetwork(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func classify(ctx context.Context, err error) Reason {
	var tooLarge kafka.MessageTooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return TooLarge
	case errors.Is(err, kafka.MessageSizeTooLarge), errors.Is(err, kafka.RecordListTooLarge):
		return BrokerTooLarge
	case errors.Is(err, io.ErrClosedPipe):
		return Closed
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return Timeout
	case ctx.Err() != nil:
		return Canceled
	}
	return Unavailable
}

// MaxRecordBytes is the largest record the producer accepts.
func (p *Producer) MaxRecordBytes() int64 { return p.maxBytes }

// Close waits for records already handed to the writer, then releases its
// connections. Publish fails with reason Closed afterwards.
func (p *Producer) Close() error {
	err := p.writer.Close()
	p.transport.CloseIdleConnections()
	return err
}
