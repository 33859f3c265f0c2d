//go:build integration

package integration_test

// Where records go, against the real broker: keys placed as the Java
// client places them (murmur2) or as Kong does (crc32), keyless records
// spread round robin, partitions named by the client, fan-out to several
// topics, the allowlist, and topics that do not exist.

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
)

// roundTrip sends one request through a new stream of cfg and returns the
// reply (which must come from the filter's goroutine).
func roundTrip(t *testing.T, cfg any, hs []string, body []byte) filtertest.LocalReply {
	t.Helper()
	s := newStream(cfg)
	s.send(t, filtertest.NewHeaders(hs...), body)
	return s.finish(t)
}

// post is the header list of a JSON POST to path.
func post(path string, extra ...string) []string {
	return append([]string{":method", "POST", ":path", path, ":authority", authority, ":scheme", "http",
		"content-type", "application/json"}, extra...)
}

// keyCases are the keys whose placement is compared with the Java
// client's: ASCII, multi-byte UTF-8, the empty key (a key, hashed, not a
// keyless record) and a long one.
var keyCases = []struct{ name, key string }{
	{"ascii", "order-42"},
	{"utf8", "ключ-é-鍵"},
	{"empty", ""},
	{"long", strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.~!", 15)[:1000]},
}

func keyList() []string {
	keys := make([]string, len(keyCases))
	for i, k := range keyCases {
		keys[i] = k.key
	}
	return keys
}

// publishKeyed publishes one record per key case to topic through cfg
// (key_query_arg "key", forward_method only) and checks that each lands on
// partitionOf(key), is told so with its offset, and reads back whole.
func publishKeyed(t *testing.T, bootstrap, topic string, partitions int, cfg any, partitionOf func(string) int) {
	t.Helper()
	for i, kc := range keyCases {
		t.Run(kc.name, func(t *testing.T) {
			before := kafkatest.Snapshot(t, bootstrap, map[string]int{topic: partitions})
			p := partitionOf(kc.key)
			off := before[topic][p]
			body := fmt.Sprintf(`{"i":%d}`, i)
			reply := roundTrip(t, cfg, post("/keys?key="+url.QueryEscape(kc.key)+"&x=1"), []byte(body))
			expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(topic, p, off)), sentDetails)
			kafkatest.ExpectRecord(t, kafkatest.FetchOne(t, bootstrap, topic, p, off), kafkatest.Record{
				Topic: topic, Partition: p, Offset: off, Key: []byte(kc.key), Value: []byte(`{"method":"POST"}`),
			})
			kafkatest.ExpectGrowth(t, bootstrap, before, map[string]int{fmt.Sprintf("%s/%d", topic, p): 1})
		})
	}
}

// TestKeysLandWhereTheJavaClientPutsThem: with the default partitioner
// (murmur2), each key goes to the partition Kafka's Java producer puts it
// on, for a topic of 7 partitions.
func TestKeysLandWhereTheJavaClientPutsThem(t *testing.T) {
	t.Parallel()
	bootstrap := kafkatest.Bootstrap(t)
	javaTopic := newTopicN(t, "java", 7)
	topic := newTopicN(t, "filter", 7)

	java := kafkatest.JavaPartitions(t, repoRoot(t), javaTopic, keyList())
	distinct := map[int]bool{}
	for _, kc := range keyCases {
		t.Logf("the Java client puts key %s on partition %d of 7", kc.name, java[kc.key])
		distinct[java[kc.key]] = true
	}
	if len(distinct) < 2 {
		t.Logf("every key is on one partition: the comparison proves little")
	}

	cfg, logs := parse(t, kafkaConfig(bootstrap, topic, map[string]any{
		"key_query_arg": "key", "key_header": "X-Key", "forward_method": true, "forward_body": false,
	}))
	publishKeyed(t, bootstrap, topic, 7, cfg, func(key string) int { return java[key] })

	// The key from key_header when the query gives none; the query's wins;
	// "?key" without "=" is the empty key.
	utf8Key := keyCases[1].key
	for _, tc := range []struct {
		name, path string
		extra      []string
		key        string
	}{
		{"header", "/keys", []string{"x-key", "order-42"}, "order-42"},
		{"query over header", "/keys?key=" + url.QueryEscape(utf8Key), []string{"x-key", "order-42"}, utf8Key},
		{"bare argument", "/keys?key&x=1", []string{"x-key", "order-42"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := kafkatest.Snapshot(t, bootstrap, map[string]int{topic: 7})
			p := java[tc.key]
			off := before[topic][p]
			reply := roundTrip(t, cfg, post(tc.path, tc.extra...), []byte(`{}`))
			expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(topic, p, off)), sentDetails)
			kafkatest.ExpectRecord(t, kafkatest.FetchOne(t, bootstrap, topic, p, off), kafkatest.Record{
				Topic: topic, Partition: p, Offset: off, Key: []byte(tc.key), Value: []byte(`{"method":"POST"}`),
			})
			kafkatest.ExpectGrowth(t, bootstrap, before, map[string]int{fmt.Sprintf("%s/%d", topic, p): 1})
		})
	}
	if l := logs.Lines(); len(l) != 0 {
		t.Errorf("pipeline log = %q, want nothing", l)
	}
}

