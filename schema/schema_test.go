package schema

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/registrytest"
)

const orderAvro = `{"type":"record","name":"Order","namespace":"shop","fields":[
  {"name":"id","type":"long"},
  {"name":"customer","type":["null","string"],"default":null},
  {"name":"address","type":["null","shop.Address"],"default":null},
  {"name":"placed","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"day","type":{"type":"int","logicalType":"date"}},
  {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
  {"name":"ref","type":{"type":"string","logicalType":"uuid"}},
  {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]},"default":"NEW"},
  {"name":"tags","type":{"type":"array","items":"string"},"default":[]}
]}`

const addressAvro = `{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"city","type":"string"}]}`

func newRegistry(t *testing.T, f *registrytest.Registry, value, key *config.RecordSchema) *Registry {
	t.Helper()
	return New(&config.Registry{URLs: []string{f.URL()}, Timeout: time.Second, LatestTTL: time.Hour, Value: value, Key: key},
		slog.New(slog.DiscardHandler))
}

// unframe checks Confluent's framing and returns the schema id and the
// payload (after the message indexes, for protobuf: protoIndexes bytes).
func unframe(t *testing.T, b []byte, protoIndexes int) (int, []byte) {
	t.Helper()
	if len(b) < 5 || b[0] != 0 {
		t.Fatalf("no Confluent framing: % x", b)
	}
	return int(binary.BigEndian.Uint32(b[1:5])), b[5+protoIndexes:]
}

func TestAvroFromPlainJSONWithReferencesAndLogicalTypes(t *testing.T) {
	f := registrytest.New(t)
	f.Register("shop.Address", "", addressAvro)
	id := f.Register("orders-value", "", orderAvro, map[string]any{"name": "shop.Address", "subject": "shop.Address", "version": 1})
	r := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaAvro, Strategy: config.StrategyTopicName}, nil)
	body := `{"id": 42, "customer": "ada", "address": {"city": "Paris"}, "placed": "2026-12-01T10:00:00.5Z",
	  "day": "2026-12-01", "amount": 12.34, "ref": "0b0f6a43-3a4c-4f47-9d7e-2b5a5a1e8f00", "tags": ["a"]}`
	out, err := r.Value(context.Background(), "orders", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	gotID, payload := unframe(t, out, 0)
	if gotID != id {
		t.Errorf("schema id %d, want %d", gotID, id)
	}
	// Decoded by another library (goavro), the references inlined.
	codec, err := goavro.NewCodec(inlineAddress(orderAvro))
	if err != nil {
		t.Fatal(err)
	}
	native, rest, err := codec.NativeFromBinary(payload)
	if err != nil || len(rest) != 0 {
		t.Fatalf("goavro: %v, %d bytes left", err, len(rest))
	}
	m := native.(map[string]any)
	want := map[string]any{"id": int64(42), "customer": map[string]any{"string": "ada"},
		"address": map[string]any{"shop.Address": map[string]any{"city": "Paris"}},
		"ref":     "0b0f6a43-3a4c-4f47-9d7e-2b5a5a1e8f00", "status": "NEW", "tags": []any{"a"}}
	for k, v := range want {
		if js(m[k]) != js(v) {
			t.Errorf("%s = %s, want %s", k, js(m[k]), js(v))
		}
	}
	if ts := m["placed"].(time.Time); !ts.Equal(time.Date(2026, 12, 1, 10, 0, 0, 500e6, time.UTC)) {
		t.Errorf("placed = %v", ts)
	}
	if day := m["day"].(time.Time); !day.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("day = %v", day)
	}
	if amount := m["amount"].(*big.Rat); amount.Cmp(big.NewRat(1234, 100)) != 0 {
		t.Errorf("amount = %v", amount)
	}

	// A nullable union left out, or null, and the default of a field.
	out, err = r.Value(context.Background(), "orders", []byte(`{"id":1,"customer":null,"placed":0,"day":0,"amount":"0.5","ref":"0b0f6a43-3a4c-4f47-9d7e-2b5a5a1e8f00","status":"PAID"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, payload = unframe(t, out, 0)
	native, _, err = codec.NativeFromBinary(payload)
	if err != nil {
		t.Fatal(err)
	}
	if m := native.(map[string]any); m["customer"] != nil || m["address"] != nil || m["status"] != "PAID" || js(m["tags"]) != "[]" {
		t.Errorf("defaults: %v", m)
	}
}

func inlineAddress(s string) string {
	return string(bytes.Replace([]byte(s), []byte(`"shop.Address"]`), []byte(addressAvro+`]`), 1))
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAvroJSONEncodingOfUnions(t *testing.T) {
	f := registrytest.New(t)
	f.Register("e-value", "", `{"type":"record","name":"E","fields":[{"name":"v","type":["null","string","long"]}]}`)
	r := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaAvro, AvroJSON: true}, nil)
	out, err := r.Value(context.Background(), "e", []byte(`{"v":{"long":7}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, p := unframe(t, out, 0); !bytes.Equal(p, []byte{4, 14}) { // branch 2, long 7
		t.Errorf("payload % x, want 04 0e", p)
	}
	_, err = r.Value(context.Background(), "e", []byte(`{"v":7}`))
	if err == nil || err.Error() != `$.v: expected a union value as {"<branch>": value} (avro_json "avro"), got number` {
		t.Errorf("plain value in avro mode: %v", err)
	}
}

