package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// sizeCases are records whose framing differs: key or none, headers of
// one- and two-byte varint lengths, a header count of two varint bytes.
func sizeCases() map[string]message.Record {
	many := make([]message.RecordHeader, 70)
	for i := range many {
		many[i] = message.RecordHeader{Key: fmt.Sprintf("h%d", i), Value: []byte("v")}
	}
	return map[string]message.Record{
		"value only":          {Value: []byte("hello")},
		"empty value":         {Value: []byte{}},
		"key and value":       {Key: []byte("k1"), Value: []byte("hello")},
		"empty key":           {Key: []byte{}, Value: []byte("v")},
		"one header":          {Value: []byte("v"), Headers: []message.RecordHeader{{Key: "content-type", Value: []byte("text/plain")}}},
		"long header":         {Value: []byte("v"), Headers: []message.RecordHeader{{Key: strings.Repeat("k", 70), Value: []byte(strings.Repeat("v", 300))}}},
		"empty header value":  {Value: []byte("v"), Headers: []message.RecordHeader{{Key: "x", Value: nil}, {Key: "y", Value: []byte{}}}},
		"70 headers":          {Key: []byte("k"), Value: []byte("v"), Headers: many},
		"a 64 KiB value":      {Value: make([]byte, 64<<10)},
		"repeated header key": {Value: []byte("v"), Headers: []message.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "a", Value: []byte("2")}}},
	}
}

func TestRecordSizeOfARecordWithoutHeaders(t *testing.T) {
	// kafka-go: 4+1+1 bytes, 4+len(key), 4+len(value), an 8-byte
	// timestamp, and 1 byte for the empty header list.
	r := message.Record{Key: []byte("abc"), Value: []byte("0123456789")}
	if got, want := recordSize(r), int64(3+10+23); got != want {
		t.Errorf("recordSize = %d, want %d", got, want)
	}
}

// recordSize must count what kafka-go counts against BatchBytes: one byte
// less than the record's size and kafka-go refuses it itself.
func TestRecordSizeMatchesKafkaGo(t *testing.T) {
	for name, r := range sizeCases() {
		t.Run(name, func(t *testing.T) {
			n := recordSize(r)
			w := &kafka.Writer{Addr: kafka.TCP("127.0.0.1:1"), Topic: topic, BatchBytes: n - 1}
			defer w.Close()
			err := w.WriteMessages(context.Background(), kafka.Message{Key: r.Key, Value: r.Value, Headers: kafkaHeaders(r.Headers)})
			var tooLarge kafka.MessageTooLargeError
			if !errors.As(err, &tooLarge) {
				t.Errorf("kafka-go with BatchBytes %d (recordSize - 1): %v, want MessageTooLargeError: recordSize counts too much", n-1, err)
			}
		})
	}
}

// A record of exactly batching.bytes is written (kafka-go agrees it fits);
// one byte more is refused before anything is written.
func TestRecordOfExactlyBatchBytes(t *testing.T) {
	for name, r := range sizeCases() {
		t.Run(name, func(t *testing.T) {
			c := kfaketest.NewCluster(t, topic)
			r.Topic, r.Partition = topic, message.AnyPartition
			n := recordSize(r)

			p := newProducerWith(t, c.ListenAddrs(), func(s *config.Producer) { s.BatchBytes = n - 1 })
			err := FirstError(p.Publish(context.Background(), []message.Record{r}))
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Publish with batching.bytes %d = %v, want a *producer.Error", n-1, err)
			}
			want := fmt.Sprintf(`the record for topic "events" is %d bytes, more than batching.bytes (%d)`, n, n-1)
			if perr.Reason != TooLarge || perr.Size != n || perr.Topic != topic || perr.Error() != want {
				t.Errorf("error = %+v (%q), want TooLarge, size %d, topic events, %q", *perr, perr.Error(), n, want)
			}
			if got := kfaketest.Records(t, c, topic); got != 0 {
				t.Fatalf("%d records written, want 0", got)
			}

			p = newProducerWith(t, c.ListenAddrs(), func(s *config.Producer) { s.BatchBytes = n })
			if err := FirstError(p.Publish(context.Background(), []message.Record{r})); err != nil {
				t.Fatalf("Publish with batching.bytes %d (the record's size): %v", n, err)
			}
			if got := kfaketest.Records(t, c, topic); got != 1 {
				t.Errorf("%d records written, want 1", got)
			}
		})
	}
}

