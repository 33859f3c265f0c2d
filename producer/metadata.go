package producer

import (
	"context"
	"fmt"
	"slices"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// checkTargets refuses, before anything is written, records to a topic that
// does not exist (unless the broker may create it) or to a partition the
// topic does not have: the whole request fails fast instead of being
// retried until produce_timeout, and no record of a fan-out lands while
// another is refused.
//
// The metadata comes from the kafka-go Transport's cache (refreshed within
// MetadataTTL), so this costs no round trip. When the cluster cannot be
// reached, the check is skipped: the write then fails and is classified
// as every other write is.
func (p *Producer) checkTargets(ctx context.Context, records []message.Record) *Error {
	explicit := false
	for _, r := range records {
		explicit = explicit || r.Partition >= 0
	}
	if p.autoCreate && !explicit {
		return nil
	}
	topics := make([]string, 0, len(records))
	for _, r := range records {
		if !slices.Contains(topics, r.Topic) {
			topics = append(topics, r.Topic)
		}
	}
	resp, err := p.transport.RoundTrip(ctx, p.writer.Addr, &metadataAPI.Request{TopicNames: topics})
	if err != nil {
		return nil
	}
	meta, ok := resp.(*metadataAPI.Response)
	if !ok {
		return nil
	}
	partitions := make(map[string]int, len(meta.Topics))
	for _, t := range meta.Topics {
		switch {
		case t.ErrorCode == int16(kafka.UnknownTopicOrPartition) && !p.autoCreate:
			if exists, ok := p.topicExists(ctx, t.Name); ok && exists {
				// New since the cache's last refresh: the write's
				// retries see it once the cache catches up.
				continue
			}
			return &Error{Reason: UnknownTopic, Topic: t.Name, Err: fmt.Errorf("topic %q does not exist", t.Name)}
		case t.ErrorCode == 0:
			partitions[t.Name] = len(t.Partitions)
		}
	}
	for _, r := range records {
		n, known := partitions[r.Topic]
		if r.Partition >= 0 && known && r.Partition >= n {
			return &Error{Reason: UnknownPartition, Topic: r.Topic,
				Err: fmt.Errorf("partition %d does not exist in topic %q (%s)", r.Partition, r.Topic, plural(n, "partition"))}
		}
	}
	return nil
}

// checkSizes refuses, before anything is written, a request any of whose
// records is larger than batching.bytes: kafka-go would refuse that one
// record and write the others.
func (p *Producer) checkSizes(records []message.Record) *Error {
	for _, r := range records {
		if n := recordSize(r); n > p.maxBytes {
			return &Error{Reason: TooLarge, Topic: r.Topic, Size: n,
				Err: fmt.Errorf("the record for topic %q is %d bytes, more than batching.bytes (%d)", r.Topic, n, p.maxBytes)}
		}
	}
	return nil
}

// recordSize is a record's size as kafka-go counts it against BatchBytes
// (key, value, headers and their framing, Message.totalSize).
func recordSize(r message.Record) int64 {
	n := int64(4 + 1 + 1 + 4 + len(r.Key) + 4 + len(r.Value) + 8)
	for _, h := range r.Headers {
		n += int64(varintLen(len(h.Key)) + len(h.Key) + varintLen(len(h.Value)) + len(h.Value))
	}
	return n + int64(varintLen(len(r.Headers)))
}

// varintLen is the length of n as a zig-zag varint, as Kafka encodes
// record header lengths.
func varintLen(n int) int {
	u := uint64(n) << 1
	l := 1
	for u >= 0x80 {
		u >>= 7
		l++
	}
	return l
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