func TestAvroMismatchesSayWhereAndWhy(t *testing.T) {
	f := registrytest.New(t)
	f.Register("shop.Address", "", addressAvro)
	f.Register("orders-value", "", orderAvro, map[string]any{"name": "shop.Address", "subject": "shop.Address", "version": 1})
	r := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaAvro}, nil)
	base := `"placed":0,"day":0,"amount":1,"ref":"0b0f6a43-3a4c-4f47-9d7e-2b5a5a1e8f00"`
	for _, tc := range []struct{ body, want string }{
		{`{"id":"x",` + base + `}`, "$.id: expected a number (long), got string"},
		{`{` + base + `}`, "$.id: is required"},
		{`{"id":1,"address":{"city":5},` + base + `}`, "$.address.city: expected a string, got number"},
		{`{"id":1,"status":"LOST",` + base + `}`, `$.status: "LOST" is not one of NEW, PAID`},
		{`{"id":1,"extra":true,` + base + `}`, "$.extra: is not a field of shop.Order"},
		{`{"id":1,"placed":"yesterday","day":0,"amount":1,"ref":"0b0f6a43-3a4c-4f47-9d7e-2b5a5a1e8f00"}`, `$.placed: expected an RFC 3339 timestamp, got "yesterday"`},
		{`{"id":1,"placed":0,"day":0,"amount":"lots","ref":"0b0f6a43-3a4c-4f47-9d7e-2b5a5a1e8f00"}`, `$.amount: "lots" is not a decimal number`},
		{`{"id":1,"placed":0,"day":0,"amount":1,"ref":"nope"}`, "$.ref: expected a UUID, got string"},
		{`{"id":1,"tags":[1],` + base + `}`, "$.tags[0]: expected a string, got number"},
		{`[1]`, "$: expected an object (shop.Order), got array"},
		{`{`, "$: the body is not JSON: unexpected EOF"},
	} {
		_, err := r.Value(context.Background(), "orders", []byte(tc.body))
		if !IsMismatch(err) || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.body, err, tc.want)
		}
	}
}

