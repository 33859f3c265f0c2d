package schema

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/registrytest"
)

const moneyProto = `syntax = "proto3";
package shop;
message Money { string currency = 1; int64 units = 2; }`

const orderProto = `syntax = "proto3";
package shop;
import "shop/money.proto";
import "google/protobuf/timestamp.proto";
message Order {
  int64 id = 1;
  Money total = 2;
  google.protobuf.Timestamp placed = 3;
  message Line { string sku = 1; }
  repeated Line lines = 4;
}`

func TestProtobufWithImportsAndMessageIndexes(t *testing.T) {
	f := registrytest.New(t)
	f.Register("shop/money.proto", "PROTOBUF", moneyProto)
	id := f.Register("orders-value", "PROTOBUF", orderProto, map[string]any{"name": "shop/money.proto", "subject": "shop/money.proto", "version": 1})
	r := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaProtobuf}, nil)
	out, err := r.Value(context.Background(), "orders", []byte(`{"id":"42","total":{"currency":"EUR","units":9},"placed":"2026-12-01T10:00:00Z","lines":[{"sku":"a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	gotID, payload := unframe(t, out, 1) // [0]: the first message, one 0 byte
	if gotID != id || out[5] != 0 {
		t.Fatalf("id %d (want %d), index byte %d", gotID, id, out[5])
	}
	// Read back field by field with the wire format alone (in any order:
	// a dynamic message's fields need not come out by number).
	fields := wireFields(payload)
	if v, _ := protowire.ConsumeVarint(fields[1]); v != 42 {
		t.Errorf("id = %d", v)
	}
	total, _ := protowire.ConsumeBytes(fields[2])
	money := wireFields(total)
	currency, _ := protowire.ConsumeBytes(money[1])
	units, _ := protowire.ConsumeVarint(money[2])
	if string(currency) != "EUR" || units != 9 || len(money) != 2 {
		t.Errorf("total = % x", total)
	}
	if placed, _ := protowire.ConsumeBytes(fields[3]); len(placed) == 0 || placed[0] != 0x08 {
		t.Errorf("placed = % x", placed)
	}

	// A nested message: its index path [0, 0] is written as count, indexes.
	r = newRegistry(t, f, &config.RecordSchema{Format: config.SchemaProtobuf, MessageName: "shop.Order.Line"}, nil)
	out, err = r.Value(context.Background(), "orders", []byte(`{"sku":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	if idx := out[5:8]; idx[0] != 4 || idx[1] != 0 || idx[2] != 0 { // zigzag varints: 2, 0, 0
		t.Errorf("message indexes % x, want 04 00 00", idx)
	}

	_, err = r.Value(context.Background(), "orders", []byte(`{"sku":5}`))
	if !IsMismatch(err) || err.Error() != `$: invalid value for string field sku: 5` {
		t.Errorf("mismatch: %v", err)
	}
}

// wireFields splits a message's wire bytes by field number (each field's
// value as ConsumeFieldValue sees it).
func wireFields(b []byte) map[protowire.Number][]byte {
	fields := map[protowire.Number][]byte{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fields
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return fields
		}
		fields[num] = b[:m]
		b = b[m:]
	}
	return fields
}

// Fan-out: each topic's subject, each its own schema id.
func TestTopicNameStrategyPerTopic(t *testing.T) {
	f := registrytest.New(t)
	a := f.Register("a-value", "", `"string"`)
	b := f.Register("b-value", "", `"string"`)
	r := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaAvro}, nil)
	for topic, want := range map[string]int{"a": a, "b": b} {
		out, err := r.Value(context.Background(), topic, []byte(`"x"`))
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := unframe(t, out, 0); id != want {
			t.Errorf("topic %s: id %d, want %d", topic, id, want)
		}
	}
	// The record-name strategies.
	rb := &config.RecordSchema{Format: config.SchemaAvro, Strategy: config.StrategyTopicRecordName, RecordName: "shop.Order"}
	if s := rb.SubjectFor("orders", false); s != "orders-shop.Order" {
		t.Errorf("topic_record_name: %s", s)
	}
	rb.Strategy = config.StrategyRecordName
	if s := rb.SubjectFor("orders", true); s != "shop.Order" {
		t.Errorf("record_name: %s", s)
	}
}

