//go:build integration

package integration_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/jhump/protoreflect/desc/protoparse"
	"github.com/jhump/protoreflect/dynamic"
	"github.com/linkedin/goavro/v2"
	"github.com/riferrei/srclient"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
)

// Serialisation with a real schema registry (Apicurio Registry, started
// by e2e/with-registry.sh, which exports SCHEMA_REGISTRY_URL): schemas are
// registered here, the golang filter publishes to the real broker, and
// each record is decoded with a library other than the one that encoded
// it (goavro for hamba's Avro, jhump/protoreflect's dynamic messages for
// the Protobuf) and compared field by field, with its framing.

func registryURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("SCHEMA_REGISTRY_URL")
	if u == "" {
		t.Fatal("SCHEMA_REGISTRY_URL is not set: run `make integration`, which starts the registry (e2e/with-registry.sh)")
	}
	return u
}

// register puts schema under subject in the real registry and returns its
// id and version (srclient's CreateSchema reports version 0 there).
func register(t *testing.T, subject, schema string, typ srclient.SchemaType, refs ...srclient.Reference) (id, version int) {
	t.Helper()
	c := srclient.NewSchemaRegistryClient(registryURL(t))
	if _, err := c.CreateSchema(subject, schema, typ, refs...); err != nil {
		t.Fatalf("registering %s: %v", subject, err)
	}
	s, err := c.GetLatestSchema(subject)
	if err != nil {
		t.Fatal(err)
	}
	return s.ID(), s.Version()
}

// unique makes a subject or type name of this run.
func unique(prefix string) string { return fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()) }

// framed splits a Confluent-framed record part: schema id and the rest.
func framed(t *testing.T, b []byte) (int, []byte) {
	t.Helper()
	if len(b) < 5 || b[0] != 0 {
		t.Fatalf("not in Confluent's wire format: % x", b)
	}
	return int(binary.BigEndian.Uint32(b[1:5])), b[5:]
}

// postJSON sends body and returns the reply; its headers are checked
// by the callers (a 503 has retry-after besides content-type).
func postJSON(t *testing.T, cfg any, path, body string) filtertest.LocalReply {
	t.Helper()
	s := newStream(cfg)
	s.send(t, filtertest.NewHeaders(":method", "POST", ":path", path, ":authority", authority, "content-type", "application/json"), []byte(body))
	reply := s.cb.WaitEnd(t, wait)
	filtertest.DestroyStream(s.f, s.cb, api.Normal)
	want := map[string][]string{"content-type": {"application/json"}}
	if reply.Status == 503 {
		want["retry-after"] = []string{"1"}
	}
	if fmt.Sprint(reply.Headers) != fmt.Sprint(want) {
		t.Errorf("reply headers %v, want %v", reply.Headers, want)
	}
	return reply
}

