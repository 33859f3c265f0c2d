package ingest

import (
	"encoding/binary"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/registrytest"
	"github.com/kafka-upstream/envoy-kafka-upstream/metrics"
)

const orderSchema = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"note","type":["null","string"],"default":null}]}`

func schemaPipeline(t *testing.T, reg string, cfg *config.Config) (*Pipeline, *metrics.Set) {
	t.Helper()
	cfg.SchemaRegistry = &config.SchemaRegistry{Urls: []string{reg},
		Value: &config.SchemaBinding{Format: "avro"}, Key: &config.SchemaBinding{Format: "avro"}}
	return countingPipeline(t, cfg, nil)
}

// Fan-out with a schema per topic: each record framed with its topic's
// schema id, the key with the key subject's; Kafka gets exactly that.
func TestSchemaSerialisesEachTopicsRecord(t *testing.T) {
	c := kfaketest.NewCluster(t, "a", "b")
	reg := registrytest.New(t)
	idA := reg.Register("a-value", "", orderSchema)
	// b's schema has one more field, from its default: b's records are
	// longer, and bytes_sent must count each topic's own.
	idB := reg.Register("b-value", "", strings.Replace(orderSchema, `]}`, `,{"name":"pad","type":"string","default":"pad"}]}`, 1))
	keyA := reg.Register("a-key", "", `"string"`)
	reg.Register("b-key", "", `"string"`)
	p, m := schemaPipeline(t, reg.URL(), &config.Config{BootstrapServers: c.ListenAddrs(), Topic: "a",
		AllowedTopics: []string{"b"}, TopicsQueryArg: new("topics"), KeyQueryArg: new("key")})
	r := handle(t, p, post("/?topics=a,b&key=k1", `{"id": 7, "note": "hi"}`, "content-type", "application/json"))
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	for topic, id := range map[string]int{"a": idA, "b": idB} {
		recs := kfaketest.ReadRecords(t, c, topic, 1)
		v := []byte(recs[0].Value)
		if v[0] != 0 || int(binary.BigEndian.Uint32(v[1:5])) != id {
			t.Errorf("topic %s: value framing % x, want schema id %d", topic, v[:5], id)
		}
		want := "\x0e\x02\x04hi" // id 7, union branch 1, "hi"
		if topic == "b" {
			want += "\x06pad"
		}
		if string(v[5:]) != want {
			t.Errorf("topic %s: payload % x, want % x", topic, v[5:], want)
		}
		if sent, bytes, _ := m.Topic(topic); sent != 1 || bytes != uint64(len(recs[0].Key)+len(recs[0].Value)) {
			t.Errorf("topic %s: %d records and %d bytes sent, want 1 and %d", topic, sent, bytes, len(recs[0].Key)+len(recs[0].Value))
		}
		if topic == "a" {
			k := []byte(recs[0].Key)
			if int(binary.BigEndian.Uint32(k[1:5])) != keyA || string(k[5:]) != "\x04k1" {
				t.Errorf("key % x, want id %d and the string k1", k, keyA)
			}
		}
	}
}

// What each failure answers, and that nothing is published.
func TestSchemaFailureReplies(t *testing.T) {
	c := kfaketest.NewCluster(t, "a", "nosubject")
	reg := registrytest.New(t)
	reg.Register("a-value", "", orderSchema)
	reg.Register("a-key", "", `"string"`)
	p, m := schemaPipeline(t, reg.URL(), &config.Config{BootstrapServers: c.ListenAddrs(), Topic: "a",
		AllowedTopics: []string{"nosubject"}, TopicsQueryArg: new("topics"), ProduceTimeout: durationpb.New(2e9)})

	r := handle(t, p, post("/", `{"id": "seven"}`, "content-type", "application/json"))
	expect(t, r, 400, `{"message":"Bad Request","error":"$.id: expected a number (long), got string"}`, "kafka_upstream_schema_mismatch")

	r = handle(t, p, post("/?topics=nosubject", `{"id": 1}`))
	if r.Status != 500 || r.Details != "kafka_upstream_schema_not_found" || !strings.Contains(string(r.Body), "subject nosubject-value (latest): the registry has no such schema") {
		t.Errorf("unknown subject: %d %s %s", r.Status, r.Details, r.Body)
	}

	// A registry answering garbage (from the first fetch on: the one at
	// load included, whose failure answers for a second).
	reg.Garbage.Store(true)
	pg, mg := schemaPipeline(t, reg.URL(), &config.Config{BootstrapServers: c.ListenAddrs(), Topic: "other", ProduceTimeout: durationpb.New(2e9)})
	r = handle(t, pg, post("/", `{"id": 1}`))
	if r.Status != 502 || r.Details != "kafka_upstream_registry_error" || !strings.Contains(string(r.Body), reg.URL()) {
		t.Errorf("garbage: %d %s %s", r.Status, r.Details, r.Body)
	}
	if mg.Requests(metrics.RegistryError) != 1 {
		t.Errorf("registry_error counted %d times", mg.Requests(metrics.RegistryError))
	}
	reg.Garbage.Store(false)

	// Warm (a-value) survives the outage; a cold subject gets 503.
	reg.Close()
	if r := handle(t, p, post("/", `{"id": 1}`)); r.Status != 200 {
		t.Errorf("registry down, warm cache: %d %s", r.Status, r.Body)
	}
	p2, _ := schemaPipeline(t, reg.URL(), &config.Config{BootstrapServers: c.ListenAddrs(), Topic: "a", ProduceTimeout: durationpb.New(2e9)})
	r = handle(t, p2, post("/", `{"id": 1}`))
	if r.Status != 503 || r.Details != "kafka_upstream_registry_unavailable" || r.Headers["retry-after"] != "1" {
		t.Errorf("registry down, cold cache: %d %s %s %v", r.Status, r.Details, r.Body, r.Headers)
	}
	if n := kfaketest.Records(t, c, "nosubject"); n != 0 {
		t.Errorf("%d records published to the topic without a subject", n)
	}
	if m.Requests(metrics.SchemaMismatch) != 1 || m.Requests(metrics.SchemaNotFound) != 1 {
		t.Errorf("outcomes: mismatch %d, not found %d", m.Requests(metrics.SchemaMismatch), m.Requests(metrics.SchemaNotFound))
	}
}

// source: envelope: the schema applies to the Kong envelope the format
// builds, not to the body.
func TestSchemaOnTheEnvelope(t *testing.T) {
	c := kfaketest.NewCluster(t, "a")
	reg := registrytest.New(t)
	id := reg.Register("a-value", "JSON", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
	  "properties":{"method":{"const":"POST"},"body_args":{"type":"object","required":["n"]}},"required":["method","body_args"]}`)
	cfg := &config.Config{BootstrapServers: c.ListenAddrs(), Topic: "a", ForwardMethod: new(true), ForwardBody: new(true),
		SchemaRegistry: &config.SchemaRegistry{Urls: []string{reg.URL()}, Value: &config.SchemaBinding{Format: "json_schema", Source: "envelope"}}}
	p, _ := countingPipeline(t, cfg, nil)
	if r := handle(t, p, post("/", `{"n": 1}`, "content-type", "application/json")); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	v := []byte(kfaketest.ReadRecords(t, c, "a", 1)[0].Value)
	if int(binary.BigEndian.Uint32(v[1:5])) != id || !strings.Contains(string(v[5:]), `"method":"POST"`) {
		t.Errorf("value % x", v)
	}
	r := handle(t, p, post("/", `{"m": 1}`, "content-type", "application/json"))
	expect(t, r, 400, `{"message":"Bad Request","error":"$.body_args: missing properties: 'n'"}`, "kafka_upstream_schema_mismatch")
}