func kindOf(err error) (Kind, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, true
	}
	return 0, false
}

// Warm cache: no request to the registry; a registry that goes away
// fails nothing. Cold cache: a registry down is Unavailable, garbage is
// BadResponse, an unknown subject NotFound, a slow one bounded by the
// request's deadline.
func TestCacheAndRegistryFailures(t *testing.T) {
	f := registrytest.New(t)
	f.Register("ok-value", "", `"string"`)
	r := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaAvro}, nil)
	ctx := context.Background()
	if _, err := r.Value(ctx, "ok", []byte(`"x"`)); err != nil {
		t.Fatal(err)
	}
	before := f.Requests.Load()
	for range 10 {
		if _, err := r.Value(ctx, "ok", []byte(`"x"`)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.Requests.Load() - before; n != 0 {
		t.Errorf("%d registry requests with a warm cache", n)
	}

	_, err := r.Value(ctx, "missing", []byte(`"x"`))
	if k, ok := kindOf(err); !ok || k != NotFound {
		t.Errorf("unknown subject: %v", err)
	}

	f.Garbage.Store(true)
	_, err = r.Value(ctx, "other", []byte(`"x"`))
	if k, ok := kindOf(err); !ok || k != BadResponse {
		t.Errorf("garbage: %v", err)
	}
	f.Garbage.Store(false)

	f.Delay.Store(int64(3 * time.Second))
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = r.Value(short, "slow", []byte(`"x"`))
	if k, ok := kindOf(err); !ok || k != Unavailable || time.Since(began) > time.Second {
		t.Errorf("slow registry: %v after %s", err, time.Since(began))
	}
	f.Delay.Store(0)

	f.Close()
	if _, err := r.Value(ctx, "ok", []byte(`"x"`)); err != nil {
		t.Errorf("registry down, warm cache: %v", err)
	}
	_, err = r.Value(ctx, "cold", []byte(`"x"`))
	if k, ok := kindOf(err); !ok || k != Unavailable {
		t.Errorf("registry down, cold cache: %v", err)
	}
}

// "latest" is looked up again after the TTL, in the background: the
// request that notices gets the schema it had; a later one the new.
func TestLatestIsRefreshedInTheBackground(t *testing.T) {
	f := registrytest.New(t)
	first := f.Register("t-value", "", `"string"`)
	r := New(&config.Registry{URLs: []string{f.URL()}, Timeout: time.Second, LatestTTL: 50 * time.Millisecond,
		Value: &config.RecordSchema{Format: config.SchemaAvro}}, nil)
	id := func() int {
		out, err := r.Value(context.Background(), "t", []byte(`"x"`))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := unframe(t, out, 0)
		return got
	}
	if got := id(); got != first {
		t.Fatalf("id %d, want %d", got, first)
	}
	second := f.Register("t-value", "", `{"type":"string","doc":"v2"}`)
	time.Sleep(80 * time.Millisecond)
	if got := id(); got != first {
		t.Errorf("the request that finds the TTL over got %d, want the cached %d", got, first)
	}
	deadline := time.Now().Add(5 * time.Second)
	for id() != second {
		if time.Now().After(deadline) {
			t.Fatal("latest never refreshed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Auto-registration: off by default; on, the configured schema is
// registered under the missing subject and used, and never under the
// subject of a missing reference.
func TestAutoRegister(t *testing.T) {
	f := registrytest.New(t)
	off := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaAvro, Schema: `"string"`}, nil)
	var e *Error
	if _, err := off.Value(context.Background(), "new", []byte(`"x"`)); !errors.As(err, &e) || e.Kind != NotFound || f.Versions("new-value") != 0 {
		t.Fatalf("without auto_register: %v, new-value has %d versions; want NotFound and none", err, f.Versions("new-value"))
	}
	f.Register("refs-value", "", orderAvro, map[string]any{"name": "shop.Address", "subject": "shop.Address", "version": 1})
	withRef := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaAvro, AutoRegister: true, Schema: `"string"`}, nil)
	if _, err := withRef.Value(context.Background(), "refs", []byte(`"x"`)); !errors.As(err, &e) || e.Kind != NotFound || f.Versions("shop.Address") != 0 {
		t.Fatalf("a missing reference with auto_register: %v, shop.Address has %d versions; want NotFound and none", err, f.Versions("shop.Address"))
	}
	on := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaAvro, AutoRegister: true, Schema: `"string"`}, nil)
	out, err := on.Value(context.Background(), "fresh", []byte(`"x"`))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := unframe(t, out, 0); id == 0 {
		t.Error("no id")
	}
	if f.Versions("fresh-value") != 1 {
		t.Errorf("fresh-value has %d versions after auto-registration, want 1", f.Versions("fresh-value"))
	}
}