func TestSchemaAvroValueAndKeyWithReferencesAndLogicalTypes(t *testing.T) {
	bootstrap := kafkatest.Bootstrap(t)
	topic := newTopic(t, bootstrap)
	ns := unique("it")
	address := fmt.Sprintf(`{"type":"record","name":"Address","namespace":"%s","fields":[{"name":"city","type":"string"}]}`, ns)
	order := fmt.Sprintf(`{"type":"record","name":"Order","namespace":"%[1]s","fields":[
	  {"name":"id","type":"long"},
	  {"name":"note","type":["null","string"],"default":null},
	  {"name":"ship_to","type":["null","%[1]s.Address"],"default":null},
	  {"name":"placed","type":{"type":"long","logicalType":"timestamp-millis"}},
	  {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
	  {"name":"ref","type":{"type":"string","logicalType":"uuid"}}]}`, ns)
	_, addrVersion := register(t, ns+".Address", address, srclient.Avro)
	valueID, _ := register(t, topic+"-value", order, srclient.Avro, srclient.Reference{Name: ns + ".Address", Subject: ns + ".Address", Version: addrVersion})
	keyID, _ := register(t, topic+"-key", `"string"`, srclient.Avro)

	cfg, _ := parse(t, kafkaConfig(bootstrap, topic, map[string]any{"key_query_arg": "key",
		"schema_registry": map[string]any{"urls": []any{registryURL(t)}, "value": map[string]any{"format": "avro"}, "key": map[string]any{"format": "avro"}}}))
	reply := postJSON(t, cfg, "/?key=order-42", `{"id": 42, "note": "fragile", "ship_to": {"city": "Lyon"},
	  "placed": "2026-12-01T10:00:00.250Z", "amount": "12.34", "ref": "0b0f6a43-3a4c-4f47-9d7e-2b5a5a1e8f00"}`)
	if reply.Status != 200 {
		t.Fatalf("%d %s", reply.Status, reply.Body)
	}
	m := kafkatest.Read(t, bootstrap, topic, 0, 1)[0]
	id, payload := framed(t, m.Value)
	if id != valueID {
		t.Errorf("value schema id %d, want %d", id, valueID)
	}
	codec, err := goavro.NewCodec(strings.Replace(order, `"`+ns+`.Address"]`, address+`]`, 1))
	if err != nil {
		t.Fatal(err)
	}
	native, rest, err := codec.NativeFromBinary(payload)
	if err != nil || len(rest) != 0 {
		t.Fatalf("goavro: %v (%d bytes left)", err, len(rest))
	}
	got := native.(map[string]any)
	if got["id"] != int64(42) || fmt.Sprint(got["note"]) != "map[string:fragile]" ||
		fmt.Sprint(got["ship_to"]) != "map["+ns+".Address:map[city:Lyon]]" || got["ref"] != "0b0f6a43-3a4c-4f47-9d7e-2b5a5a1e8f00" {
		t.Errorf("decoded %v", got)
	}
	if ts := got["placed"].(time.Time); !ts.Equal(time.Date(2026, 12, 1, 10, 0, 0, 250e6, time.UTC)) {
		t.Errorf("placed %v", ts)
	}
	if a := got["amount"].(*big.Rat); a.Cmp(big.NewRat(1234, 100)) != 0 {
		t.Errorf("amount %v", a)
	}
	kid, kpayload := framed(t, m.Key)
	keyCodec, _ := goavro.NewCodec(`"string"`)
	key, _, err := keyCodec.NativeFromBinary(kpayload)
	if kid != keyID || err != nil || key != "order-42" {
		t.Errorf("key: id %d (want %d), %v %v", kid, keyID, key, err)
	}

	// A body that does not match: 400 saying where, nothing published.
	reply = postJSON(t, cfg, "/?key=k", `{"id": 1, "ship_to": {"town": "Lyon"}, "placed": 0, "amount": 1, "ref": "0b0f6a43-3a4c-4f47-9d7e-2b5a5a1e8f00"}`)
	expectReply(t, reply, 400, `{"message":"Bad Request","error":"$.ship_to.city: is required"}`, "kafka_upstream_schema_mismatch")
	if end := kafkatest.EndOffset(t, bootstrap, topic); end != 1 {
		t.Errorf("end offset %d after a refused request, want 1", end)
	}
}

func TestSchemaJSONSchemaWithAReference(t *testing.T) {
	bootstrap := kafkatest.Bootstrap(t)
	topic := newTopic(t, bootstrap)
	money := unique("money") + ".json"
	_, mv := register(t, money, `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"amount":{"type":"number"}},"required":["amount"]}`, srclient.Json)
	valueID, _ := register(t, topic+"-value", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
	  "properties":{"id":{"type":"integer"},"total":{"$ref":"`+money+`"}},"required":["id"]}`, srclient.Json,
		srclient.Reference{Name: money, Subject: money, Version: mv})
	keyID, _ := register(t, topic+"-key", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"string","pattern":"^k-"}`, srclient.Json)
	cfg, _ := parse(t, kafkaConfig(bootstrap, topic, map[string]any{"key_query_arg": "key",
		"schema_registry": map[string]any{"urls": []any{registryURL(t)}, "value": map[string]any{"format": "json_schema"}, "key": map[string]any{"format": "json_schema"}}}))
	if r := postJSON(t, cfg, "/?key=k-7", `{ "id": 7, "total": { "amount": 9.5 } }`); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	rec := kafkatest.Read(t, bootstrap, topic, 0, 1)[0]
	if kid, key := framed(t, rec.Key); kid != keyID || string(key) != `"k-7"` {
		t.Errorf("key: id %d (want %d), %s", kid, keyID, key)
	}
	expectReply(t, postJSON(t, cfg, "/?key=x-7", `{"id": 7}`), 400,
		`{"message":"Bad Request","error":"$: does not match pattern '^k-'"}`, "kafka_upstream_schema_mismatch")
	id, payload := framed(t, rec.Value)
	var doc map[string]any
	if err := json.Unmarshal(payload, &doc); err != nil || id != valueID || string(payload) != `{"id":7,"total":{"amount":9.5}}` {
		t.Errorf("id %d (want %d), payload %s (%v)", id, valueID, payload, err)
	}
	expectReply(t, postJSON(t, cfg, "/", `{"id": 7, "total": {"amount": "9.5"}}`), 400,
		`{"message":"Bad Request","error":"$.total.amount: expected number, but got string"}`, "kafka_upstream_schema_mismatch")
}

