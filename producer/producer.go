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
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/encoder"
)

// Reason classifies a failed publish.
type Reason int

const (
	// Unavailable: the brokers could not be reached or refused the record
	// for a reason the client cannot fix (unknown topic, not enough
	// replicas, …) after kafka-go's retries.
	Unavailable Reason = iota
	// TooLarge: the record exceeds batching.bytes; it was not sent.
	TooLarge
	// BrokerTooLarge: the broker refused the record as larger than its
	// (or the topic's) max.message.bytes.
	BrokerTooLarge
	// Timeout: no acknowledgement within produce_timeout. The record may
	// still be written later (at-least-once): nobody is told.
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

// maxAttempts bounds the tries of one batch: a record answered 504 may
// still be written up to maxAttempts × produce_timeout after it was sent.
const maxAttempts = 3

// Producer publishes records and waits for the configured acknowledgements.
type Producer struct {
	writer    *kafka.Writer
	transport *kafka.Transport
	maxBytes  int64
}

// New builds a producer for s. It opens no connection: kafka-go connects
// on the first write, so a config naming a broker that is down still loads,
// as with any Kafka client.
func New(s *config.Settings, log *slog.Logger) *Producer {
	transport := &kafka.Transport{
		ClientID:    s.ClientID,
		DialTimeout: s.ProduceTimeout,
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(s.Brokers...),
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
		// A batch is retried on its own, even after its requests were
		// answered; kafka-go's 10 attempts would keep a record answered 504
		// coming for minutes. Three attempts (0.1 s and 0.2 s apart) ride
		// out a leader change, and an unreachable cluster fails within a
		// second with 502.
		MaxAttempts:            maxAttempts,
		WriteBackoffMin:        100 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		ReadTimeout:            s.ProduceTimeout,
		WriteTimeout:           s.ProduceTimeout,
		Transport:              transport,
		AllowAutoTopicCreation: true, // as the Java producer: the broker's auto.create.topics.enable decides
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Warn("kafka: " + fmt.Sprintf(msg, args...))
		}),
	}
	return &Producer{writer: w, transport: transport, maxBytes: s.BatchBytes}
}

// Publish writes records and returns once the brokers acknowledged all of
// them, or with an *Error. The caller bounds the wait through ctx.
func (p *Producer) Publish(ctx context.Context, records []encoder.Record) error {
	msgs := make([]kafka.Message, len(records))
	for i, r := range records {
		msgs[i] = kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value}
	}
	err := p.writer.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}
	return &Error{Reason: classify(ctx, err), Err: err}
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
	// kafka-go reports one error per message; a single failed record
	// decides the class.
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil {
				return classify(ctx, e)
			}
		}
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
