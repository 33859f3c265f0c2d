//go:build integration

package kafkatest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// The Java client's placement of keyed records, as JavaPartitions reports
// it, is stable, spreads keys, and agrees with kafka-go's murmur2 balancer.
// About 10 s: one topic, two JavaPartitions calls (four JVM starts).
func TestJavaPartitions(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bootstrap := Bootstrap(t)
	topic := fmt.Sprintf("kafkatest-java-%d", time.Now().UnixNano())
	const partitions = 7
	CreateTopic(t, root, topic, partitions, "max.message.bytes=5242880")
	CreateTopic(t, root, topic, partitions) // again: an existing topic is fine
	if got := topicConfig(t, bootstrap, topic, "max.message.bytes"); got != "5242880" {
		t.Errorf("max.message.bytes of %s = %q, want 5242880", topic, got)
	}

	keys := []string{"order-42", "ключ-é-鍵", "", strings.Repeat("x", 1000), "with spaces", "null"}
	for i := 0; i < 10; i++ {
		keys = append(keys, fmt.Sprintf("user-%d", i))
	}
	first := JavaPartitions(t, root, topic, keys)
	second := JavaPartitions(t, root, topic, keys[:4])

	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	used := map[int]bool{}
	for _, k := range keys {
		p := first[k]
		used[p] = true
		goP := kafka.Murmur2Balancer{Consistent: true}.Balance(kafka.Message{Key: []byte(k)}, ids...)
		if goP != p {
			t.Errorf("key %q: Java partition %d, kafka-go Murmur2Balancer %d", short(k), p, goP)
		}
		t.Logf("key %-22q Java %d  kafka-go %d", short(k), p, goP)
	}
	for _, k := range keys[:4] {
		if second[k] != first[k] {
			t.Errorf("key %q: partition %d, then %d", short(k), first[k], second[k])
		}
	}
	if len(used) < 2 {
		t.Errorf("%d keys all on partition(s) %v of %d", len(keys), used, partitions)
	}
}

func short(k string) string {
	if len(k) > 16 {
		return fmt.Sprintf("%s...(%d bytes)", k[:8], len(k))
	}
	return k
}

func topicConfig(t *testing.T, bootstrap, topic, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := (&kafka.Client{Addr: kafka.TCP(bootstrap)}).DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{name},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == name {
				return e.ConfigValue
			}
		}
	}
	return ""
}
