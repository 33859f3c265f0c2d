// Package kfaketest holds test helpers shared by the project's tests: an
// in-process Kafka cluster (franz-go's kfake), reading its records back with
// franz-go's kgo, holding or failing its produce requests, and building the
// plugin_config Any that Envoy hands to the filter.
//
// It is a normal package so that tests of several packages can import it,
// but only tests import it: production code must not.
package kfaketest

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// ReadTimeout bounds ReadValues; the tests normally read far sooner.
const ReadTimeout = 15 * time.Second

// NewCluster starts a one-broker kfake cluster with each of topics (one
// partition each), closed when the test ends. It fails the test unless the
// cluster listens on 127.0.0.1 only.
func NewCluster(t testing.TB, topics ...string) *kfake.Cluster {
	t.Helper()
	return NewPartitionedCluster(t, 1, topics...)
}

// NewPartitionedCluster is NewCluster with partitions partitions in each
// of topics.
func NewPartitionedCluster(t testing.TB, partitions int32, topics ...string) *kfake.Cluster {
	t.Helper()
	return NewClusterOpts(t, kfake.SeedTopics(partitions, topics...))
}

// NewClusterOpts starts a one-broker kfake cluster with opts (topics of
// different partition counts: several kfake.SeedTopics), closed when the
// test ends, listening on 127.0.0.1 only.
func NewClusterOpts(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	for _, a := range c.ListenAddrs() {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("kfake listens on %s, want 127.0.0.1", a)
		}
	}
	return c
}

// RefusingAddr returns an address on 127.0.0.1 that nothing listens on
// any more (a listener opened and closed at once): a broker there refuses
// connections, failing the dial at once.
func RefusingAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// HighWatermark returns the high watermark of topic/0, failing the test if
// that partition does not exist.
func HighWatermark(t testing.TB, c *kfake.Cluster, topic string) int64 {
	t.Helper()
	p := c.PartitionInfo(topic, 0)
	if p == nil {
		t.Fatalf("topic %s partition 0 does not exist", topic)
	}
	return p.HighWatermark
}

// HoldProduce makes the cluster hold every produce request, as a broker
// that hangs, until release is called or the test ends; then the held
// requests are handled normally, so that closing the producer does not
// wait out kafka-go's retries. Call it after building the producer (the
// pipeline, server or command holding it): cleanups run last-in first-out,
// so the requests are released before the producer is closed. A receive on
// arrived means a produce request reached the broker.
func HoldProduce(t testing.TB, c *kfake.Cluster) (arrived <-chan struct{}, release func()) {
	in := make(chan struct{}, 1)
	held := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(held) }) }
	t.Cleanup(release)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		select {
		case in <- struct{}{}:
		default:
		}
		c.SleepControl(func() { <-held })
		return nil, nil, false // then let the cluster handle it
	})
	return in, release
}

// FailProduce answers the first n produce requests with errCode for every
// partition, then lets the cluster handle them; it counts all of them.
func FailProduce(c *kfake.Cluster, n int32, errCode int16) *atomic.Int32 {
	var seen atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if seen.Add(1) > n {
			return nil, nil, false
		}
		return ProduceFailure(req.(*kmsg.ProduceRequest), errCode), nil, true
	})
	return &seen
}

// ProduceFailure is the response refusing every partition of pr with
// errCode, for a kfake control function failing a produce request.
func ProduceFailure(pr *kmsg.ProduceRequest, errCode int16) *kmsg.ProduceResponse {
	resp := pr.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range pr.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = errCode
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// ReadValues consumes exactly n records from the start of topic/0 with
// franz-go and returns their values. It fails the test if they do not come
// within ReadTimeout or a fetch fails, reports any record with a key, and
// requires the high watermark to be n, so that no record is left unread.
func ReadValues(t testing.TB, c *kfake.Cluster, topic string, n int) []string {
	t.Helper()
	var values []string
	consume(t, c, topic, n, func(r *kgo.Record) {
		if r.Key != nil {
			t.Errorf("record key = %q, want none", r.Key)
		}
		values = append(values, string(r.Value))
	}, func() string { return fmt.Sprintf("%q", values) })
	if hw := HighWatermark(t, c, topic); hw != int64(n) {
		t.Fatalf("%s high watermark = %d, want %d", topic, hw, n)
	}
	return values
}

// consume reads topic from the start of every partition with franz-go,
// handing each record to add, until n records came. It fails the test if a
// fetch fails or they do not come within ReadTimeout, saying sofar() (the
// records read until then).
func consume(t testing.TB, c *kfake.Cluster, topic string, n int, add func(*kgo.Record), sofar func() string) {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ReadTimeout)
	defer cancel()
	for read := 0; read < n; {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s before %s: %s", read, n, topic, ReadTimeout, sofar())
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetching %s/%d: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			add(r)
			read++
		})
	}
}

