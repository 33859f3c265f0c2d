package kafkatest

// Reading records back whole from any partition, end offsets of every
// partition, and the expected replies, for e2e/integration and e2e/envoy.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"
)

// Record is a Kafka record as read back. Key and Value are nil for null
// (kafka-go's Client.Fetch tells null from empty, its Reader does not).
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []kafka.Header
}

func (r Record) String() string {
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

// Fetch returns the n records of topic/partition from offset on, failing
// the test if they do not all arrive within 30 s.
func Fetch(t testing.TB, bootstrap, topic string, partition int, offset int64, n int) []Record {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(bootstrap), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make([]Record, 0, n)
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
			rec := Record{Topic: topic, Partition: partition, Offset: r.Offset, Key: readBytes(t, r.Key), Value: readBytes(t, r.Value)}
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

func readBytes(t testing.TB, b kafka.Bytes) []byte {
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

// FetchOne returns the record at topic/partition/offset.
func FetchOne(t testing.TB, bootstrap, topic string, partition int, offset int64) Record {
	t.Helper()
	return Fetch(t, bootstrap, topic, partition, offset, 1)[0]
}

// ExpectRecord compares a record read back with the one expected, whole:
// place, key (null told from empty), value, headers in order.
func ExpectRecord(t testing.TB, got, want Record) {
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

// Headers builds record headers from key, value pairs.
func Headers(kv ...string) []kafka.Header {
	var hs []kafka.Header
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, kafka.Header{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

// Offsets holds the end offset of every partition of some topics.
type Offsets map[string][]int64

// Snapshot reads the end offsets of topics, each with the given number of
// partitions.
func Snapshot(t testing.TB, bootstrap string, topics map[string]int) Offsets {
	t.Helper()
	o := Offsets{}
	for topic, n := range topics {
		o[topic] = make([]int64, n)
		for p := 0; p < n; p++ {
			o[topic][p] = PartitionEndOffset(t, bootstrap, topic, p)
		}
	}
	return o
}

// ExpectGrowth requires every partition's end offset to be its offset in
// before plus the count in grown ("topic/partition" → records), and every
// other partition to be unchanged: nothing else was written.
func ExpectGrowth(t testing.TB, bootstrap string, before Offsets, grown map[string]int) {
	t.Helper()
	sizes := map[string]int{}
	for topic, o := range before {
		sizes[topic] = len(o)
	}
	after := Snapshot(t, bootstrap, sizes)
	for topic, o := range before {
		for p, end := range o {
			want := end + int64(grown[fmt.Sprintf("%s/%d", topic, p)])
			if got := after[topic][p]; got != want {
				t.Errorf("end offset of %s/%d = %d, want %d (was %d)", topic, p, got, want, end)
			}
		}
	}
}

// ExpectNothingWritten requires every partition of before to be unchanged.
func ExpectNothingWritten(t testing.TB, bootstrap string, before Offsets) {
	t.Helper()
	ExpectGrowth(t, bootstrap, before, nil)
}

// Placed is one entry of a 200 reply's "records".
type Placed struct {
	Topic     string
	Partition int
	Offset    int64 // -1: no offset (acks=0)
}

// At is the Placed entry of a record at topic/partition/offset.
func At(topic string, partition int, offset int64) Placed {
	return Placed{Topic: topic, Partition: partition, Offset: offset}
}

// SentReply is the 200 body for records placed as given, in topic order.
func SentReply(rs ...Placed) string {
	var parts []string
	for _, r := range rs {
		if r.Offset < 0 {
			parts = append(parts, fmt.Sprintf(`{"topic":%s,"partition":%d}`, JSONText(r.Topic), r.Partition))
			continue
		}
		parts = append(parts, fmt.Sprintf(`{"topic":%s,"partition":%d,"offset":%d}`, JSONText(r.Topic), r.Partition, r.Offset))
	}
	return `{"message":"message sent","records":[` + strings.Join(parts, ",") + `]}`
}

// ErrorBody is a failure reply's body.
func ErrorBody(message, err string) string {
	return `{"message":` + JSONText(message) + `,"error":` + JSONText(err) + `}`
}

// JSONText is s as a JSON string, without HTML escaping, as the replies
// and the record envelope write it (s valid UTF-8).
func JSONText(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// BigJSON is a JSON object of exactly n bytes, with whitespace to compact,
// quotes and non-ASCII text to escape.
func BigJSON(n int) []byte {
	var b strings.Builder
	b.WriteString("{\"items\": [")
	for i := 0; b.Len() < n-200; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{\"id\": %d, \"name\": \"item é %d\", \"tags\": [\"a\", \"b\"]}", i, i)
	}
	b.WriteString("], \"pad\": \"")
	b.WriteString(strings.Repeat("x", n-b.Len()-2))
	b.WriteString("\"}")
	return []byte(b.String())
}

// Latin1 reads s as Latin-1 when it is not UTF-8, as the envelope reads
// header values and decoded query and form values.
func Latin1(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r)
}
