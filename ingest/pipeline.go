// Package ingest is the host-agnostic core every Envoy adapter shares: it
// takes a buffered HTTP request through routing, encoding and publishing
// and says what to answer. The adapters only translate Envoy's types into a
// message.Request and a Reply back.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"slices"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/encoder"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/lograte"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
	"github.com/kafka-upstream/envoy-kafka-upstream/metrics"
	"github.com/kafka-upstream/envoy-kafka-upstream/producer"
	"github.com/kafka-upstream/envoy-kafka-upstream/route"
	"github.com/kafka-upstream/envoy-kafka-upstream/schema"
)

// Pipeline holds what one configuration needs at request time, all of it
// built at config load.
type Pipeline struct {
	settings *config.Settings
	router   *route.Router
	encoder  *encoder.Encoder
	producer *producer.Producer
	// owner: the pipeline built the producer and closes it. Derived
	// pipelines borrow it.
	owner   bool
	log     *slog.Logger
	limit   *lograte.Limiter
	metrics *metrics.Set // the adapter's, shared by its pipelines; may be nil
	// schemas serialise values and keys (schema_registry); nil without.
	schemas *schema.Registry
}

// New builds the pipeline for a validated configuration, with a Kafka
// producer of its own (shared with every config that needs the same one).
// It counts into m, which may be nil.
func New(s *config.Settings, log *slog.Logger, m *metrics.Set) *Pipeline {
	p := derive(s, nil, log, m)
	for _, w := range s.Warnings {
		log.Warn(w)
	}
	p.producer = producer.Acquire(s.Cluster, s.Producer, log)
	p.owner = true
	p.limit = lograte.NewLogged(failureLogEvery, log)
	return p
}

// Derive builds the pipeline of a config that inherits p's cluster and
// producer settings (a route config, an ext_proc config with a base): its
// own routing and encoding, p's producer, so no second connection to the
// cluster. Closing it leaves the producer open.
func (p *Pipeline) Derive(s *config.Settings) *Pipeline {
	d := derive(s, p.producer, p.log, p.metrics)
	d.limit = p.limit // one cluster, one condition: one line for all its routes
	return d
}

func derive(s *config.Settings, prod *producer.Producer, log *slog.Logger, m *metrics.Set) *Pipeline {
	p := &Pipeline{
		settings: s,
		router:   route.New(s.Routing),
		encoder:  encoder.New(s.Message, s.Headers),
		producer: prod,
		log:      log,
		metrics:  m,
	}
	if s.Schemas != nil {
		p.schemas = schema.New(s.Schemas, log)
		// Fetched in the background now, so that the first requests to
		// the config's topics (AllowedTopics holds Topic too) find their
		// schemas cached.
		p.schemas.Warm(slices.Sorted(maps.Keys(s.Routing.AllowedTopics)))
	}
	return p
}

// Settings returns the configuration the pipeline was built from.
func (p *Pipeline) Settings() *config.Settings { return p.settings }

