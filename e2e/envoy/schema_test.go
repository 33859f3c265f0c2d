//go:build e2e

package envoy_test

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/riferrei/srclient"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
)

// Avro values with the registry's schema, through each adapter in a real
// Envoy: the record is framed with the subject's schema id and decodes
// with goavro (the filter encodes with hamba/avro).
func TestSchemaRegistryAvro(t *testing.T) {
	ensureTopics(t)
	schema := `{"type":"record","name":"Event","namespace":"e2e","fields":[{"name":"id","type":"long"},{"name":"name","type":["null","string"],"default":null}]}`
	reg := srclient.NewSchemaRegistryClient(stack.registry)
	if _, err := reg.CreateSchema(schemaTopic+"-value", schema, srclient.Avro); err != nil {
		t.Fatal(err)
	}
	latest, err := reg.GetLatestSchema(schemaTopic + "-value")
	if err != nil {
		t.Fatal(err)
	}
	prior := before(t)
	// The config fetched the subject when it loaded, before it existed;
	// that answer holds for a second.
	var code int
	var body string
	if err := waitFor(5*time.Second, func() error {
		code, body, _ = do(t, http1, "POST", "/schema/events", "application/json", []byte(`{"id": 7, "name": "seven"}`))
		if code != 200 {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var partition, offset int
	if _, err := fmt.Sscanf(body, `{"message":"message sent","records":[{"topic":"`+schemaTopic+`","partition":%d,"offset":%d}]}`, &partition, &offset); err != nil {
		t.Fatalf("reply %s", body)
	}
	rec := kafkatest.FetchOne(t, stack.bootstrap, schemaTopic, partition, int64(offset))
	v := rec.Value
	if len(v) < 5 || v[0] != 0 || int(binary.BigEndian.Uint32(v[1:5])) != latest.ID() {
		t.Fatalf("value % x, want framing with schema id %d", v, latest.ID())
	}
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	native, _, err := codec.NativeFromBinary(v[5:])
	if m, ok := native.(map[string]any); err != nil || !ok || m["id"] != int64(7) || fmt.Sprint(m["name"]) != "map[string:seven]" {
		t.Errorf("decoded %v, %v", native, err)
	}
	kafkatest.ExpectGrowth(t, stack.bootstrap, prior, map[string]int{fmt.Sprintf("%s/%d", schemaTopic, partition): 1})

	prior = before(t)
	code, body, _ = do(t, http1, "POST", "/schema/events", "application/json", []byte(`{"id": "seven"}`))
	expectRefused(t, code, body, "application/json", prior, 400, kafkatest.ErrorBody("Bad Request", "$.id: expected a number (long), got string"))
}
