package ingest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

// failTopic answers every produce request for topic with errCode, for
// every partition, and lets the cluster handle the others; it counts the
// requests it refused. kafka-go sends one produce request per topic and
// partition.
func failTopic(t *testing.T, c *kfake.Cluster, topic string, errCode int16) *atomic.Int32 {
	var refused atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		if len(pr.Topics) != 1 {
			t.Errorf("a produce request for %d topics; failTopic expects one", len(pr.Topics))
		}
		if len(pr.Topics) == 0 || pr.Topics[0].Topic != topic {
			return nil, nil, false
		}
		refused.Add(1)
		return kfaketest.ProduceFailure(pr, errCode), nil, true
	})
	return &refused
}

// fanOut is the config of a pipeline whose clients may name topics
// (argument "topics"), any of allowed.
func fanOut(allowed ...string) *config.Config {
	return &config.Config{TopicsQueryArg: proto.String("topics"), AllowedTopics: allowed}
}

func TestFanOutToTwoTopics(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, "orders")
	p, logs := newPipeline(t, c.ListenAddrs(), fanOut("orders"))
	// orders already holds two records: offsets are per topic.
	for offset := range int64(2) {
		expect(t, p.Handle(context.Background(), get("/?topics=orders")), 200, sent("orders", 0, offset), "kafka_upstream_sent")
	}
	expect(t, p.Handle(context.Background(), get("/?topics=orders,events")), 200,
		`{"message":"message sent","records":[{"topic":"orders","partition":0,"offset":2},{"topic":"events","partition":0,"offset":0}]}`,
		"kafka_upstream_sent")
	// The same record, in both topics.
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 1), []kfaketest.Record{{Offset: 0, Value: emptyEnvelope}})
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, "orders", 3), []kfaketest.Record{
		{Offset: 0, Value: emptyEnvelope}, {Offset: 1, Value: emptyEnvelope}, {Offset: 2, Value: emptyEnvelope},
	})
	noLogs(t, logs)
}