// Handle routes, encodes and publishes one request and returns the reply.
// It blocks until the brokers answer or produce_timeout runs out, so
// adapters call it off Envoy's worker thread. ctx is cancelled when the
// client goes away. A panic inside is logged and answered with the JSON
// 500 (InternalError), in every adapter alike: an unrecovered one would
// end Envoy or the ext_proc server.
func (p *Pipeline) Handle(ctx context.Context, req *message.Request) (r Reply) {
	p.metrics.Start()
	defer func() {
		if v := recover(); v != nil {
			p.log.Error("panic while publishing", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			r = InternalError()
		}
		p.metrics.Done(r.Details)
	}()
	return p.handle(ctx, req)
}

// Failing is a pipeline whose every request panics inside Handle, for
// the adapters' tests of what a panic answers; log is where it is said.
func Failing(log *slog.Logger) *Pipeline { return &Pipeline{log: log} }

func (p *Pipeline) handle(ctx context.Context, req *message.Request) Reply {
	targets, err := p.router.Route(req)
	if err != nil {
		return p.refused(err)
	}
	enc, err := p.encoder.Encode(req)
	if err != nil {
		return p.refused(err)
	}
	key := targets.Key
	if key == nil {
		key = enc.Key
	}
	headers := enc.Headers
	if name := p.settings.Headers.RequestID; name != "" {
		headers = withRequestID(headers, name, req)
	}
	records := make([]message.Record, len(targets.Topics))
	for i, topic := range targets.Topics {
		records[i] = message.Record{Topic: topic, Key: key, Partition: targets.Partition, Headers: headers, Value: enc.Value}
	}

	// One deadline for the rest: a cold schema cache's registry lookups
	// and the brokers share produce_timeout.
	ctx, cancel := context.WithTimeout(ctx, p.settings.Producer.ProduceTimeout)
	defer cancel()
	if p.schemas != nil {
		if err := p.applySchemas(ctx, req, enc, records); err != nil {
			return p.refused(err)
		}
	}
	sizes := recordSizes(records)
	if async, preferred := p.asyncRequested(req); async {
		return p.accept(ctx, req, records, sizes, preferred)
	}
	start := time.Now()
	results := p.producer.Publish(ctx, records)
	p.metrics.Produce(time.Since(start), producer.FirstError(results) == nil)
	p.countSent(results, sizes)
	return p.published(results)
}

// recordSizes are each record's key and value bytes, for bytes_sent:
// with a schema per topic, the records of one request differ in size.
func recordSizes(records []message.Record) []int {
	sizes := make([]int, len(records))
	for i, r := range records {
		sizes[i] = len(r.Key) + len(r.Value)
	}
	return sizes
}

// countSent counts the acknowledged records among results (one per
// record, in their order).
func (p *Pipeline) countSent(results []message.Result, sizes []int) {
	for i, r := range results {
		if r.Err == nil {
			p.metrics.Sent(r.Topic, sizes[i])
		}
	}
}

// Ping asks the pipeline's cluster whether a broker answers (health
// checks); see producer.Ping.
func (p *Pipeline) Ping(ctx context.Context) error { return p.producer.Ping(ctx) }

// withRequestID adds the request_id_header record header: the client's
// Idempotency-Key (a retry of the same request carries the same one), else
// Envoy's x-request-id; nothing when the request has neither. A record
// header of that key the rules already forwarded takes the id instead, so
// the key appears once.
func withRequestID(headers []message.RecordHeader, name string, req *message.Request) []message.RecordHeader {
	id, ok := req.Get("idempotency-key")
	if !ok || id == "" {
		if id, ok = req.Get("x-request-id"); !ok || id == "" {
			return headers
		}
	}
	out := make([]message.RecordHeader, 0, len(headers)+1)
	placed := false
	for _, h := range headers {
		if h.Key != name {
			out = append(out, h)
		} else if !placed {
			out = append(out, message.RecordHeader{Key: name, Value: []byte(id)})
			placed = true
		}
	}
	if !placed {
		out = append(out, message.RecordHeader{Key: name, Value: []byte(id)})
	}
	return out
}

// refused is the reply to a request refused before anything was published.
func (p *Pipeline) refused(err error) Reply {
	var routeErr *route.Error
	var bodyErr *encoder.BodyError
	var eventErr *encoder.EventError
	if r, ok := schemaReply(err); ok {
		if !schema.IsMismatch(err) {
			p.logFailure(slog.LevelError, "serialising with the schema registry failed", "error", err)
		}
		return r
	}
	switch {
	case errors.As(err, &routeErr):
		switch routeErr.Kind {
		case route.TopicNotAllowed:
			return ErrorReply(http.StatusForbidden, "kafka_upstream_topic_not_allowed", err.Error())
		case route.BadTopic:
			return ErrorReply(http.StatusBadRequest, "kafka_upstream_bad_topic", err.Error())
		default:
			return ErrorReply(http.StatusBadRequest, "kafka_upstream_bad_partition", err.Error())
		}
	case errors.As(err, &bodyErr):
		return ErrorReply(http.StatusBadRequest, "kafka_upstream_bad_body", err.Error())
	case errors.As(err, &eventErr) && eventErr.Unsupported:
		return ErrorReply(http.StatusUnsupportedMediaType, "kafka_upstream_unsupported_event", err.Error())
	case errors.As(err, &eventErr):
		return ErrorReply(http.StatusBadRequest, "kafka_upstream_bad_event", err.Error())
	}
	p.log.Error("refusing the request failed", "error", err)
	return InternalError()
}

// Close releases the producer, if this pipeline owns it, once in-flight
// records are done.
func (p *Pipeline) Close() error {
	if !p.owner {
		return nil
	}
	return p.producer.Close()
}
