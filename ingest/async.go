package ingest

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
	"github.com/kafka-upstream/envoy-kafka-upstream/producer"
)

// Asynchronous delivery (the config's async section): the reply says the
// records were accepted into the producer's bounded buffer, not that Kafka
// has them. What that promises is in the README's delivery section.

// asyncRequested reports whether req is handled asynchronously, and
// whether because it asked (Prefer: respond-async, RFC 7240).
func (p *Pipeline) asyncRequested(req *message.Request) (async, preferred bool) {
	a := p.settings.Producer.Async
	if a == nil {
		return false, false
	}
	preferred = prefersAsync(req)
	return a.Enabled || (a.AllowPrefer && preferred), preferred
}

// prefersAsync finds the respond-async preference in any Prefer header
// (a comma-separated list; names case-insensitive, parameters after ';').
func prefersAsync(req *message.Request) bool {
	for _, h := range req.Headers {
		if h.Name != "prefer" {
			continue
		}
		for pref := range strings.SplitSeq(h.Value, ",") {
			name, _, _ := strings.Cut(pref, ";")
			name, _, _ = strings.Cut(name, "=")
			if strings.EqualFold(strings.TrimSpace(name), "respond-async") {
				return true
			}
		}
	}
	return false
}

// accept buffers records and answers at once. Records the producer would
// refuse whatever happens (too large, unknown topic or partition) are
// refused now, as in synchronous mode; a full buffer, or a cluster that is
// failing, is 503 with Retry-After and nothing of the request accepted.
func (p *Pipeline) accept(ctx context.Context, req *message.Request, records []message.Record, sizes []int, preferred bool) Reply {
	// The check reads the producer's cached metadata, within ctx's
	// deadline (produce_timeout): a cluster that does not answer would
	// otherwise hold it forever.
	err := p.producer.Check(ctx, records)
	if err != nil {
		results := make([]message.Result, len(records))
		for i, r := range records {
			results[i] = message.Result{Topic: r.Topic, Partition: message.AnyPartition, Offset: -1, Err: err}
		}
		return p.published(results)
	}
	id, _ := req.Get("x-request-id") // not req: it would keep the body alive
	err = p.producer.Async().Accept(records, func(results []message.Result) { p.delivered(id, results, sizes) })
	var r Reply
	switch {
	case err == nil:
		topics := make([]recordJSON, len(records))
		for i, rec := range records {
			topics[i].Topic = rec.Topic
		}
		r = jsonReply(p.settings.Producer.Async.AcceptedStatus, "kafka_upstream_accepted", struct {
			Message string       `json:"message"`
			Records []recordJSON `json:"records"`
		}{"message accepted", topics})
		r.Placed = Placement{Topic: records[0].Topic, Partition: -1, Offset: -1, Records: len(records)}
	case errors.Is(err, producer.ErrBufferFull):
		r = retryLater("kafka_upstream_buffer_full",
			"the async buffer is full (async.buffer_records or async.buffer_bytes); retry later")
	case errors.Is(err, producer.ErrUnhealthy):
		r = retryLater("kafka_upstream_unhealthy",
			"the Kafka cluster is failing, so no record is buffered (async.health_gating); retry later")
	default: // closed
		r = p.failure(&producer.Error{Reason: producer.Closed, Err: err}, records[0].Topic).reply()
	}
	if preferred {
		if r.Headers == nil {
			r.Headers = map[string]string{}
		}
		r.Headers["preference-applied"] = "respond-async"
	}
	return r
}

// delivered settles an accepted request: records that could not be
// delivered are counted as lost and said here, with their topic and the
// request's id, in a rate-limited line.
func (p *Pipeline) delivered(id string, results []message.Result, sizes []int) {
	for i, r := range results {
		if r.Err == nil {
			p.metrics.Sent(r.Topic, sizes[i])
			continue
		}
		p.metrics.Lost(r.Topic)
		p.logFailure(slog.LevelError, "async: a record accepted for delivery was not delivered", "topic", r.Topic, "request_id", id, "error", r.Err)
	}
}
