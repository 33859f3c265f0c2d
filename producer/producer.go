// Package producer publishes records to Kafka with a segmentio/kafka-go
// Writer and classifies what went wrong, so adapters can answer with the
// right HTTP status. A Producer is built once per configuration and shared
// by all of its requests.
package producer

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
)

// Producer publishes records and waits for the configured acknowledgements.
type Producer struct {
	writer     *kafka.Writer
	transport  *kafka.Transport
	maxBytes   int64
	acks       int
	autoCreate bool
	mechanism  any // the SASL mechanism, to stop an OAuth token's timer
	lastForget atomic.Int64
	// identity and refs: a shared producer's key and reference count
	// (shared.go), guarded by shared's lock; "" and 0 for one from New.
	identity string
	refs     int
	// async buffers accepted records (config async section); nil without.
	async *AsyncBuffer
	log   *slog.Logger
	// brokers and confirmed: asking a broker about a topic the metadata
	// cache does not know (topiccheck.go).
	brokers   []string
	confirmed topicConfirmations
}

// New builds a producer for cluster c with settings s. It opens no connection: kafka-go connects
// on the first write, so a config naming a broker that is down still loads,
// as with any Kafka client.
func New(c config.Cluster, s config.Producer, log *slog.Logger) *Producer {
	transport := &kafka.Transport{
		ClientID: c.ClientID,
		// Bounds connecting, the TLS handshake and SASL (fetching a token
		// included) of one connection.
		DialTimeout: s.ProduceTimeout,
		TLS:         tlsConfig(c.TLS),
		// kafka-go serves metadata, and a failure to fetch it, from a cache
		// refreshed at random within this period (6 s by default): a short
		// one lets retries see a new partition leader, or a cluster back
		// from an outage, sooner, for one small request a second.
		MetadataTTL: time.Second,
	}
	transport.SASL = mechanism(c.SASL, func() {
		// A token is about to expire: connections authenticated with it
		// would be dropped by the broker; new ones take a fresh token.
		transport.CloseIdleConnections()
	})
	w := &kafka.Writer{
		Addr:     kafka.TCP(c.Brokers...),
		Balancer: newBalancer(s),
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
		AllowAutoTopicCreation: s.AllowAutoTopicCreation,
		Compression:            codec(s),
		ErrorLogger:            kafkaLogger(log),
		// Where each acknowledged record went: kafka-go tells it only here.
		Completion: recordCompletion,
	}
	p := &Producer{writer: w, transport: transport, maxBytes: s.BatchBytes, acks: s.RequiredAcks, autoCreate: s.AllowAutoTopicCreation,
		mechanism: transport.SASL, log: log, brokers: c.Brokers}
	if a := s.Async; a != nil {
		p.async = NewAsyncBuffer(p, AsyncLimits{Records: a.BufferRecords, Bytes: a.BufferBytes,
			DeliveryTimeout: a.DeliveryTimeout, FlushTimeout: a.FlushTimeout, HealthGating: a.HealthGating})
	}
	return p
}

// Async is the producer's buffer for asynchronous delivery, nil when its
// config has no async section.
func (p *Producer) Async() *AsyncBuffer { return p.async }

// MaxRecordBytes is the largest record the producer accepts.
func (p *Producer) MaxRecordBytes() int64 { return p.maxBytes }

// Close gives back a reference from Acquire (or ends a producer from New).
// The last one waits for records already handed to the writer, then
// releases its connections; Publish fails with reason Closed afterwards.
func (p *Producer) Close() error {
	if !p.release() {
		return nil
	}
	defer p.closed()
	if p.async != nil {
		// Every exit path flushes: what cannot be delivered in time is
		// counted and said, never dropped silently.
		p.flushAsync(p.log, "close")
	}
	err := p.writer.Close()
	if m, ok := p.mechanism.(*oauthBearer); ok {
		m.tokens.stop()
	}
	p.transport.CloseIdleConnections()
	return err
}

// flushAsync flushes the async buffer (within its flush timeout) and says
// what it could not deliver; when is "close" or "exit".
func (p *Producer) flushAsync(log *slog.Logger, when string) {
	buffered, _ := p.async.Buffered()
	if lost := p.async.Close(); lost > 0 {
		log.Error("async: records not delivered", "lost", lost, "buffered_at_"+when, buffered, "delivered", p.async.Delivered())
	} else if buffered > 0 {
		log.Info("async: buffer flushed at "+when, "records", buffered)
	}
}
