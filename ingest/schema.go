package ingest

import (
	"context"
	"errors"
	"net/http"

	"github.com/kafka-upstream/envoy-kafka-upstream/encoder"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
	"github.com/kafka-upstream/envoy-kafka-upstream/schema"
)

// The schema_registry section: each record's value (the request body, or
// the envelope) and key are serialised with their topic's schema, in
// Confluent's wire format, before anything is published. A request whose
// body does not match is refused whole.

// applySchemas serialises records' values and keys in place, within ctx's
// deadline, the request's produce_timeout (a cold cache waits for the
// registry).
func (p *Pipeline) applySchemas(ctx context.Context, req *message.Request, enc encoder.Encoded, records []message.Record) error {
	doc := req.Body
	if p.schemas.ValueFromEnvelope() {
		doc = enc.Value
	}
	for i := range records {
		r := &records[i]
		if p.schemas.HasValue() {
			v, err := p.schemas.Value(ctx, r.Topic, doc)
			if err != nil {
				return err
			}
			r.Value = v
		}
		if p.schemas.HasKey() && r.Key != nil {
			k, err := p.schemas.Key(ctx, r.Topic, r.Key)
			if err != nil {
				return err
			}
			r.Key = k
		}
	}
	return nil
}

// schemaReply is the reply to a request a schema refused, or whose schema
// could not be had; ok is false for an error of another kind.
func schemaReply(err error) (r Reply, ok bool) {
	var e *schema.Error
	if !errors.As(err, &e) {
		return Reply{}, false
	}
	switch e.Kind {
	case schema.Mismatch:
		return ErrorReply(http.StatusBadRequest, "kafka_upstream_schema_mismatch", err.Error()), true
	case schema.Unavailable:
		return retryLater("kafka_upstream_registry_unavailable",
			"the schema registry cannot be reached and the schema is not cached: "+err.Error()), true
	case schema.NotFound:
		return ErrorReply(http.StatusInternalServerError, "kafka_upstream_schema_not_found", err.Error()), true
	default:
		return ErrorReply(http.StatusBadGateway, "kafka_upstream_registry_error", "the schema registry's answer is unusable: "+err.Error()), true
	}
}
