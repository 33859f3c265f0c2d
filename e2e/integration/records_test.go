//go:build integration

package integration_test

// Reading records back whole from any partition, end offsets of every
// partition, and the expected 200 reply.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
)

// repoRoot is the repository root, for kafkatest's calls of e2e/kafka.sh.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// newTopicN creates a topic unique to this test with n partitions and the
// given topic configs ("max.message.bytes=5242880").
func newTopicN(t *testing.T, suffix string, n int, configs ...string) string {
	t.Helper()
	name := strings.Trim(topicUnsafe.ReplaceAllString(t.Name(), "-"), "-")
	tail := "-" + suffix + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if max := 249 - len("it-") - len(tail); len(name) > max {
		name = name[:max]
	}
	topic := "it-" + name + tail
	kafkatest.CreateTopic(t, repoRoot(t), topic, n, configs...)
	return topic
}

// record is a Kafka record as read back. Key and Value are nil for null
// (kafka-go's Client.Fetch tells null from empty, its Reader does not).
type record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []kafka.Header
}

func (r record) String() string {
	key := "null"
	if r.Key != nil {
		key = strconv.Quote(string(r.Key))
	}
	value := "null"
	if r.Value != nil {
		v := r.Value
		if len(v) > 300 {
			value = strconv.Quote(string(v[:300])) + fmt.Sprintf("… (%d bytes)", len(v))
		} else {
			value = strconv.Quote(string(v))
		}
	}
	var hs []string
	for _, h := range r.Headers {
		hs = append(hs, fmt.Sprintf("%s=%q", h.Key, h.Value))
	}
	return fmt.Sprintf("%s/%d@%d key=%s headers=[%s] value=%s", r.Topic, r.Partition, r.Offset, key, strings.Join(hs, " "), value)
}

// fetch returns the n records of topic/partition from offset on, failing
// the test if they do not all arrive within 30 s.
func fetch(t *testing.T, bootstrap, topic string, partition int, offset int64, n int) []record {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(bootstrap), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make([]record, 0, n)
	next := offset
	for len(out) < n {
		resp, err := client.Fetch(ctx, &kafka.FetchRequest{
			Topic: topic, Partition: partition, Offset: next,
			MinBytes: 1, MaxBytes: 32 << 20, MaxWait: 200 * time.Millisecond,
		})
		if err == nil && resp.Error != nil {
			err = resp.Error
		}
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("fetching %s/%d from offset %d: got %d of %d records: %v", topic, partition, offset, len(out), n, err)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for resp.Records != nil && len(out) < n {
			r, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("reading %s/%d: %v", topic, partition, err)
			}
			if r.Offset < next { // a batch starts before the offset asked for
				continue
			}
			rec := record{Topic: topic, Partition: partition, Offset: r.Offset, Key: readBytes(t, r.Key), Value: readBytes(t, r.Value)}
			for _, h := range r.Headers {
				rec.Headers = append(rec.Headers, kafka.Header{Key: h.Key, Value: h.Value})
			}
			out = append(out, rec)
			next = r.Offset + 1
		}
		if ctx.Err() != nil {
			t.Fatalf("fetching %s/%d from offset %d: got %d of %d records", topic, partition, offset, len(out), n)
		}
	}
	return out
}

func readBytes(t *testing.T, b kafka.Bytes) []byte {
	t.Helper()
	if b == nil {
		return nil
	}
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if data == nil {
		data = []byte{}
	}
	return data
}

// fetchOne returns the record at topic/partition/offset.
func fetchOne(t *testing.T, bootstrap, topic string, partition int, offset int64) record {
	t.Helper()
	return fetch(t, bootstrap, topic, partition, offset, 1)[0]
}

// expectRecord compares a record read back with the one expected, whole:
// place, key (null told from empty), value, headers in order.
func expectRecord(t *testing.T, got, want record) {
	t.Helper()
	same := got.Topic == want.Topic && got.Partition == want.Partition && got.Offset == want.Offset &&
		(got.Key == nil) == (want.Key == nil) && bytes.Equal(got.Key, want.Key) &&
		(got.Value == nil) == (want.Value == nil) && bytes.Equal(got.Value, want.Value) &&
		len(got.Headers) == len(want.Headers)
	for i := 0; same && i < len(got.Headers); i++ {
		same = got.Headers[i].Key == want.Headers[i].Key && bytes.Equal(got.Headers[i].Value, want.Headers[i].Value)
	}
	if !same {
		t.Errorf("record\n got %s\nwant %s", got, want)
	}
}

// headers builds record headers from key, value pairs.
func headers(kv ...string) []kafka.Header {
	var hs []kafka.Header
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, kafka.Header{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

// offsets holds the end offset of every partition of some topics.
type offsets map[string][]int64

// snapshot reads the end offsets of topics, each with the given number of
// partitions.
func snapshot(t *testing.T, bootstrap string, topics map[string]int) offsets {
	t.Helper()
	o := offsets{}
	for topic, n := range topics {
		o[topic] = make([]int64, n)
		for p := 0; p < n; p++ {
			o[topic][p] = kafkatest.PartitionEndOffset(t, bootstrap, topic, p)
		}
	}
	return o
}

// expectGrowth requires every partition's end offset to be its offset in
// before plus the count in grown ("topic/partition" → records), and every
// other partition to be unchanged: nothing else was written.
func expectGrowth(t *testing.T, bootstrap string, before offsets, grown map[string]int) {
	t.Helper()
	sizes := map[string]int{}
	for topic, o := range before {
		sizes[topic] = len(o)
	}
	after := snapshot(t, bootstrap, sizes)
	for topic, o := range before {
		for p, end := range o {
			want := end + int64(grown[fmt.Sprintf("%s/%d", topic, p)])
			if got := after[topic][p]; got != want {
				t.Errorf("end offset of %s/%d = %d, want %d (was %d)", topic, p, got, want, end)
			}
		}
	}
}

// expectNothingWritten requires every partition of before to be unchanged.
func expectNothingWritten(t *testing.T, bootstrap string, before offsets) {
	t.Helper()
	expectGrowth(t, bootstrap, before, nil)
}

// placed is one entry of a 200 reply's "records".
type placed struct {
	topic     string
	partition int
	offset    int64 // -1: no offset (acks=0)
}

// sentReply is the 200 body for records placed as given, in topic order.
func sentReply(rs ...placed) string {
	var parts []string
	for _, r := range rs {
		if r.offset < 0 {
			parts = append(parts, fmt.Sprintf(`{"topic":%s,"partition":%d}`, jsonString(r.topic), r.partition))
			continue
		}
		parts = append(parts, fmt.Sprintf(`{"topic":%s,"partition":%d,"offset":%d}`, jsonString(r.topic), r.partition, r.offset))
	}
	return `{"message":"message sent","records":[` + strings.Join(parts, ",") + `]}`
}

// errorBody is a failure reply's body.
func errorBody(message, err string) string {
	return `{"message":` + jsonString(message) + `,"error":` + jsonString(err) + `}`
}