// TLS to the registry, verified against the configured CA, with basic
// authentication from a password file (read per request: a rotated one
// is used); a wrong password is the registry's refusal, not an outage.
func TestTLSAndBasicAuth(t *testing.T) {
	f, caFile := registrytest.NewTLS(t, "ingest", "s3cret")
	f.Register("t-value", "", `"string"`)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := resolveRegistry(t, fmt.Sprintf(`{"urls":[%q],"username":"ingest","password_file":%q,"tls":{"enabled":true,"ca_file":%q},"value":{"format":"avro"}}`,
		f.URL(), pwFile, caFile))
	r := New(cfg, nil)
	_, err := r.Value(context.Background(), "t", []byte(`"x"`))
	if k, ok := kindOf(err); !ok || k != BadResponse {
		t.Fatalf("wrong password: %v, want a BadResponse", err)
	}
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the failure's hold
	if _, err := r.Value(context.Background(), "t", []byte(`"x"`)); err != nil {
		t.Fatalf("after the password file changed: %v", err)
	}

	// Without the CA, the server's certificate is not trusted.
	cfg = resolveRegistry(t, fmt.Sprintf(`{"urls":[%q],"username":"ingest","password":"s3cret","value":{"format":"avro"}}`, f.URL()))
	_, err = New(cfg, nil).Value(context.Background(), "t", []byte(`"x"`))
	if k, ok := kindOf(err); !ok || k != Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func resolveRegistry(t *testing.T, section string) *config.Registry {
	t.Helper()
	cfg, err := config.FromJSON([]byte(`{"bootstrap_servers":["k:9092"],"topic":"t","schema_registry":` + section + `}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := config.Resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s.Schemas
}

// By id, and by subject and version number: each the schema it names,
// whatever the subject's latest is.
func TestSchemaByIDAndByVersion(t *testing.T) {
	f := registrytest.New(t)
	v1 := f.Register("t-value", "", `"string"`)
	v2 := f.Register("t-value", "", `"long"`)
	for _, tc := range []struct {
		b    *config.RecordSchema
		doc  string
		want int
	}{
		{&config.RecordSchema{Format: config.SchemaAvro, ID: v1}, `"x"`, v1},
		{&config.RecordSchema{Format: config.SchemaAvro, Version: 1}, `"x"`, v1},
		{&config.RecordSchema{Format: config.SchemaAvro, Version: 2}, `5`, v2},
		{&config.RecordSchema{Format: config.SchemaAvro}, `5`, v2},
	} {
		out, err := newRegistry(t, f, tc.b, nil).Value(context.Background(), "t", []byte(tc.doc))
		if err != nil {
			t.Fatalf("%+v: %v", tc.b, err)
		}
		if id, _ := unframe(t, out, 0); id != tc.want {
			t.Errorf("%+v: id %d, want %d", tc.b, id, tc.want)
		}
	}
	_, err := newRegistry(t, f, &config.RecordSchema{Format: config.SchemaAvro, Version: 3}, nil).Value(context.Background(), "t", []byte(`5`))
	if k, ok := kindOf(err); !ok || k != NotFound {
		t.Errorf("version 3: %v", err)
	}
	// The registry's type must be the config's.
	_, err = newRegistry(t, f, &config.RecordSchema{Format: config.SchemaJSON, ID: v1}, nil).Value(context.Background(), "t", []byte(`"x"`))
	if err == nil || err.Error() != fmt.Sprintf("id %d: the registry's schema is avro, the config says json_schema", v1) {
		t.Errorf("format mismatch: %v", err)
	}
}