// Record is a record as read back from the cluster.
type Record struct {
	Partition int32
	Offset    int64
	// Key is nil for a keyless record, empty (non-nil) for an empty key.
	Key     []byte
	Value   string
	Headers []Header
}

// String shows every field, the key as nil or quoted, so that a nil key
// and an empty one read differently in test failures.
func (r Record) String() string {
	key := "nil"
	if r.Key != nil {
		key = strconv.Quote(string(r.Key))
	}
	return fmt.Sprintf("{partition %d offset %d key %s value %q headers %q}", r.Partition, r.Offset, key, r.Value, r.Headers)
}

// CheckRecords fails the test unless got and want are the same records
// (a nil key differs from an empty one, no headers from empty headers).
func CheckRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records =\n%s\nwant\n%s", recordLines(got), recordLines(want))
	}
}

func recordLines(rs []Record) string {
	lines := make([]string, len(rs))
	for i, r := range rs {
		lines[i] = "  " + r.String()
	}
	return strings.Join(lines, "\n")
}

// Header is a record header as read back; Kafka allows a key to repeat.
type Header struct {
	Key   string
	Value string
}

// Records is the number of records in all partitions of topic (the sum of
// their high watermarks), failing the test if the topic does not exist.
func Records(t testing.TB, c *kfake.Cluster, topic string) int64 {
	t.Helper()
	infos := c.PartitionInfos(topic)
	if len(infos) == 0 {
		t.Fatalf("topic %s does not exist", topic)
	}
	var n int64
	for _, p := range infos {
		n += p.HighWatermark
	}
	return n
}

// ReadRecords consumes exactly n records from the start of every partition
// of topic with franz-go and returns them whole, ordered by partition, then
// offset. It fails the test if they do not come within ReadTimeout or a
// fetch fails, and requires the topic to hold n records in all, so that no
// record is left unread.
func ReadRecords(t testing.TB, c *kfake.Cluster, topic string, n int) []Record {
	t.Helper()
	var records []Record
	consume(t, c, topic, n, func(r *kgo.Record) {
		rec := Record{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: string(r.Value)}
		for _, h := range r.Headers {
			rec.Headers = append(rec.Headers, Header{Key: h.Key, Value: string(h.Value)})
		}
		records = append(records, rec)
	}, func() string { return fmt.Sprintf("%+v", records) })
	if total := Records(t, c, topic); total != int64(n) {
		t.Fatalf("%s holds %d records, want %d", topic, total, n)
	}
	sort.SliceStable(records, func(i, j int) bool {
		if records[i].Partition != records[j].Partition {
			return records[i].Partition < records[j].Partition
		}
		return records[i].Offset < records[j].Offset
	})
	return records
}

// TypedStruct wraps fields as Envoy hands a static plugin_config to the
// filter's Parse: an Any of xds.type.v3.TypedStruct with type_url typeURL
// whose value is a Struct of fields.
func TypedStruct(t testing.TB, typeURL string, fields map[string]any) *anypb.Any {
	t.Helper()
	value, err := structpb.NewStruct(fields)
	if err != nil {
		t.Fatalf("building the plugin_config struct: %v", err)
	}
	a, err := anypb.New(&xdstype.TypedStruct{TypeUrl: typeURL, Value: value})
	if err != nil {
		t.Fatalf("building the plugin_config Any: %v", err)
	}
	return a
}
