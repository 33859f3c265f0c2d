// Package encoder turns an HTTP request into the value and headers of its
// Kafka record, in one of three formats:
//
//   - kong (kong.go): the JSON envelope of Kong's kafka-upstream plugin,
//     {"method":…, "uri":…, "uri_args":{…}, "headers":{…}, "body":…,
//     "body_args":…, "body_base64":true}, each key present only when its
//     forward_* flag is on;
//   - raw (raw.go): the body as it came;
//   - cloudevents (cloudevents.go): a CloudEvents HTTP request as a
//     CloudEvents Kafka record.
//
// and with the request headers the config forwards as record headers
// (headers.go) and the request's W3C trace context (tracecontext.go). Where the record goes (topics, key, partition) is package
// route's job; the encoder knows nothing of Envoy or Kafka clients.
package encoder

import (
	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// Encoder builds record values for one resolved configuration. It is built
// at config load and shared by all requests.
type Encoder struct {
	format  string
	forward config.Forward
	events  config.CloudEventOptions
	headers config.Headers
}

// New returns an encoder for the message and headers sections of a config.
func New(m config.Message, h config.Headers) *Encoder {
	return &Encoder{format: m.Format, forward: m.Forward, events: m.CloudEvents, headers: h}
}

// Encoded is what every record of a request carries, whichever its topic.
type Encoded struct {
	Value   []byte
	Headers []message.RecordHeader
	// Key is a key the format itself supplies (a CloudEvent's partitionkey
	// extension), nil when it has none; the route's key wins over it.
	Key []byte
}

// Encode returns the record value and headers for r. Its errors are
// *BodyError (the body does not parse as its content type claims) and
// *EventError (the request is no valid CloudEvent); nothing is published
// for such a request. Whatever the format, the headers end with the
// request's W3C trace context unless propagate_trace_context is off
// (withTraceContext).
func (e *Encoder) Encode(r *message.Request) (Encoded, error) {
	enc, err := e.encode(r)
	if err != nil {
		return Encoded{}, err
	}
	enc.Headers = e.withTraceContext(enc.Headers, r.Headers)
	return enc, nil
}

// encode is Encode by format, without the trace context.
func (e *Encoder) encode(r *message.Request) (Encoded, error) {
	switch e.format {
	case config.FormatRaw:
		return e.raw(r)
	case config.FormatCloudEvents:
		return e.cloudEvent(r)
	default:
		value, err := e.kong(r)
		if err != nil {
			return Encoded{}, err
		}
		return Encoded{Value: value, Headers: e.recordHeaders(r.Headers, false)}, nil
	}
}
