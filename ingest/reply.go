package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

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
	// Headers are sent besides content-type (e.g. allow on a 405).
	Headers map[string]string
	// Placed is where the request's records went, for the adapters to
	// put in Envoy's dynamic metadata (access logs); Records is 0 when no
	// record was acknowledged or accepted. (A value, not a pointer: no
	// allocation per request.)
	Placed Placement
}

// MetadataNamespace is the Envoy dynamic metadata namespace the adapters
// write Placement to: %DYNAMIC_METADATA(kafka_upstream:topic)% and so on.
const MetadataNamespace = "kafka_upstream"

// Placement is where the first acknowledged (or accepted) record of a
// request went, and how many records were.
type Placement struct {
	Topic string
	// Partition and Offset are -1 when unknown (async mode; acks=0 has
	// no offset).
	Partition int
	Offset    int64
	Records   int
}

// placed is the Placement of results' acknowledged records.
func placed(results []message.Result) Placement {
	var p Placement
	for _, r := range results {
		if r.Err != nil {
			continue
		}
		if p.Records == 0 {
			p = Placement{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
		}
		p.Records++
	}
	return p
}

// ContentType of every Reply body.
const ContentType = "application/json"

// recordJSON is where one record went, in the reply's "records".
type recordJSON struct {
	Topic     string `json:"topic"`
	Partition *int   `json:"partition,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
	Error     string `json:"error,omitempty"`
}

// published is the reply once the producer is done: 200 with where every
// record went, or the failure of the first record that failed. When some
// records of a fan-out were acknowledged and others not, the failure reply
// lists them all, so the client knows which landed.
func (p *Pipeline) published(results []message.Result) Reply {
	var failed *producer.Error
	failedTopic := ""
	acked := 0
	for _, r := range results {
		if r.Err == nil {
			acked++
			continue
		}
		if failed == nil {
			failedTopic = r.Topic
			if !errors.As(r.Err, &failed) {
				failed = &producer.Error{Reason: producer.Unavailable, Err: r.Err}
			}
		}
	}
	if failed == nil {
		r := jsonReply(http.StatusOK, "kafka_upstream_sent", struct {
			Message string       `json:"message"`
			Records []recordJSON `json:"records"`
		}{"message sent", p.recordsJSON(results, "")})
		r.Placed = placed(results)
		return r
	}
	o := p.failure(failed, failedTopic)
	if acked == 0 {
		return o.reply()
	}
	p.log.Warn("fan-out partly published", "acknowledged", acked, "records", len(results), "error", failed)
	r := jsonReply(o.status, o.details+"_partly", struct {
		Message string       `json:"message"`
		Error   string       `json:"error"`
		Records []recordJSON `json:"records"`
	}{statusText(o.status), o.text, p.recordsJSON(results, o.text)})
	r.Placed = placed(results)
	return r
}

func (p *Pipeline) recordsJSON(results []message.Result, failureText string) []recordJSON {
	out := make([]recordJSON, len(results))
	for i, r := range results {
		out[i].Topic = r.Topic
		if r.Err != nil {
			out[i].Error = failureText
			continue
		}
		partition, offset := r.Partition, r.Offset
		out[i].Partition = &partition
		if offset >= 0 {
			out[i].Offset = &offset
		}
	}
	return out
}

// outcome is a failure's status, details and error text.
type outcome struct {
	status        int
	details, text string
}

// reply is the outcome as the client gets it when nothing was published.
func (o outcome) reply() Reply { return ErrorReply(o.status, o.details, o.text) }

// failure is the one table from a producer failure to a reply.
func (p *Pipeline) failure(err *producer.Error, topic string) outcome {
	cause := func(generic string) string {
		if p.settings.Replies.ReturnErrorMessage {
			return err.Error()
		}
		return generic
	}
	produceTimeout := p.settings.Producer.ProduceTimeout
	switch err.Reason {
	case producer.TooLarge:
		return outcome{http.StatusRequestEntityTooLarge, "kafka_upstream_record_too_large",
			fmt.Sprintf("the Kafka record is %d bytes, more than the %d allowed (batching.bytes)", err.Size, p.settings.Producer.BatchBytes)}
	case producer.BrokerTooLarge:
		p.logFailure(slog.LevelWarn, "the broker refused a record as too large; batching.bytes is above the broker's max.message.bytes",
			"topic", topic, "batching.bytes", p.settings.Producer.BatchBytes, "error", err)
		return outcome{http.StatusRequestEntityTooLarge, "kafka_upstream_record_too_large",
			"the Kafka record is larger than the broker accepts (max.message.bytes)"}
	case producer.UnknownTopic, producer.UnknownPartition:
		details := "kafka_upstream_unknown_topic"
		if err.Reason == producer.UnknownPartition {
			details = "kafka_upstream_unknown_partition"
		}
		return outcome{http.StatusNotFound, details, err.Error()}
	case producer.Timeout:
		p.logFailure(slog.LevelWarn, "kafka did not acknowledge in time", "topic", topic, "timeout", produceTimeout, "error", err)
		return outcome{http.StatusGatewayTimeout, "kafka_upstream_produce_timeout",
			cause(fmt.Sprintf("no acknowledgement from Kafka within %s", produceTimeout))}
	case producer.Closed:
		return outcome{http.StatusServiceUnavailable, "kafka_upstream_closed",
			"the Kafka producer of this configuration is closed (config update or shutdown); retry"}
	case producer.AuthFailed:
		p.logFailure(slog.LevelError, "authentication to the Kafka brokers failed", "cluster", p.settings.Cluster.Describe(), "error", err)
		return outcome{http.StatusBadGateway, "kafka_upstream_auth_failed", cause("could not send message to topic")}
	case producer.TLSFailed:
		p.logFailure(slog.LevelError, "TLS to the Kafka brokers failed", "cluster", p.settings.Cluster.Describe(), "error", err)
		return outcome{http.StatusBadGateway, "kafka_upstream_tls_failed", cause("could not send message to topic")}
	case producer.Canceled:
		// Nobody is left to read it; adapters drop it.
		return outcome{StatusClientClosedRequest, "kafka_upstream_client_gone", "the client went away"}
	default:
		// Kong's wording; the cause goes to the log, and to the client
		// only with return_error_message.
		p.logFailure(slog.LevelError, "publishing to kafka failed", "topic", topic, "error", err)
		return outcome{http.StatusBadGateway, "kafka_upstream_produce_failed", cause("could not send message to topic")}
	}
}

// failureLogEvery bounds the log lines of one failure cause: while Kafka is
// down or a password is wrong, every request fails alike. The pipeline's
// limiter (lograte.NewLogged) lets one line per cause through per window,
// and at the end of a window in which more came, one summary line says
// how many (a summary per window while the cause lasts).
const failureLogEvery = 10 * time.Second

// logFailure writes a failure's line, at most one per cause (msg) every
// failureLogEvery; the others are counted in the limiter's summary.
func (p *Pipeline) logFailure(level slog.Level, msg string, args ...any) {
	if ok, _ := p.limit.Allow(msg); ok {
		p.log.Log(context.Background(), level, msg, args...)
	}
}

// CheckHeaders is called by the adapters once the request headers are in,
// before any body is buffered: it refuses what cannot be published. A
// CONNECT request opens a tunnel whose body never ends, so it would never
// be answered.
func CheckHeaders(hs []message.Header) *Reply {
	for _, h := range hs {
		if h.Name == ":method" && h.Value == http.MethodConnect {
			r := ErrorReply(http.StatusMethodNotAllowed, "kafka_upstream_method_not_allowed",
				"CONNECT is not supported: kafka-upstream publishes requests, it opens no tunnels")
			r.Headers = map[string]string{"allow": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"}
			return &r
		}
	}
	return nil
}

// InternalError is the reply when the filter itself failed (a recovered
// panic, say).
func InternalError() Reply {
	return ErrorReply(http.StatusInternalServerError, "kafka_upstream_internal_error", "internal error in the kafka-upstream filter")
}

// retryLater is a 503 that tells the client to retry in a second
// (Retry-After), with a headers map of its own: callers add to it.
func retryLater(details, msg string) Reply {
	r := ErrorReply(http.StatusServiceUnavailable, details, msg)
	r.Headers = map[string]string{"retry-after": "1"}
	return r
}

// ErrorReply is a failure reply: {"message": <status text>, "error": msg}.
func ErrorReply(status int, details, msg string) Reply {
	return jsonReply(status, details, struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}{statusText(status), msg})
}

func jsonReply(status int, details string, body any) Reply {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep < > & readable in error texts
	if err := enc.Encode(body); err != nil {
		panic("ingest: reply does not marshal: " + err.Error())
	}
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
