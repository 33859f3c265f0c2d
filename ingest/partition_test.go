package ingest

import (
	"context"
	"fmt"
	"hash/crc32"
	"net/url"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

const partitions = 3

func TestExplicitPartition(t *testing.T) {
	c := kfaketest.NewPartitionedCluster(t, partitions, topic, "orders")
	cfg := fanOut("orders")
	cfg.PartitionQueryArg, cfg.PartitionHeader, cfg.KeyQueryArg = proto.String("p"), proto.String("x-partition"), proto.String("key")
	p, logs := newPipeline(t, c.ListenAddrs(), cfg)

	expect(t, p.Handle(context.Background(), get("/?p=2")), 200, sent(topic, 2, 0), "kafka_upstream_sent")
	// The header, when the query names none.
	expect(t, p.Handle(context.Background(), get("/", "x-partition", "1")), 200, sent(topic, 1, 0), "kafka_upstream_sent")
	// The named partition wins over the key's.
	expect(t, p.Handle(context.Background(), get("/?p=2&key=k")), 200, sent(topic, 2, 1), "kafka_upstream_sent")
	// The same partition for every topic of a fan-out.
	expect(t, p.Handle(context.Background(), get("/?p=0&topics=orders,events")), 200,
		`{"message":"message sent","records":[{"topic":"orders","partition":0,"offset":0},{"topic":"events","partition":0,"offset":0}]}`,
		"kafka_upstream_sent")

	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 4), []kfaketest.Record{
		{Partition: 0, Offset: 0, Value: emptyEnvelope},
		{Partition: 1, Offset: 0, Value: emptyEnvelope},
		{Partition: 2, Offset: 0, Value: emptyEnvelope},
		{Partition: 2, Offset: 1, Key: []byte("k"), Value: emptyEnvelope},
	})
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, "orders", 1), []kfaketest.Record{{Partition: 0, Offset: 0, Value: emptyEnvelope}})
	noLogs(t, logs)
}

func TestPartitionBeyondTheTopicsCount(t *testing.T) {
	c := kfaketest.NewPartitionedCluster(t, partitions, topic)
	cfg := &config.Config{PartitionQueryArg: proto.String("p")}
	p, logs := newPipeline(t, c.ListenAddrs(), cfg)
	for _, n := range []int{3, 7, 2147483647} {
		expect(t, p.Handle(context.Background(), get(fmt.Sprintf("/?p=%d", n))), 404,
			fmt.Sprintf(`{"message":"Not Found","error":"partition %d does not exist in topic \"events\" (3 partitions)"}`, n),
			"kafka_upstream_unknown_partition")
	}
	if n := kfaketest.Records(t, c, topic); n != 0 {
		t.Errorf("%d records written, want none", n)
	}
	noLogs(t, logs)
}

// A partition that one topic of a fan-out has and another has not: nothing
// is written to either.
func TestPartitionMissingInOneTopicOfAFanOut(t *testing.T) {
	c := kfaketest.NewClusterOpts(t, kfake.SeedTopics(partitions, topic), kfake.SeedTopics(1, "small"))
	cfg := fanOut("small")
	cfg.PartitionQueryArg = proto.String("p")
	p, _ := newPipeline(t, c.ListenAddrs(), cfg)
	expect(t, p.Handle(context.Background(), get("/?topics=events,small&p=2")), 404,
		`{"message":"Not Found","error":"partition 2 does not exist in topic \"small\" (1 partition)"}`,
		"kafka_upstream_unknown_partition")
	if n := kfaketest.Records(t, c, topic) + kfaketest.Records(t, c, "small"); n != 0 {
		t.Errorf("%d records written, want none", n)
	}
}

// keyedRecords publishes one record per key through ?key= and checks each
// lands where want says, reading them back whole.
func keyedRecords(t *testing.T, cfg *config.Config, keys [][]byte, want func(key []byte) int) {
	t.Helper()
	c := kfaketest.NewPartitionedCluster(t, partitions, topic)
	cfg.KeyQueryArg = proto.String("key")
	p, logs := newPipeline(t, c.ListenAddrs(), cfg)
	var records []kfaketest.Record
	next := map[int]int64{}
	used := map[int]bool{}
	for _, key := range keys {
		partition := want(key)
		used[partition] = true
		expect(t, p.Handle(context.Background(), get("/?key="+url.QueryEscape(string(key)))), 200,
			sent(topic, partition, next[partition]), "kafka_upstream_sent")
		records = append(records, kfaketest.Record{Partition: int32(partition), Offset: next[partition], Key: key, Value: emptyEnvelope})
		next[partition]++
	}
	if len(used) < 2 {
		t.Fatalf("the keys all go to one partition (%v): pick keys that tell partitioners apart", used)
	}
	got := kfaketest.ReadRecords(t, c, topic, len(keys))
	sortRecords(records)
	kfaketest.CheckRecords(t, got, records)
	noLogs(t, logs)
}