func TestJSONSchemaValidatesThenWritesCompactJSON(t *testing.T) {
	f := registrytest.New(t)
	f.Register("money.json", "JSON", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"amount":{"type":"number"},"currency":{"type":"string"}},"required":["amount"]}`)
	id := f.Register("orders-value", "JSON", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
	  "properties":{"order":{"type":"object","properties":{"id":{"type":"integer"},"total":{"$ref":"money.json"}},"required":["id"]}}}`,
		map[string]any{"name": "money.json", "subject": "money.json", "version": 1})
	r := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaJSON}, nil)
	out, err := r.Value(context.Background(), "orders", []byte(`{ "order": { "id": 7, "total": {"amount": 9.5} } }`))
	if err != nil {
		t.Fatal(err)
	}
	gotID, payload := unframe(t, out, 0)
	if gotID != id || string(payload) != `{"order":{"id":7,"total":{"amount":9.5}}}` {
		t.Errorf("id %d payload %s", gotID, payload)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"order":{"id":7,"total":{"amount":"9.5"}}}`, "$.order.total.amount: expected number, but got string"},
		{`{"order":{"total":{"amount":1}}}`, "$.order: missing properties: 'id'"},
		{`{"order":{"id":1.5}}`, "$.order.id: expected integer, but got number"},
	} {
		_, err := r.Value(context.Background(), "orders", []byte(tc.body))
		if !IsMismatch(err) || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.body, err, tc.want)
		}
	}
}

// A JSON Schema may not reach for files or URLs that are no references.
func TestJSONSchemaLoadsNothingElse(t *testing.T) {
	f := registrytest.New(t)
	f.Register("x-value", "JSON", `{"$schema":"http://json-schema.org/draft-07/schema#","properties":{"a":{"$ref":"file:///etc/passwd"}}}`)
	r := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaJSON}, nil)
	_, err := r.Value(context.Background(), "x", []byte(`{}`))
	var e *Error
	if !errors.As(err, &e) || e.Kind != BadResponse || !strings.Contains(err.Error(), "is not one of the schema's registry references") {
		t.Fatalf("err %v, want BadResponse: the file is no registry reference", err)
	}
}

func TestKeysWithStringAndRecordSchemas(t *testing.T) {
	f := registrytest.New(t)
	keyID := f.Register("orders-key", "", `"string"`)
	r := newRegistry(t, f, nil, &config.RecordSchema{Format: config.SchemaAvro})
	out, err := r.Key(context.Background(), "orders", []byte("order-42"))
	if err != nil {
		t.Fatal(err)
	}
	if id, p := unframe(t, out, 0); id != keyID || !bytes.Equal(p, append([]byte{16}, "order-42"...)) {
		t.Errorf("key: id %d payload % x", id, p)
	}
	// "42" is JSON, but the schema is a string's: still the text.
	out, _ = r.Key(context.Background(), "orders", []byte("42"))
	if _, p := unframe(t, out, 0); !bytes.Equal(p, []byte{4, '4', '2'}) {
		t.Errorf("key 42: % x", p)
	}
	if k, err := r.Key(context.Background(), "orders", nil); k != nil || err != nil {
		t.Errorf("no key: %v %v", k, err)
	}
	if r.HasValue() {
		t.Error("HasValue without a value schema")
	}
}

// TestAvroFixedAndBytesDefaults: a fixed field from text, and bytes and
// fixed defaults for fields the document leaves out, decoded with goavro.
func TestAvroFixedAndBytesDefaults(t *testing.T) {
	f := registrytest.New(t)
	schema := `{"type":"record","name":"B","fields":[
  {"name":"tag","type":{"type":"fixed","name":"Tag","size":2}},
  {"name":"blob","type":"bytes","default":"\u0000\u00ff"},
  {"name":"code","type":{"type":"fixed","name":"Code","size":2},"default":"ab"}]}`
	f.Register("b-value", "", schema)
	r := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaAvro}, nil)
	out, err := r.Value(context.Background(), "b", []byte(`{"tag":"xy"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, p := unframe(t, out, 0)
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	native, rest, err := codec.NativeFromBinary(p)
	if err != nil || len(rest) != 0 {
		t.Fatalf("goavro: %v, %d bytes left", err, len(rest))
	}
	got := native.(map[string]any)
	if string(got["tag"].([]byte)) != "xy" || !bytes.Equal(got["blob"].([]byte), []byte{0, 0xff}) || string(got["code"].([]byte)) != "ab" {
		t.Errorf("decoded %v, want tag xy, blob 00 ff, code ab", got)
	}
	if _, err := r.Value(context.Background(), "b", []byte(`{"tag":"xyz"}`)); err == nil || err.Error() != "$.tag: expected 2 bytes (fixed Tag), got 3" {
		t.Errorf("3 bytes for a fixed of 2: %v", err)
	}
}
