package producer

import (
	"hash/crc32"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

var balancerKeys = [][]byte{{}, []byte("a"), []byte("k1"), []byte("user-42"), []byte("\xff\xfe"), []byte("a somewhat longer key")}

func msg(key []byte, partition int) kafka.Message {
	return kafka.Message{Key: key, WriterData: &slot{partition: partition}}
}

func TestBalancerMurmur2IsTheJavaClients(t *testing.T) {
	b := newBalancer(config.Producer{Partitioner: config.PartitionerMurmur2, Keyless: config.KeylessRoundRobin})
	java := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, n := range []int{1, 3, 7, 100} {
		parts := partitionList(n)
		for _, key := range balancerKeys {
			want := java.Partition(&kgo.Record{Key: key}, n)
			if got := b.Balance(msg(key, message.AnyPartition), parts...); got != want {
				t.Errorf("murmur2 key %q over %d partitions = %d, want %d (Java client)", key, n, got, want)
			}
		}
	}
}

func TestBalancerCRC32(t *testing.T) {
	b := newBalancer(config.Producer{Partitioner: config.PartitionerCRC32, Keyless: config.KeylessRoundRobin})
	for _, n := range []int{1, 3, 7, 100} {
		for _, key := range balancerKeys {
			want := int(crc32.ChecksumIEEE(key) % uint32(n))
			if got := b.Balance(msg(key, message.AnyPartition), partitionList(n)...); got != want {
				t.Errorf("crc32 key %q over %d partitions = %d, want %d", key, n, got, want)
			}
		}
	}
	if got := b.Balance(msg([]byte{}, message.AnyPartition), 0, 1, 2); got != 0 {
		t.Errorf("crc32 of the empty key = %d, want 0", got)
	}
}

func TestBalancerNamedPartitionWins(t *testing.T) {
	for _, p := range []config.Producer{
		{Partitioner: config.PartitionerMurmur2, Keyless: config.KeylessRoundRobin},
		{Partitioner: config.PartitionerCRC32, Keyless: config.KeylessRandom},
	} {
		b := newBalancer(p)
		for _, key := range append(balancerKeys, nil) {
			for _, named := range []int{0, 1, 2} {
				if got := b.Balance(msg(key, named), 0, 1, 2); got != named {
					t.Errorf("%+v: key %q, partition %d named: got %d", p, key, named, got)
				}
			}
		}
	}
}

func TestBalancerKeylessRoundRobin(t *testing.T) {
	b := newBalancer(config.Producer{Partitioner: config.PartitionerMurmur2, Keyless: config.KeylessRoundRobin})
	var got []int
	for range 7 {
		got = append(got, b.Balance(msg(nil, message.AnyPartition), 0, 1, 2))
	}
	for i := 1; i < len(got); i++ {
		if got[i] != (got[i-1]+1)%3 {
			t.Fatalf("keyless partitions %v, want each the next", got)
		}
	}
	// A message without the producer's slot (kafka-go's own retries keep
	// it; still, never panic) is placed by its key.
	if got := b.Balance(kafka.Message{Key: []byte("k1")}, 0, 1, 2); got != (kafka.Murmur2Balancer{Consistent: true}).Balance(kafka.Message{Key: []byte("k1")}, 0, 1, 2) {
		t.Errorf("a message without slot went to %d", got)
	}
}

func TestBalancerKeylessRandomStaysInRange(t *testing.T) {
	b := newBalancer(config.Producer{Partitioner: config.PartitionerMurmur2, Keyless: config.KeylessRandom})
	seen := map[int]int{}
	for range 300 {
		p := b.Balance(msg(nil, message.AnyPartition), 0, 1, 2)
		if p < 0 || p > 2 {
			t.Fatalf("partition %d out of 0..2", p)
		}
		seen[p]++
	}
	// Each partition has 100 expected; fewer than 50 is a 1e-8 event.
	for p := range 3 {
		if seen[p] < 50 {
			t.Errorf("random keyless placement %v is not spread", seen)
		}
	}
}

func partitionList(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
