package producer

import (
	"github.com/segmentio/kafka-go"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
)

// balancer places each record: on the partition the client named, by the
// hash of its key, or, keyless, by the keyless policy. kafka-go ignores
// Message.Partition on writes, so the named partition travels in the
// message's WriterData (a *slot) and is honoured here.
type balancer struct {
	keyed   kafka.Balancer
	keyless kafka.Balancer
}

func newBalancer(s config.Producer) *balancer {
	b := &balancer{
		// Consistent: an empty key is a key and is hashed, as the Java
		// client does; only a nil key is keyless.
		keyed:   kafka.Murmur2Balancer{Consistent: true},
		keyless: &kafka.RoundRobin{},
	}
	if s.Partitioner == config.PartitionerCRC32 {
		// crc32(key) % partitions: lua-resty-kafka's placement, so Kong's.
		b.keyed = kafka.CRC32Balancer{Consistent: true}
	}
	if s.Keyless == config.KeylessRandom {
		// kafka-go's Murmur2Balancer places nil keys at random.
		b.keyless = kafka.Murmur2Balancer{}
	}
	return b
}

func (b *balancer) Balance(msg kafka.Message, partitions ...int) int {
	if s, ok := msg.WriterData.(*slot); ok && s.partition >= 0 {
		// Checked against the topic's partition count before the write.
		return s.partition
	}
	if msg.Key != nil {
		return b.keyed.Balance(msg, partitions...)
	}
	return b.keyless.Balance(msg, partitions...)
}