// TestCRC32Partitioner: partitioner crc32 places each key on
// crc32.ChecksumIEEE(key) % 7 (lua-resty-kafka's placement, so Kong's).
func TestCRC32Partitioner(t *testing.T) {
	t.Parallel()
	bootstrap := kafkatest.Bootstrap(t)
	topic := newTopicN(t, "crc", 7)
	cfg, _ := parse(t, kafkaConfig(bootstrap, topic, map[string]any{
		"key_query_arg": "key", "partitioner": "crc32", "forward_method": true, "forward_body": false,
	}))
	publishKeyed(t, bootstrap, topic, 7, cfg, func(key string) int { return int(crc32.ChecksumIEEE([]byte(key)) % 7) })
}

// replyPlace decodes a 200 reply's single record entry.
func replyPlace(t *testing.T, reply filtertest.LocalReply) kafkatest.Placed {
	t.Helper()
	var body struct {
		Records []struct {
			Topic     string `json:"topic"`
			Partition *int   `json:"partition"`
			Offset    *int64 `json:"offset"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(reply.Body), &body); err != nil || len(body.Records) != 1 ||
		body.Records[0].Partition == nil || body.Records[0].Offset == nil {
		t.Fatalf("reply %d %s: want one record with partition and offset (%v)", reply.Status, reply.Body, err)
	}
	r := body.Records[0]
	return kafkatest.At(r.Topic, *r.Partition, *r.Offset)
}

// TestKeylessRoundRobin: keyless records (round_robin, the default) go to
// each partition in turn: 14 requests in a row, two per partition of 7,
// no partition twice in a row, each told its place, each read back.
func TestKeylessRoundRobin(t *testing.T) {
	t.Parallel()
	bootstrap := kafkatest.Bootstrap(t)
	topic := newTopicN(t, "rr", 7)
	cfg, _ := parse(t, kafkaConfig(bootstrap, topic, map[string]any{"key_query_arg": "key", "forward_method": true, "forward_body": true}))
	before := kafkatest.Snapshot(t, bootstrap, map[string]int{topic: 7})

	count := map[int]int{}
	grown := map[string]int{}
	last := -1
	for i := 0; i < 14; i++ {
		body := fmt.Sprintf(`{"i":%d}`, i)
		reply := roundTrip(t, cfg, post("/rr?nokey=1"), []byte(body))
		at := replyPlace(t, reply)
		if at.Topic != topic || at.Partition < 0 || at.Partition >= 7 {
			t.Fatalf("request %d: reply %s: not a partition of %s", i, reply.Body, topic)
		}
		wantOffset := before[topic][at.Partition] + int64(count[at.Partition])
		expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(topic, at.Partition, wantOffset)), sentDetails)
		if at.Partition == last {
			t.Errorf("request %d: partition %d again", i, at.Partition)
		}
		last = at.Partition
		count[at.Partition]++
		grown[fmt.Sprintf("%s/%d", topic, at.Partition)]++
		kafkatest.ExpectRecord(t, kafkatest.FetchOne(t, bootstrap, topic, at.Partition, wantOffset), kafkatest.Record{
			Topic: topic, Partition: at.Partition, Offset: wantOffset,
			Value: []byte(fmt.Sprintf(`{"method":"POST","body":%s,"body_args":%s}`, jsonString(body), body)),
		})
	}
	for p := 0; p < 7; p++ {
		if count[p] != 2 {
			t.Errorf("partition %d got %d of 14 keyless records, want 2 (round robin): %v", p, count[p], count)
		}
	}
	kafkatest.ExpectGrowth(t, bootstrap, before, grown)
}

// TestExplicitPartition: partition_query_arg / partition_header name the
// partition (over the key's); one beyond the topic's count is 404 and
// nothing is written.
func TestExplicitPartition(t *testing.T) {
	t.Parallel()
	bootstrap := kafkatest.Bootstrap(t)
	topic := newTopicN(t, "part", 7)
	cfg, _ := parse(t, kafkaConfig(bootstrap, topic, map[string]any{
		"partition_query_arg": "partition", "partition_header": "X-Partition", "key_query_arg": "key",
		"forward_method": true, "forward_body": false,
	}))
	sizes := map[string]int{topic: 7}

	for _, tc := range []struct {
		name      string
		path      string
		extra     []string
		partition int
		key       []byte
	}{
		{"query", "/p?partition=5", nil, 5, nil},
		{"query over key", "/p?key=order-42&partition=3", nil, 3, []byte("order-42")},
		{"first occurrence", "/p?partition=0&partition=6", nil, 0, nil},
		{"header", "/p", []string{"x-partition", "6"}, 6, nil},
		{"query over header", "/p?partition=2", []string{"x-partition", "6"}, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := kafkatest.Snapshot(t, bootstrap, sizes)
			off := before[topic][tc.partition]
			reply := roundTrip(t, cfg, post(tc.path, tc.extra...), []byte(`{}`))
			expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(topic, tc.partition, off)), sentDetails)
			kafkatest.ExpectRecord(t, kafkatest.FetchOne(t, bootstrap, topic, tc.partition, off), kafkatest.Record{
				Topic: topic, Partition: tc.partition, Offset: off, Key: tc.key, Value: []byte(`{"method":"POST"}`),
			})
			kafkatest.ExpectGrowth(t, bootstrap, before, map[string]int{fmt.Sprintf("%s/%d", topic, tc.partition): 1})
		})
	}

	for _, tc := range []struct {
		name, path   string
		extra        []string
		status       int
		body, detail string
	}{
		{"beyond the count", "/p?partition=7", nil, 404,
			kafkatest.ErrorBody("Not Found", fmt.Sprintf("partition 7 does not exist in topic %q (7 partitions)", topic)), "kafka_upstream_unknown_partition"},
		{"far beyond, by header", "/p", []string{"x-partition", "2147483647"}, 404,
			kafkatest.ErrorBody("Not Found", fmt.Sprintf("partition 2147483647 does not exist in topic %q (7 partitions)", topic)), "kafka_upstream_unknown_partition"},
		{"not a number", "/p?partition=x", nil, 400,
			kafkatest.ErrorBody("Bad Request", `query argument "partition": partition must be a non-negative integer, got "x"`), "kafka_upstream_bad_partition"},
		{"negative header", "/p", []string{"x-partition", "-1"}, 400,
			kafkatest.ErrorBody("Bad Request", `header "x-partition": partition must be a non-negative integer, got "-1"`), "kafka_upstream_bad_partition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := kafkatest.Snapshot(t, bootstrap, sizes)
			began := time.Now()
			reply := roundTrip(t, cfg, post(tc.path, tc.extra...), []byte(`{}`))
			expectReply(t, reply, tc.status, tc.body, tc.detail)
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("refusal took %s", took)
			}
			kafkatest.ExpectNothingWritten(t, bootstrap, before)
		})
	}
}

// TestFanOut: topics_query_arg names several topics; each gets the record
// and the reply lists each with its offset. A topic outside the allowlist
// (403) or one that does not exist (404, at once) stops the whole request:
// nothing is written on any topic.
func TestFanOut(t *testing.T) {
	t.Parallel()
	bootstrap := kafkatest.Bootstrap(t)
	a, b, c := newTopicN(t, "a", 1), newTopicN(t, "b", 1), newTopicN(t, "c", 1)
	three := newTopicN(t, "three", 3)
	// The broker refuses records over 1000 bytes on this one.
	tiny := newTopicN(t, "tiny", 1, "max.message.bytes=1000")
	other := newTopicN(t, "not-allowed", 1)
	missing := "it-fanout-missing-" + fmt.Sprint(time.Now().UnixNano())
	const produceTimeout = 5 * time.Second
	cfg, logs := parse(t, kafkaConfig(bootstrap, a, map[string]any{
		"allowed_topics": []any{b, c, three, tiny, missing}, "topics_query_arg": "topics", "partition_query_arg": "partition",
		"forward_method": true, "forward_uri": true, "forward_body": false,
		"produce_timeout": "5s",
	}))
	sizes := map[string]int{a: 1, b: 1, c: 1, three: 3, tiny: 1, other: 1}

	t.Run("three topics", func(t *testing.T) {
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		// Repeated argument, spaces trimmed, duplicates dropped: a, c, b.
		path := "/fan?topics=" + a + "," + c + "&topics=" + b + ",%20" + a
		reply := roundTrip(t, cfg, post(path), []byte(`{}`))
		expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(a, 0, before[a][0]), kafkatest.At(c, 0, before[c][0]), kafkatest.At(b, 0, before[b][0])), sentDetails)
		value := fmt.Sprintf(`{"method":"POST","uri":%s,"uri_args":{"topics":[%s,%s]}}`,
			jsonString(path), jsonString(a+","+c), jsonString(b+", "+a))
		for _, topic := range []string{a, b, c} {
			kafkatest.ExpectRecord(t, kafkatest.FetchOne(t, bootstrap, topic, 0, before[topic][0]), kafkatest.Record{
				Topic: topic, Partition: 0, Offset: before[topic][0], Value: []byte(value),
			})
		}
		kafkatest.ExpectGrowth(t, bootstrap, before, map[string]int{a + "/0": 1, b + "/0": 1, c + "/0": 1})
	})

	t.Run("no argument: the default topic", func(t *testing.T) {
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		reply := roundTrip(t, cfg, post("/fan?topics="), []byte(`{}`))
		expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(a, 0, before[a][0])), sentDetails)
		kafkatest.ExpectGrowth(t, bootstrap, before, map[string]int{a + "/0": 1})
	})

	t.Run("not allowed", func(t *testing.T) {
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		reply := roundTrip(t, cfg, post("/fan?topics="+b+","+other), []byte(`{}`))
		expectReply(t, reply, 403,
			`{"message":"Forbidden","error":"one or more target topics are not in the allowed topics list"}`,
			"kafka_upstream_topic_not_allowed")
		kafkatest.ExpectNothingWritten(t, bootstrap, before)
	})

	t.Run("not allowed: case differs", func(t *testing.T) {
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		reply := roundTrip(t, cfg, post("/fan?topics="+strings.ToUpper(b)), []byte(`{}`))
		expectReply(t, reply, 403,
			`{"message":"Forbidden","error":"one or more target topics are not in the allowed topics list"}`,
			"kafka_upstream_topic_not_allowed")
		kafkatest.ExpectNothingWritten(t, bootstrap, before)
	})

	t.Run("bad name", func(t *testing.T) {
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		reply := roundTrip(t, cfg, post("/fan?topics="+b+",a%2Fb"), []byte(`{}`))
		expectReply(t, reply, 400,
			kafkatest.ErrorBody("Bad Request", `query argument "topics": "a/b" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`),
			"kafka_upstream_bad_topic")
		kafkatest.ExpectNothingWritten(t, bootstrap, before)
	})

	t.Run("unknown topic", func(t *testing.T) {
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		began := time.Now()
		reply := roundTrip(t, cfg, post("/fan?topics="+b+","+missing+","+c), []byte(`{}`))
		took := time.Since(began)
		expectReply(t, reply, 404, kafkatest.ErrorBody("Not Found", fmt.Sprintf("topic %q does not exist", missing)), "kafka_upstream_unknown_topic")
		if took > produceTimeout/4 {
			t.Errorf("the unknown topic took %s to refuse, produce_timeout is %s: want it at once", took, produceTimeout)
		}
		kafkatest.ExpectNothingWritten(t, bootstrap, before)
	})

	t.Run("partition for every topic", func(t *testing.T) {
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		path := "/fan?topics=" + three + "," + b + "&partition=0"
		reply := roundTrip(t, cfg, post(path), []byte(`{}`))
		expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(three, 0, before[three][0]), kafkatest.At(b, 0, before[b][0])), sentDetails)
		kafkatest.ExpectGrowth(t, bootstrap, before, map[string]int{three + "/0": 1, b + "/0": 1})
	})

	t.Run("partition missing in one topic", func(t *testing.T) {
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		reply := roundTrip(t, cfg, post("/fan?topics="+three+","+b+"&partition=2"), []byte(`{}`))
		expectReply(t, reply, 404, kafkatest.ErrorBody("Not Found", fmt.Sprintf("partition 2 does not exist in topic %q (1 partition)", b)),
			"kafka_upstream_unknown_partition")
		kafkatest.ExpectNothingWritten(t, bootstrap, before)
	})

	// The broker refuses the record on one topic only (its
	// max.message.bytes): the reply says which record landed where.
	t.Run("partly published", func(t *testing.T) {
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		path := "/fan?topics=" + b + "," + tiny + "&pad=" + strings.Repeat("p", 2000)
		reply := roundTrip(t, cfg, post(path), []byte(`{}`))
		const tooLarge = "the Kafka record is larger than the broker accepts (max.message.bytes)"
		want := fmt.Sprintf(`{"message":"Request Entity Too Large","error":%s,"records":[{"topic":%s,"partition":0,"offset":%d},{"topic":%s,"error":%s}]}`,
			jsonString(tooLarge), jsonString(b), before[b][0], jsonString(tiny), jsonString(tooLarge))
		expectReply(t, reply, 413, want, "kafka_upstream_record_too_large_partly")
		rec := kafkatest.FetchOne(t, bootstrap, b, 0, before[b][0])
		if !strings.Contains(string(rec.Value), `"uri":`+jsonString(path)) {
			t.Errorf("record on %s is not the request's: %s", b, rec)
		}
		kafkatest.ExpectGrowth(t, bootstrap, before, map[string]int{b + "/0": 1})
	})

	// A topic created after a 404 is found once the producer's metadata
	// cache refreshes (within a second or two), without a restart.
	t.Run("created after a 404", func(t *testing.T) {
		kafkatest.CreateTopic(t, repoRoot(t), missing, 1)
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		deadline := time.Now().Add(10 * time.Second)
		var reply filtertest.LocalReply
		for {
			reply = roundTrip(t, cfg, post("/fan?topics="+missing), []byte(`{}`))
			if reply.Status != 404 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(missing, 0, 0)), sentDetails)
		kafkatest.ExpectNothingWritten(t, bootstrap, before)
		if end := kafkatest.EndOffset(t, bootstrap, missing); end != 1 {
			t.Errorf("end offset of %s = %d, want 1", missing, end)
		}
	})
	if l := logs.Lines(); len(l) != 0 {
		t.Logf("pipeline log: %q", l)
	}
}

// TestDefaultTopicMissing: a config whose own topic does not exist is 404
// at once too.
func TestDefaultTopicMissing(t *testing.T) {
	t.Parallel()
	bootstrap := kafkatest.Bootstrap(t)
	missing := "it-default-missing-" + fmt.Sprint(time.Now().UnixNano())
	cfg, _ := parse(t, kafkaConfig(bootstrap, missing, map[string]any{"produce_timeout": "5s"}))
	began := time.Now()
	reply := roundTrip(t, cfg, post("/d"), []byte(`{}`))
	expectReply(t, reply, 404, kafkatest.ErrorBody("Not Found", fmt.Sprintf("topic %q does not exist", missing)), "kafka_upstream_unknown_topic")
	if took := time.Since(began); took > time.Second {
		t.Errorf("took %s, want the 404 at once", took)
	}
}
