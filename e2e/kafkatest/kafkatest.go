// Package kafkatest reads back what the tests published, from a real broker
// (or kfake): topic creation, end offsets, and reading the records that
// arrived after a given offset on a single-partition topic. records.go reads
// records back whole from any partition, checks what each partition grew by,
// and writes the replies the tests expect. java.go asks the Java client where
// it places keyed records, through e2e/kafka.sh.
package kafkatest

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Bootstrap returns the broker address of the run ($KAFKA_BOOTSTRAP), set
// by e2e/with-kafka.sh. Its absence fails the test: these tests are run on
// purpose, by make, with a broker.
func Bootstrap(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("KAFKA_BOOTSTRAP")
	if addr == "" {
		t.Fatal("KAFKA_BOOTSTRAP is not set: run these tests with `make integration` / `make e2e` (e2e/with-kafka.sh starts a broker)")
	}
	return addr
}

// EnsureTopic creates a single-partition topic if missing and waits until
// its partition has a leader.
func EnsureTopic(t testing.TB, bootstrap, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(bootstrap)}
	for {
		resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
			Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}},
		})
		if err == nil {
			err = resp.Errors[topic]
		}
		if err == nil || errors.Is(err, kafka.TopicAlreadyExists) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("creating topic %s: %v", topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	EndOffset(t, bootstrap, topic) // returns once the leader answers
}

// CreateTopic creates a topic with the given number of partitions and topic
// configs ("max.message.bytes=5242880", ...) if it does not exist yet, and
// waits until every partition has a leader. An existing topic is fine if it
// has that many partitions (its configs are not checked or changed), like
// `e2e/kafka.sh create-topic`, whose --if-not-exists it mirrors. It uses
// kafka-go's admin API on $KAFKA_BOOTSTRAP, not kafka.sh (no JVM start):
// root, the repository root, is unused and only there so that calls read
// like JavaPartitions'.
func CreateTopic(t testing.TB, root, name string, partitions int, configs ...string) {
	t.Helper()
	_ = root
	bootstrap := Bootstrap(t)
	entries := make([]kafka.ConfigEntry, 0, len(configs))
	for _, c := range configs {
		k, v, ok := strings.Cut(c, "=")
		if !ok || k == "" {
			t.Fatalf("CreateTopic %s: config %q is not KEY=VALUE", name, c)
		}
		entries = append(entries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(bootstrap)}
	for {
		resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
			Topics: []kafka.TopicConfig{{
				Topic: name, NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: entries,
			}},
		})
		if err == nil {
			err = resp.Errors[name]
		}
		if err == nil || errors.Is(err, kafka.TopicAlreadyExists) {
			break
		}
		// Invalid partition counts and configs are final; only a broker
		// that is not ready yet is worth waiting for.
		if errors.Is(err, kafka.InvalidConfiguration) || errors.Is(err, kafka.InvalidPartitionNumber) ||
			errors.Is(err, kafka.InvalidTopic) || errors.Is(err, kafka.InvalidRequest) || ctx.Err() != nil {
			t.Fatalf("creating topic %s (%d partitions, configs %q): %v", name, partitions, configs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := partitionCount(t, bootstrap, name); n != partitions {
		t.Fatalf("topic %s exists with %d partitions, not %d", name, n, partitions)
	}
	for p := 0; p < partitions; p++ {
		PartitionEndOffset(t, bootstrap, name, p) // returns once the leader answers
	}
}

// EndOffset returns the offset the next record of partition 0 will get.
func EndOffset(t testing.TB, bootstrap, topic string) int64 {
	t.Helper()
	return PartitionEndOffset(t, bootstrap, topic, 0)
}

// PartitionEndOffset returns the offset the next record of a partition will
// get, waiting up to a minute for the partition's leader.
func PartitionEndOffset(t testing.TB, bootstrap, topic string, partition int) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		off, err := lastOffset(ctx, bootstrap, topic, partition)
		if err == nil {
			return off
		}
		if ctx.Err() != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, partition, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func lastOffset(ctx context.Context, bootstrap, topic string, partition int) (int64, error) {
	conn, err := kafka.DialLeader(ctx, "tcp", bootstrap, topic, partition)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return conn.ReadLastOffset()
}

// Read returns exactly n records of partition 0 starting at offset, failing
// the test if they do not arrive within the timeout.
func Read(t testing.TB, bootstrap, topic string, offset int64, n int) []kafka.Message {
	t.Helper()
	if n == 0 {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   []string{bootstrap},
		Topic:     topic,
		Partition: 0,
		MaxWait:   100 * time.Millisecond,
		MaxBytes:  16 << 20,
	})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs := make([]kafka.Message, 0, n)
	for len(msgs) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading %s from offset %d: got %d of %d records: %v", topic, offset, len(msgs), n, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