func TestSchemaProtobufWithAnImportAndFanOut(t *testing.T) {
	bootstrap := kafkatest.Bootstrap(t)
	a, b := newTopicN(t, "a", 1), newTopicN(t, "b", 1)
	pkg := unique("it")
	moneyFile := pkg + "/money.proto"
	money := "syntax = \"proto3\";\npackage " + pkg + ";\nmessage Money { string currency = 1; int64 units = 2; }\n"
	order := "syntax = \"proto3\";\npackage " + pkg + ";\nimport \"" + moneyFile + "\";\n" +
		"message Order { int64 id = 1; Money total = 2; repeated string tags = 3; }\n"
	_, mv := register(t, moneyFile, money, srclient.Protobuf)
	ref := srclient.Reference{Name: moneyFile, Subject: moneyFile, Version: mv}
	ids := map[string]int{}
	ids[a], _ = register(t, a+"-value", order, srclient.Protobuf, ref)
	ids[b], _ = register(t, b+"-value", order, srclient.Protobuf, ref)
	keyProto := "syntax = \"proto3\";\npackage " + pkg + ".keys;\nmessage OrderKey { string id = 1; }\n"
	keyID, _ := register(t, "order-keys-"+pkg, keyProto, srclient.Protobuf)
	cfg, _ := parse(t, kafkaConfig(bootstrap, a, map[string]any{"allowed_topics": []any{b}, "topics_query_arg": "topics", "key_header": "x-key",
		"schema_registry": map[string]any{"urls": []any{registryURL(t)}, "value": map[string]any{"format": "protobuf"},
			"key": map[string]any{"format": "protobuf", "subject": "order-keys-" + pkg}}}))
	s := newStream(cfg)
	s.send(t, filtertest.NewHeaders(":method", "POST", ":path", "/?topics="+a+","+b, ":authority", authority, "content-type", "application/json",
		"x-key", `{"id": "o-42"}`), []byte(`{"id": "42", "total": {"currency": "EUR", "units": 9}, "tags": ["x", "y"]}`))
	if r := s.finish(t); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	kfds, err := (protoparse.Parser{Accessor: protoparse.FileContentsFromMap(map[string]string{"key.proto": keyProto})}).ParseFiles("key.proto")
	if err != nil {
		t.Fatal(err)
	}
	kid, krest := framed(t, kafkatest.Read(t, bootstrap, b, 0, 1)[0].Key)
	key := dynamic.NewMessage(kfds[0].FindMessage(pkg + ".keys.OrderKey"))
	if err := key.Unmarshal(krest[1:]); kid != keyID || krest[0] != 0 || err != nil || key.GetFieldByName("id") != "o-42" {
		t.Errorf("key: id %d (want %d), %v %v", kid, keyID, key, err)
	}
	fds, err := (protoparse.Parser{Accessor: protoparse.FileContentsFromMap(map[string]string{"order.proto": order, moneyFile: money})}).ParseFiles("order.proto")
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{a, b} {
		id, rest := framed(t, kafkatest.Read(t, bootstrap, topic, 0, 1)[0].Value)
		if id != ids[topic] || rest[0] != 0 { // message index list [0]: one zero byte
			t.Errorf("%s: id %d (want %d), index byte %d", topic, id, ids[topic], rest[0])
		}
		msg := dynamic.NewMessage(fds[0].FindMessage(pkg + ".Order"))
		if err := msg.Unmarshal(rest[1:]); err != nil {
			t.Fatalf("%s: protoreflect: %v", topic, err)
		}
		total := msg.GetFieldByName("total").(*dynamic.Message)
		if msg.GetFieldByName("id") != int64(42) || total.GetFieldByName("currency") != "EUR" || total.GetFieldByName("units") != int64(9) ||
			fmt.Sprint(msg.GetFieldByName("tags")) != "[x y]" {
			t.Errorf("%s: decoded %v", topic, msg)
		}
	}
	expectReply(t, postJSON(t, cfg, "/", `{"id": "x"}`), 400,
		`{"message":"Bad Request","error":"$: invalid value for int64 field id: \"x\""}`, "kafka_upstream_schema_mismatch")
}

