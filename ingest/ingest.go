// Package ingest is the host-agnostic core both Envoy adapters share: it
// takes a buffered HTTP request through the encoder and the producer and
// says what to answer. The golang filter and the ext_proc server only
// translate Envoy's types into an message.Request and a Reply back.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/encoder"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
	"github.com/kafka-upstream/envoy-kafka-upstream/producer"
)

// Reply is the local reply to send to the client.
type Reply struct {
	Status int
	// Body is a JSON object; the content-type is always application/json.
	Body []byte
	// Details goes to Envoy's %RESPONSE_CODE_DETAILS% (no spaces).
	Details string
}

// ContentType of every Reply body.
const ContentType = "application/json"

// Pipeline holds what one configuration needs at request time, all of it
// built at config load.
type Pipeline struct {
	settings *config.Settings
	encoder  *encoder.Encoder
	producer *producer.Producer
	log      *slog.Logger
}

// New builds the pipeline for a validated configuration.
func New(s *config.Settings, log *slog.Logger) *Pipeline {
	return &Pipeline{
		settings: s,
		encoder:  encoder.New(s.Message, s.Headers),
		producer: producer.New(s.Cluster, s.Producer, log),
		log:      log,
	}
}

// Settings returns the configuration the pipeline was built from.
func (p *Pipeline) Settings() *config.Settings { return p.settings }

// Handle encodes and publishes one request and returns the reply. It blocks
// until the brokers answer or produce_timeout runs out, so adapters call it
// off Envoy's worker thread. ctx is cancelled when the client goes away.
func (p *Pipeline) Handle(ctx context.Context, req *message.Request) Reply {
	enc, err := p.encoder.Encode(req)
	records := []message.Record{{Topic: p.settings.Routing.Topic, Partition: message.AnyPartition, Headers: enc.Headers, Value: enc.Value}}
	if err != nil {
		var bodyErr *encoder.BodyError
		if errors.As(err, &bodyErr) {
			return ErrorReply(http.StatusBadRequest, "kafka_upstream_bad_body", err.Error())
		}
		p.log.Error("encoding the request failed", "error", err)
		return InternalError()
	}

	ctx, cancel := context.WithTimeout(ctx, p.settings.Producer.ProduceTimeout)
	defer cancel()
	if err := producer.FirstError(p.producer.Publish(ctx, records)); err != nil {
		return p.failure(err)
	}
	return Reply{Status: http.StatusOK, Body: sentBody, Details: "kafka_upstream_sent"}
}

var sentBody = []byte(`{"message":"message sent"}`)

func (p *Pipeline) failure(err error) Reply {
	reason := producer.Unavailable
	var perr *producer.Error
	if errors.As(err, &perr) {
		reason = perr.Reason
	}
	switch reason {
	case producer.TooLarge:
		return ErrorReply(http.StatusRequestEntityTooLarge, "kafka_upstream_record_too_large",
			fmt.Sprintf("the Kafka record is larger than the %d bytes allowed", p.producer.MaxRecordBytes()))
	case producer.BrokerTooLarge:
		p.log.Warn("the broker refused a record as too large; batching.bytes is above the broker's max.message.bytes",
			"topic", p.settings.Routing.Topic, "batching.bytes", p.producer.MaxRecordBytes(), "error", err)
		return ErrorReply(http.StatusRequestEntityTooLarge, "kafka_upstream_record_too_large",
			"the Kafka record is larger than the broker accepts (max.message.bytes)")
	case producer.Timeout:
		p.log.Warn("kafka did not acknowledge in time", "topic", p.settings.Routing.Topic, "timeout", p.settings.Producer.ProduceTimeout, "error", err)
		return ErrorReply(http.StatusGatewayTimeout, "kafka_upstream_produce_timeout",
			fmt.Sprintf("no acknowledgement from Kafka within %s", p.settings.Producer.ProduceTimeout))
	case producer.Closed:
		return ErrorReply(http.StatusServiceUnavailable, "kafka_upstream_closed", "the Kafka producer of this configuration is closed (config update or shutdown); retry")
	case producer.Canceled:
		// Nobody is left to read it; adapters drop it.
		return ErrorReply(StatusClientClosedRequest, "kafka_upstream_client_gone", "the client went away")
	default:
		// Kong's wording; the cause goes to the log, not to the client.
		p.log.Error("publishing to kafka failed", "topic", p.settings.Routing.Topic, "error", err)
		return ErrorReply(http.StatusBadGateway, "kafka_upstream_produce_failed", "could not send message to topic")
	}
}

// InternalError is the reply when the filter itself failed (a recovered
// panic, say).
func InternalError() Reply {
	return ErrorReply(http.StatusInternalServerError, "kafka_upstream_internal_error", "internal error in the kafka-upstream filter")
}

// ErrorReply is a failure reply: {"message": <status text>, "error": msg}.
func ErrorReply(status int, details, msg string) Reply {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep < > & readable in error texts
	_ = enc.Encode(struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}{statusText(status), msg})
	return Reply{Status: status, Body: bytes.TrimSuffix(buf.Bytes(), []byte("\n")), Details: details}
}

// StatusClientClosedRequest is nginx's status for a client that went away
// before its reply; it is logged, never sent.
const StatusClientClosedRequest = 499

func statusText(status int) string {
	if status == StatusClientClosedRequest {
		return "Client Closed Request"
	}
	return http.StatusText(status)
}

// Close releases the producer once in-flight records are done.
func (p *Pipeline) Close() error { return p.producer.Close() }