// One record too large refuses the whole request: kafka-go alone would
// write the others.
func TestOneTooLargeRecordRefusesAll(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, "audit")
	p := newProducerWith(t, c.ListenAddrs(), func(s *config.Producer) { s.BatchBytes = 100 })
	results := p.Publish(context.Background(), []message.Record{
		{Topic: topic, Partition: message.AnyPartition, Value: []byte("small")},
		{Topic: "audit", Partition: message.AnyPartition, Value: make([]byte, 100)},
	})
	for i, r := range results {
		if r.Err == nil || reasonOf(t, r.Err) != TooLarge || r.Offset != -1 || r.Partition != message.AnyPartition {
			t.Errorf("result %d = %+v, want TooLarge, no partition, no offset", i, r)
		}
	}
	if n := kfaketest.Records(t, c, topic) + kfaketest.Records(t, c, "audit"); n != 0 {
		t.Errorf("%d records written, want 0", n)
	}
}

func TestUnknownTopicAndPartitionRefusedBeforeWriting(t *testing.T) {
	c := kfaketest.NewPartitionedCluster(t, 3, topic)
	p := newProducerWith(t, c.ListenAddrs(), func(s *config.Producer) { s.ProduceTimeout = 5 * time.Second })
	tests := []struct {
		name    string
		records []message.Record
		reason  Reason
		topic   string
		text    string
	}{
		{"unknown topic", []message.Record{{Topic: "nope", Partition: message.AnyPartition}},
			UnknownTopic, "nope", `topic "nope" does not exist`},
		{"unknown topic after a known one", []message.Record{{Topic: topic, Partition: message.AnyPartition}, {Topic: "nope", Partition: message.AnyPartition}},
			UnknownTopic, "nope", `topic "nope" does not exist`},
		{"partition 3 of 3", []message.Record{{Topic: topic, Partition: 3}},
			UnknownPartition, topic, `partition 3 does not exist in topic "events" (3 partitions)`},
		{"unknown topic with a partition", []message.Record{{Topic: "nope", Partition: 0}},
			UnknownTopic, "nope", `topic "nope" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			results := p.Publish(ctx, tt.records)
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("Publish took %s, want well under its 5s deadline", elapsed)
			}
			for i, r := range results {
				var perr *Error
				if !errors.As(r.Err, &perr) || perr.Reason != tt.reason || perr.Topic != tt.topic || perr.Error() != tt.text {
					t.Errorf("result %d = %+v, want reason %d, topic %s, %q", i, r, tt.reason, tt.topic, tt.text)
				}
			}
			if n := kfaketest.Records(t, c, topic); n != 0 {
				t.Errorf("%d records written, want 0", n)
			}
		})
	}
	// The last partition exists.
	got := p.Publish(context.Background(), []message.Record{{Topic: topic, Partition: 2, Value: []byte("v")}})
	if len(got) != 1 || got[0] != (message.Result{Topic: topic, Partition: 2, Offset: 0}) {
		t.Errorf("results %+v, want partition 2 offset 0", got)
	}
}

func TestAcksZeroResultsHaveNoOffset(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p := newProducerWith(t, c.ListenAddrs(), func(s *config.Producer) { s.RequiredAcks = 0 })
	for range 2 {
		got := p.Publish(context.Background(), record("v"))
		if len(got) != 1 || got[0] != (message.Result{Topic: topic, Partition: 0, Offset: -1}) {
			t.Errorf("results %+v, want partition 0, offset -1", got)
		}
	}
	kfaketest.ReadValues(t, c, topic, 2)
}

// newProducerWith is newProducer with settings changed by change.
func newProducerWith(t *testing.T, brokers []string, change func(*config.Producer)) *Producer {
	t.Helper()
	s := config.Producer{
		RequiredAcks: -1, ProduceTimeout: 10 * time.Second,
		BatchTimeout: time.Millisecond, BatchSize: 100, BatchBytes: 1 << 20,
		Partitioner: config.PartitionerMurmur2, Keyless: config.KeylessRoundRobin,
	}
	change(&s)
	p := New(config.Cluster{Brokers: brokers, ClientID: "test"}, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { p.Close() })
	return p
}

// A topic created after the producer's metadata was cached (a new config
// for it shares the producer) is not refused as unknown: a broker is asked
// before refusing, and the write's retries wait for the cache.
func TestTopicCreatedAfterTheCacheIsNotRefused(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p := newProducer(t, c.ListenAddrs(), 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if r := p.Publish(ctx, record("warm")); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "fresh", 1, 1
	req.Topics = append(req.Topics, rt)
	if _, err := req.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	if r := p.Publish(ctx, []message.Record{{Topic: "fresh", Value: []byte("v")}}); r[0].Err != nil {
		t.Fatalf("publish to a topic created a moment ago: %v", r[0].Err)
	}
	// A topic that does not exist is still refused at once.
	start := time.Now()
	if r := p.Publish(ctx, []message.Record{{Topic: "never", Value: []byte("v")}}); reasonOf(t, r[0].Err) != UnknownTopic {
		t.Errorf("a missing topic: %v, want UnknownTopic", r[0].Err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("refusing the missing topic took %v", d)
	}
}
