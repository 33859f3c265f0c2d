package kafkatest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// JavaPartitions returns the partition the Java client (Kafka's own
// producer, default partitioner: murmur2 of the key's UTF-8 bytes) puts each
// of keys on, for topic as it is now: the reference the filter's murmur2
// placement must match.
//
// It creates nothing: the topic must exist (CreateTopic). Each key is
// produced with the value "k<i>" (i its index in keys) through
// `e2e/kafka.sh produce-keyed` (ConsoleProducer, acks=all), and read back
// through `e2e/kafka.sh consume-partitions`, which prints partition, offset,
// key and value of every record; only records after the partitions' end
// offsets at the start of the call count, so a topic can serve several
// calls. The key each record arrived with must be exactly the key sent (an
// empty key arrives empty, not null). Keys must not contain tabs, CR or LF
// (one line per record). root is the repository root; the broker is
// $KAFKA_BOOTSTRAP, which must be 127.0.0.1:PORT (kafka.sh's broker). Costs
// two JVM starts, about 4-5 s.
func JavaPartitions(t testing.TB, root, topic string, keys []string) map[string]int {
	t.Helper()
	bootstrap := Bootstrap(t)
	port := scriptPort(t, bootstrap)
	var in bytes.Buffer
	for i, k := range keys {
		if strings.ContainsAny(k, "\t\r\n") {
			t.Fatalf("JavaPartitions: key %q contains a tab, CR or LF: kafka.sh produce-keyed reads one KEY<TAB>VALUE per line", k)
		}
		fmt.Fprintf(&in, "%s\tk%d\n", k, i)
	}
	n := partitionCount(t, bootstrap, topic)
	before := make([]int64, n)
	for p := range before {
		before[p] = PartitionEndOffset(t, bootstrap, topic, p)
	}

	kafkaSh(t, root, port, in.Bytes(), "produce-keyed", topic)

	// consume-partitions reads from the beginning: ask for every record the
	// topic now holds, so that ours are among them.
	var total int64
	for p := 0; p < n; p++ {
		first, last := offsetRange(t, bootstrap, topic, p)
		total += last - first
	}
	out := kafkaSh(t, root, port, nil, "consume-partitions", topic, strconv.FormatInt(total, 10), "10000")

	got := make(map[string]int, len(keys))
	seen := make([]bool, len(keys))
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.SplitN(line, "\t", 4)
		if len(f) != 4 {
			t.Fatalf("JavaPartitions: unexpected line from kafka.sh consume-partitions: %q", line)
		}
		p, err1 := strconv.Atoi(f[0])
		off, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || p < 0 || p >= n {
			t.Fatalf("JavaPartitions: unexpected line from kafka.sh consume-partitions: %q", line)
		}
		if off < before[p] || !strings.HasPrefix(f[3], "k") {
			continue // an earlier record
		}
		i, err := strconv.Atoi(f[3][1:])
		if err != nil || i < 0 || i >= len(keys) {
			continue // not one of ours
		}
		if f[2] != keys[i] {
			t.Fatalf("JavaPartitions: record %q (partition %d, offset %d) has key %q, sent %q", f[3], p, off, f[2], keys[i])
		}
		if seen[i] {
			t.Fatalf("JavaPartitions: record %q arrived twice", f[3])
		}
		seen[i] = true
		if q, ok := got[keys[i]]; ok && q != p {
			t.Fatalf("JavaPartitions: the Java client put key %q on partitions %d and %d", keys[i], q, p)
		}
		got[keys[i]] = p
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("JavaPartitions: record k%d (key %q) not read back from %s", i, keys[i], topic)
		}
	}
	return got
}

// kafkaSh runs e2e/kafka.sh against the broker on 127.0.0.1:port and
// returns its stdout; a failure ends the test with its stderr.
func kafkaSh(t testing.TB, root, port string, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "e2e", "kafka.sh"), args...)
	cmd.Env = append(os.Environ(), "KAFKA_PORT="+port)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("e2e/kafka.sh %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// scriptPort is the port of bootstrap, which must be a broker kafka.sh can
// reach (it only talks to 127.0.0.1), and must agree with $KAFKA_PORT if set:
// kafka.sh would otherwise fall back to 9092, the demo's broker.
func scriptPort(t testing.TB, bootstrap string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(bootstrap)
	if err != nil || (host != "127.0.0.1" && host != "localhost") {
		t.Fatalf("KAFKA_BOOTSTRAP=%q: e2e/kafka.sh needs a broker on 127.0.0.1:PORT", bootstrap)
	}
	if env := os.Getenv("KAFKA_PORT"); env != "" && env != port {
		t.Fatalf("KAFKA_PORT=%s disagrees with KAFKA_BOOTSTRAP=%s", env, bootstrap)
	}
	return port
}

// partitionCount is the number of partitions of topic, waiting for its
// metadata if it was just created.
func partitionCount(t testing.TB, bootstrap, topic string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		n, err := readPartitionCount(ctx, bootstrap, topic)
		if err == nil && n > 0 {
			return n
		}
		if ctx.Err() != nil {
			t.Fatalf("partitions of %s: %d, %v", topic, n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readPartitionCount(ctx context.Context, bootstrap, topic string) (int, error) {
	conn, err := (&kafka.Dialer{}).DialContext(ctx, "tcp", bootstrap)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ps, err := conn.ReadPartitions(topic)
	return len(ps), err
}

// offsetRange returns the first and the end offset of a partition.
func offsetRange(t testing.TB, bootstrap, topic string, partition int) (first, end int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", bootstrap, topic, partition)
	if err != nil {
		t.Fatalf("leader of %s/%d: %v", topic, partition, err)
	}
	defer conn.Close()
	first, end, err = conn.ReadOffsets()
	if err != nil {
		t.Fatalf("offsets of %s/%d: %v", topic, partition, err)
	}
	return first, end
}
