package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSchemaRegistryDefaults(t *testing.T) {
	s := resolveJSON(t, minimal[:len(minimal)-1]+`,"schema_registry":{"urls":["http://reg:8081/"],
	  "value":{"format":"avro"},"key":{"format":"json_schema","subject":"keys","version":"3"}}}`)
	r := s.Schemas
	if r == nil || len(r.URLs) != 1 || r.URLs[0] != "http://reg:8081" || r.Timeout != 5*time.Second || r.LatestTTL != 5*time.Minute {
		t.Fatalf("registry %+v", r)
	}
	if v := r.Value; v.Format != SchemaAvro || v.Strategy != StrategyTopicName || v.Version != 0 || v.Envelope || v.SubjectFor("orders", false) != "orders-value" {
		t.Errorf("value %+v", v)
	}
	if k := r.Key; k.Format != SchemaJSON || k.Version != 3 || k.SubjectFor("orders", true) != "keys" {
		t.Errorf("key %+v", k)
	}
	if got := r.Value.SubjectFor("orders", true); got != "orders-key" {
		t.Errorf("key subject by topic: %s", got)
	}
}

func TestSchemaRegistryErrorsNameTheField(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ section, want string }{
		{`{}`, "schema_registry.urls: is required: the base URL of the registry's Confluent API, e.g. http://registry:8081; schema_registry.value: is required (or key): what the registry's schemas serialise"},
		{`{"urls":["ftp://x"],"value":{"format":"avro"}}`, `schema_registry.urls[0]: is not an http or https URL`},
		{`{"urls":["https://u:hunter2@r"],"value":{"format":"avro"}}`, `schema_registry.urls[0]: holds credentials; set username and password (or password_file) instead`},
		{`{"urls":["http://r"],"value":{"format":"xml"}}`, `schema_registry.value.format: must be "avro", "json_schema" or "protobuf", got "xml"`},
		{`{"urls":["http://r"],"value":{}}`, `schema_registry.value.format: is required: "avro", "json_schema" or "protobuf"`},
		{`{"urls":["http://r"],"value":{"format":"avro","version":"newest"}}`, `schema_registry.value.version: must be a version number or "latest", got "newest"`},
		{`{"urls":["http://r"],"value":{"format":"avro","schema_id":3,"subject":"s"}}`, `schema_registry.value.schema_id: names the schema by itself: leave out subject, version, subject_name_strategy and auto_register`},
		{`{"urls":["http://r"],"value":{"format":"avro","subject_name_strategy":"record_name"}}`, `schema_registry.value.record_name: is required with subject_name_strategy "record_name"`},
		{`{"urls":["http://r"],"key":{"format":"avro","source":"envelope"}}`, `schema_registry.key.source: applies to values only: a key is the key`},
		{`{"urls":["http://r"],"value":{"format":"avro","auto_register":true}}`, `schema_registry.value.schema: is required with auto_register: the schema to register`},
		{`{"urls":["http://r"],"value":{"format":"json_schema","avro_json":"avro"}}`, `schema_registry.value.avro_json: is for the avro format`},
		{`{"urls":["http://r"],"value":{"format":"avro"},"username":"u"}`, `schema_registry.password: must be set with username (or password_file)`},
		{`{"urls":["http://r"],"value":{"format":"avro"},"username":"u","password":"p","password_file":"` + pw + `"}`, `schema_registry.password: set password or password_file, not both`},
		{`{"urls":["http://r"],"value":{"format":"avro"},"tls":{"enabled":true,"ca_file":"/nope"}}`, `schema_registry.tls.ca_file: open /nope: no such file or directory`},
		{`{"urls":["http://r"],"value":{"format":"avro"},"timeout":"0s"}`, `schema_registry.timeout: must be positive, got 0s`},
	} {
		_, err := Resolve(mustJSON(t, minimal[:len(minimal)-1]+`,"schema_registry":`+tc.section+`}`))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.section, err, tc.want)
		}
	}
}

// The registry password never shows in what the settings print.
func TestSchemaRegistrySecretsDoNotPrint(t *testing.T) {
	s := resolveJSON(t, minimal[:len(minimal)-1]+`,"schema_registry":{"urls":["http://r"],"value":{"format":"avro"},"username":"u","password":"hunter2-registry"}}`)
	for _, out := range []string{sprintAll(s.Schemas), sprintAll(*s.Schemas)} {
		if strings.Contains(out, "hunter2-registry") {
			t.Errorf("printed the password: %s", out)
		}
	}
}

func sprintAll(v any) string {
	var b strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		b.WriteString(fmt.Sprintf(verb, v))
	}
	return b.String()
}