// proxy stands between the filter and the real registry, so that a test
// can take the registry away or slow it down without touching the one
// the other tests share.
type proxy struct {
	url   string
	down  atomic.Bool
	delay atomic.Int64
}

func newProxy(t *testing.T) *proxy {
	t.Helper()
	target, err := url.Parse(registryURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{url: "http://" + l.Addr().String() + target.Path}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(p.delay.Load()))
		if p.down.Load() {
			// As a registry that is gone: the connection drops.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p
}

// A warm cache survives the registry going away; a cold one gets 503
// with retry-after; a slow registry holds a request no longer than its
// produce_timeout; an unknown subject is 500.
func TestSchemaRegistryFailures(t *testing.T) {
	bootstrap := kafkatest.Bootstrap(t)
	warm, slow, cold := newTopicN(t, "warm", 1), newTopicN(t, "slow", 1), newTopicN(t, "cold", 1)
	for _, topic := range []string{warm, slow, cold} {
		register(t, topic+"-value", `"string"`, srclient.Avro)
	}
	p := newProxy(t)
	// Loaded while the registry is away: the config's topics, fetched at
	// load, fail; after that failure's hold (1 s) each is cold.
	p.down.Store(true)
	cfg, _ := parse(t, kafkaConfig(bootstrap, warm, map[string]any{"allowed_topics": []any{slow, cold, "nosuch"}, "topics_query_arg": "topics",
		"produce_timeout": "2s",
		"schema_registry": map[string]any{"urls": []any{p.url}, "timeout": "5s", "value": map[string]any{"format": "avro"}}}))
	time.Sleep(1500 * time.Millisecond)
	p.down.Store(false)
	if r := postJSON(t, cfg, "/", `"first"`); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}

	r := postJSON(t, cfg, "/?topics=nosuch", `"x"`)
	if r.Status != 500 || r.Details != "kafka_upstream_schema_not_found" || !strings.Contains(r.Body, "subject nosuch-value (latest): the registry has no such schema") {
		t.Errorf("unknown subject: %d %s %s", r.Status, r.Details, r.Body)
	}

	p.delay.Store(int64(4 * time.Second))
	began := time.Now()
	r = postJSON(t, cfg, "/?topics="+slow, `"x"`)
	if took := time.Since(began); r.Status != 503 || r.Details != "kafka_upstream_registry_unavailable" || took > 3*time.Second {
		t.Errorf("slow registry: %d %s %s after %s (produce_timeout 2s)", r.Status, r.Details, r.Body, took)
	}
	p.delay.Store(0)

	p.down.Store(true)
	if r := postJSON(t, cfg, "/", `"still"`); r.Status != 200 {
		t.Errorf("registry down, warm cache: %d %s", r.Status, r.Body)
	}
	r = postJSON(t, cfg, "/?topics="+cold, `"x"`)
	if r.Status != 503 || r.Details != "kafka_upstream_registry_unavailable" {
		t.Errorf("registry down, cold cache: %d %s %s", r.Status, r.Details, r.Body)
	}
	for topic, want := range map[string]int64{warm: 2, slow: 0, cold: 0} {
		if end := kafkatest.EndOffset(t, bootstrap, topic); end != want {
			t.Errorf("%s: end offset %d, want %d", topic, end, want)
		}
	}
}