var keys = [][]byte{[]byte{}, []byte("a"), []byte("k1"), []byte("user-42"), []byte("tenant/7"), []byte("\xff\xfe"), []byte("a somewhat longer key")}

func TestKeyedRecordsMurmur2(t *testing.T) {
	java := kgo.StickyKeyPartitioner(nil).ForTopic(topic) // franz-go's copy of the Java client's placement
	keyedRecords(t, &config.Config{}, keys, func(key []byte) int {
		p := kafka.Murmur2Balancer{Consistent: true}.Balance(kafka.Message{Key: key}, 0, 1, 2)
		if j := java.Partition(&kgo.Record{Key: key}, partitions); j != p {
			t.Fatalf("key %q: kafka-go's murmur2 says %d, the Java client's %d", key, p, j)
		}
		return p
	})
}

func TestKeyedRecordsCRC32(t *testing.T) {
	keyedRecords(t, &config.Config{Partitioner: config.PartitionerCRC32}, keys, func(key []byte) int {
		p := kafka.CRC32Balancer{Consistent: true}.Balance(kafka.Message{Key: key}, 0, 1, 2)
		if want := int(crc32.ChecksumIEEE(key) % partitions); p != want {
			t.Fatalf("key %q: kafka-go's crc32 says %d, crc32(key) %% 3 is %d", key, p, want)
		}
		return p
	})
}

// The empty key is a key, hashed like any: crc32("") is 0.
func TestEmptyKeyIsHashed(t *testing.T) {
	if p := (kafka.CRC32Balancer{Consistent: true}).Balance(kafka.Message{Key: []byte{}}, 0, 1, 2); p != 0 {
		t.Fatalf("crc32 of the empty key gives partition %d, want 0", p)
	}
	c := kfaketest.NewPartitionedCluster(t, partitions, topic)
	p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{Partitioner: config.PartitionerCRC32, KeyQueryArg: proto.String("key")})
	for i := range int64(3) {
		expect(t, p.Handle(context.Background(), get("/?key=")), 200, sent(topic, 0, i), "kafka_upstream_sent")
	}
	got := kfaketest.ReadRecords(t, c, topic, 3)
	for _, r := range got {
		if r.Key == nil || len(r.Key) != 0 || r.Partition != 0 {
			t.Errorf("record %s, want an empty (non-nil) key on partition 0", r)
		}
	}
}

func TestKeylessRoundRobin(t *testing.T) {
	c := kfaketest.NewPartitionedCluster(t, partitions, topic)
	p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{KeylessPartitioning: config.KeylessRoundRobin})
	var want []kfaketest.Record
	first := -1
	for i := range 6 {
		got := p.Handle(context.Background(), get("/"))
		var partition int
		if _, err := fmt.Sscanf(string(got.Body), `{"message":"message sent","records":[{"topic":"events","partition":%d,`, &partition); err != nil {
			t.Fatalf("reply %s: %v", got.Body, err)
		}
		if first < 0 {
			first = partition
		}
		// Each record to the next partition, whichever the first was.
		wantPartition := (first + i) % partitions
		expect(t, got, 200, sent(topic, wantPartition, int64(i/partitions)), "kafka_upstream_sent")
		want = append(want, kfaketest.Record{Partition: int32(wantPartition), Offset: int64(i / partitions), Value: emptyEnvelope})
	}
	sortRecords(want)
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 6), want)
	for partition := range int32(partitions) {
		if hw := c.PartitionInfo(topic, partition).HighWatermark; hw != 2 {
			t.Errorf("partition %d holds %d records, want 2", partition, hw)
		}
	}
}

// Random placement cannot be predicted; 30 records all on one partition
// would happen with probability 3 × 3^-30.
func TestKeylessRandom(t *testing.T) {
	c := kfaketest.NewPartitionedCluster(t, partitions, topic)
	p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{KeylessPartitioning: config.KeylessRandom})
	for range 30 {
		if got := p.Handle(context.Background(), get("/")); got.Status != 200 {
			t.Fatalf("reply %d %s", got.Status, got.Body)
		}
	}
	used := 0
	for _, r := range c.PartitionInfos(topic) {
		if r.HighWatermark > 0 {
			used++
		}
	}
	if used < 2 {
		t.Errorf("30 random keyless records all went to one partition")
	}
	for _, r := range kfaketest.ReadRecords(t, c, topic, 30) {
		if r.Key != nil {
			t.Errorf("record %s has a key", r)
		}
	}
}

func sortRecords(rs []kfaketest.Record) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && (rs[j].Partition < rs[j-1].Partition ||
			rs[j].Partition == rs[j-1].Partition && rs[j].Offset < rs[j-1].Offset); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}