// One topic of a fan-out refuses the record for good: the other's record
// landed, and the reply says which did and which did not.
func TestFanOutPartlyPublished(t *testing.T) {
	for _, tt := range []struct {
		name, path, body string
	}{
		{"the second topic fails", "/?topics=events,orders",
			`{"message":"Bad Gateway","error":"could not send message to topic","records":[` +
				`{"topic":"events","partition":0,"offset":0},{"topic":"orders","error":"could not send message to topic"}]}`},
		{"the first topic fails", "/?topics=orders,events",
			`{"message":"Bad Gateway","error":"could not send message to topic","records":[` +
				`{"topic":"orders","error":"could not send message to topic"},{"topic":"events","partition":0,"offset":0}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := kfaketest.NewCluster(t, topic, "orders")
			p, logs := newPipeline(t, c.ListenAddrs(), fanOut("orders"))
			refused := failTopic(t, c, "orders", int16(kafka.TopicAuthorizationFailed))
			expect(t, p.Handle(context.Background(), get(tt.path)), 502, tt.body, "kafka_upstream_produce_failed_partly")
			if n := refused.Load(); n != 1 {
				t.Errorf("orders got %d produce requests, want 1 (a permanent error is not retried)", n)
			}
			kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 1), []kfaketest.Record{{Offset: 0, Value: emptyEnvelope}})
			if n := kfaketest.Records(t, c, "orders"); n != 0 {
				t.Errorf("orders holds %d records, want 0", n)
			}
			cause := "[29] Topic Authorization Failed: the client is not authorized to access the requested topic"
			want := []string{
				"ERROR publishing to kafka failed topic=orders error=" + cause,
				"WARN fan-out partly published acknowledged=1 records=2 error=" + cause,
			}
			if l := logs.OwnLines(); len(l) != 2 || l[0] != want[0] || l[1] != want[1] {
				t.Errorf("log =\n%q\nwant\n%q", l, want)
			}
		})
	}
}

// Every topic of a fan-out fails: the plain failure reply, no records.
func TestFanOutWhollyFailed(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, "orders")
	p, _ := newPipeline(t, c.ListenAddrs(), fanOut("orders"))
	failTopic(t, c, "orders", int16(kafka.TopicAuthorizationFailed))
	failTopic(t, c, topic, int16(kafka.TopicAuthorizationFailed))
	expect(t, p.Handle(context.Background(), get("/?topics=orders,events")), 502,
		`{"message":"Bad Gateway","error":"could not send message to topic"}`, "kafka_upstream_produce_failed")
}

// A topic that does not exist is refused from the metadata before anything
// is written, at once rather than after produce_timeout, and the other
// topics of the fan-out get nothing either.
func TestUnknownTopic(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	cfg := fanOut("missing", "gone")
	cfg.ProduceTimeout = durationpb.New(5 * time.Second)
	p, logs := newPipeline(t, c.ListenAddrs(), cfg)
	for _, path := range []string{"/?topics=missing", "/?topics=events,missing,gone"} {
		start := time.Now()
		got := p.Handle(context.Background(), get(path))
		elapsed := time.Since(start)
		expect(t, got, 404, `{"message":"Not Found","error":"topic \"missing\" does not exist"}`, "kafka_upstream_unknown_topic")
		if elapsed >= 2*time.Second {
			t.Errorf("%s: answered after %s, want well under produce_timeout (5s)", path, elapsed)
		}
	}
	if n := kfaketest.Records(t, c, topic); n != 0 {
		t.Errorf("events holds %d records, want 0: nothing of a refused fan-out is written", n)
	}
	if c.PartitionInfos("missing") != nil {
		t.Error("the unknown topic was created")
	}
	noLogs(t, logs)
	// The pipeline still serves the topics that exist.
	expect(t, p.Handle(context.Background(), get("/")), 200, sent(topic, 0, 0), "kafka_upstream_sent")
}

// The default topic itself may not exist.
func TestUnknownDefaultTopic(t *testing.T) {
	c := kfaketest.NewCluster(t, "other")
	p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{ProduceTimeout: durationpb.New(5 * time.Second)})
	start := time.Now()
	expect(t, p.Handle(context.Background(), get("/")), 404,
		`{"message":"Not Found","error":"topic \"events\" does not exist"}`, "kafka_upstream_unknown_topic")
	if elapsed := time.Since(start); elapsed >= 2*time.Second {
		t.Errorf("answered after %s, want well under produce_timeout (5s)", elapsed)
	}
}

// With allow_auto_topic_creation the broker may create the topic: the
// request is not refused.
func TestAutoTopicCreation(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := fanOut("fresh")
	cfg.AllowAutoTopicCreation = true
	p, _ := newPipeline(t, c.ListenAddrs(), cfg)
	expect(t, p.Handle(context.Background(), get("/?topics=fresh")), 200, sent("fresh", 0, 0), "kafka_upstream_sent")
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, "fresh", 1), []kfaketest.Record{{Offset: 0, Value: emptyEnvelope}})
}

// One topic of a fan-out acknowledges, the other's broker hangs until the
// deadline: the client must learn that the first record landed (it would
// otherwise retry and duplicate it).
func TestFanOutPartlyAcknowledgedAtTheDeadline(t *testing.T) {
	c := kfaketest.NewClusterOpts(t, kfake.NumBrokers(2), kfake.SeedTopics(1, topic, "orders"), kfake.SleepOutOfOrder())
	// Each topic on a broker of its own, so that kafka-go writes them on
	// separate connections and holding one does not hold the other.
	if err := c.MoveTopicPartition(topic, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.MoveTopicPartition("orders", 0, 1); err != nil {
		t.Fatal(err)
	}
	cfg := fanOut("orders")
	cfg.ProduceTimeout = durationpb.New(2 * time.Second)
	p, _ := newPipeline(t, c.ListenAddrs(), cfg)
	held := make(chan struct{})
	arrived := make(chan struct{}, 1)
	t.Cleanup(func() { close(held) })
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if pr := req.(*kmsg.ProduceRequest); len(pr.Topics) == 1 && pr.Topics[0].Topic == "orders" {
			select {
			case arrived <- struct{}{}:
			default:
			}
			c.SleepControl(func() { <-held })
		}
		return nil, nil, false
	})

	got := p.Handle(context.Background(), get("/?topics=events,orders"))
	select {
	case <-arrived:
	default:
		t.Fatal("the produce request for orders never reached the broker")
	}
	kfaketest.CheckRecords(t, kfaketest.ReadRecords(t, c, topic, 1), []kfaketest.Record{{Offset: 0, Value: emptyEnvelope}})
	expect(t, got, 504,
		`{"message":"Gateway Timeout","error":"no acknowledgement from Kafka within 2s","records":[`+
			`{"topic":"events","partition":0,"offset":0},{"topic":"orders","error":"no acknowledgement from Kafka within 2s"}]}`,
		"kafka_upstream_produce_timeout_partly")
}
