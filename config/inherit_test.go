package config

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func mustJSON(t *testing.T, js string) *Config {
	t.Helper()
	cfg, err := FromJSON([]byte(js))
	if err != nil {
		t.Fatalf("FromJSON(%s): %v", js, err)
	}
	return cfg
}

func TestOverlay(t *testing.T) {
	const parent = `{"bootstrap_servers":["k:1","k:2"],"topic":"events","forward_method":true,"forward_uri":true,
		"required_acks":1,"allowed_topics":["a","b"],"topics_query_arg":"topics","key_header":"x-key",
		"headers":{"forward_http_headers_as_record_headers":true,"include_headers":["x-a","x-b"],"name_mappings":{"x-a":"a"}},
		"error_handling":{"return_error_message":true}}`
	tests := []struct {
		name          string
		parent, child string
		want          string
	}{
		{"an empty child changes nothing", parent, `{}`, parent},
		{"a scalar replaces the parent's", parent, `{"topic":"orders","key_header":"x-k2"}`,
			`{"bootstrap_servers":["k:1","k:2"],"topic":"orders","forward_method":true,"forward_uri":true,
			"required_acks":1,"allowed_topics":["a","b"],"topics_query_arg":"topics","key_header":"x-k2",
			"headers":{"forward_http_headers_as_record_headers":true,"include_headers":["x-a","x-b"],"name_mappings":{"x-a":"a"}},
			"error_handling":{"return_error_message":true}}`},
		{"lists are replaced, not appended", parent, `{"allowed_topics":["c"]}`,
			`{"bootstrap_servers":["k:1","k:2"],"topic":"events","forward_method":true,"forward_uri":true,
			"required_acks":1,"allowed_topics":["c"],"topics_query_arg":"topics","key_header":"x-key",
			"headers":{"forward_http_headers_as_record_headers":true,"include_headers":["x-a","x-b"],"name_mappings":{"x-a":"a"}},
			"error_handling":{"return_error_message":true}}`},
		{"sections are replaced whole, never merged", parent,
			`{"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true},"error_handling":{}}`,
			`{"bootstrap_servers":["k:1","k:2"],"topic":"events","forward_method":true,"forward_uri":true,
			"required_acks":1,"allowed_topics":["a","b"],"topics_query_arg":"topics","key_header":"x-key",
			"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true},
			"error_handling":{}}`},
		{"explicit false and empty string replace (optional fields)", parent,
			`{"forward_method":false,"topics_query_arg":""}`,
			`{"bootstrap_servers":["k:1","k:2"],"topic":"events","forward_method":false,"forward_uri":true,
			"required_acks":1,"allowed_topics":["a","b"],"topics_query_arg":"","key_header":"x-key",
			"headers":{"forward_http_headers_as_record_headers":true,"include_headers":["x-a","x-b"],"name_mappings":{"x-a":"a"}},
			"error_handling":{"return_error_message":true}}`},
		{"a format change drops forward_*", parent, `{"format":"raw"}`,
			`{"bootstrap_servers":["k:1","k:2"],"topic":"events","format":"raw",
			"required_acks":1,"allowed_topics":["a","b"],"topics_query_arg":"topics","key_header":"x-key",
			"headers":{"forward_http_headers_as_record_headers":true,"include_headers":["x-a","x-b"],"name_mappings":{"x-a":"a"}},
			"error_handling":{"return_error_message":true}}`},
		{"a format change keeps the child's own forward_*", `{"topic":"t","format":"raw"}`,
			`{"format":"kong","forward_headers":true}`,
			`{"topic":"t","format":"kong","forward_headers":true}`},
		{"a format change drops cloudevents", `{"topic":"t","format":"cloudevents","cloudevents":{"mode":"structured","source":"/s"}}`,
			`{"format":"kong"}`, `{"topic":"t","format":"kong"}`},
		{"the same format keeps cloudevents", `{"topic":"t","format":"cloudevents","cloudevents":{"mode":"structured","source":"/s"}}`,
			`{"format":"cloudevents","topic":"u"}`,
			`{"topic":"u","format":"cloudevents","cloudevents":{"mode":"structured","source":"/s"}}`},
		{"the same format keeps forward_*", `{"topic":"t","format":"kong","forward_uri":true}`,
			`{"format":"kong"}`, `{"topic":"t","format":"kong","forward_uri":true}`},
		{"the child's cloudevents replaces the parent's", `{"topic":"t","format":"cloudevents","cloudevents":{"mode":"structured","source":"/s"}}`,
			`{"cloudevents":{"type":"x"}}`, `{"topic":"t","format":"cloudevents","cloudevents":{"type":"x"}}`},
		{"the parent's base is cleared", `{"topic":"t","base":"x"}`, `{}`, `{"topic":"t"}`},
		{"the child's base is cleared", `{"topic":"t"}`, `{"base":"y","topic":"u"}`, `{"topic":"u"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, child := mustJSON(t, tt.parent), mustJSON(t, tt.child)
			parentBefore, childBefore := proto.Clone(parent), proto.Clone(child)
			got := Overlay(parent, child)
			if want := mustJSON(t, tt.want); !proto.Equal(got, want) {
				t.Errorf("Overlay =\n%s\nwant\n%s", prototext.Format(got), prototext.Format(want))
			}
			if !proto.Equal(parent, parentBefore) || !proto.Equal(child, childBefore) {
				t.Errorf("Overlay changed its arguments: parent\n%s\nchild\n%s", prototext.Format(parent), prototext.Format(child))
			}
		})
	}
}

// "kong" is the default format: a route config that names it explicitly
// changes nothing and must keep the parent's forward_* flags.
func TestOverlayExplicitDefaultFormatIsNoFormatChange(t *testing.T) {
	parent := mustJSON(t, `{"bootstrap_servers":["k:1"],"topic":"t","forward_method":true,"forward_body":false}`)
	got := Overlay(parent, mustJSON(t, `{"format":"kong"}`))
	want := mustJSON(t, `{"bootstrap_servers":["k:1"],"topic":"t","forward_method":true,"forward_body":false,"format":"kong"}`)
	if !proto.Equal(got, want) {
		t.Errorf("Overlay =\n%s\nwant\n%s", prototext.Format(got), prototext.Format(want))
	}
}

func TestCheckInheriting(t *testing.T) {
	refused := func(prefix string, fields ...string) string {
		var out []string
		for _, f := range fields {
			out = append(out, prefix+f+": "+producerRule)
		}
		return strings.Join(out, "; ")
	}
	tests := []struct {
		name   string
		cfg    *Config
		prefix string
		want   string // "" for nil
	}{
		{"empty config", &Config{}, "", ""},
		{"topic and raw format", &Config{Topic: "orders", Format: FormatRaw}, "", ""},
		{"a turned-off flag it cannot judge alone", &Config{ForwardBody: proto.Bool(false)}, "", ""},
		{"routing and headers", mustJSON(t, `{"topics_query_arg":"t","allowed_topics":["a"],"key_query_arg":"k",
			"partition_header":"x-p","headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true}}`), "", ""},
		{"cloudevents", mustJSON(t, `{"format":"cloudevents","cloudevents":{"mode":"structured"}}`), "", ""},
		{"error_handling", mustJSON(t, `{"error_handling":{"return_error_message":true}}`), "", ""},
		{"allow_auto_topic_creation false is unset (proto3)", &Config{AllowAutoTopicCreation: false}, "", ""},

		{"required_acks", &Config{RequiredAcks: proto.Int32(1)}, "", refused("", "required_acks")},
		{"required_acks at its default value", &Config{RequiredAcks: proto.Int32(-1)}, "", refused("", "required_acks")},
		{"produce_timeout", &Config{ProduceTimeout: durationpb.New(1e9)}, "", refused("", "produce_timeout")},
		{"batching", mustJSON(t, `{"batching":{"size":3}}`), "", refused("", "batching")},
		{"empty batching", mustJSON(t, `{"batching":{}}`), "", refused("", "batching")},
		{"client_id", &Config{ClientId: "x"}, "", refused("", "client_id")},
		{"partitioner", &Config{Partitioner: PartitionerCRC32}, "", refused("", "partitioner")},
		{"keyless_partitioning", &Config{KeylessPartitioning: KeylessRandom}, "", refused("", "keyless_partitioning")},
		{"allow_auto_topic_creation", &Config{AllowAutoTopicCreation: true}, "", refused("", "allow_auto_topic_creation")},
		{"every producer field, in the list's order, with the prefix", mustJSON(t, `{"allow_auto_topic_creation":true,
			"keyless_partitioning":"random","partitioner":"crc32","client_id":"c","batching":{},"produce_timeout":"1s","required_acks":0}`),
			"configs.raw.", refused("configs.raw.", "required_acks", "produce_timeout", "batching", "client_id",
				"partitioner", "keyless_partitioning", "allow_auto_topic_creation")},
		{"a refused field that is also invalid is reported twice", &Config{RequiredAcks: proto.Int32(5)}, "",
			refused("", "required_acks") + "; required_acks: must be -1 (all), 1 (leader) or 0 (none), got 5"},

		{"an invalid topic", &Config{Topic: "a b"}, "", `topic: "a b" ` + notTopicName},
		{"an invalid topic, with the prefix", &Config{Topic: "a b"}, "configs.x.", `configs.x.topic: "a b" ` + notTopicName},
		{"forward_* with the raw format", &Config{Format: FormatRaw, ForwardUri: proto.Bool(true)}, "",
			`forward_uri: shapes the kong format only; format is "raw"`},
		{"an unknown format", &Config{Format: "xml"}, "", `format: must be one of "kong", "raw", "cloudevents", got "xml"`},
		{"a bad header section", mustJSON(t, `{"headers":{"forward_http_headers_as_record_headers":true}}`), "",
			"headers.include_headers: must not be empty in allowlist mode (forward_all_by_default: false), or nothing is forwarded"},
		{"a bad query argument name", &Config{KeyQueryArg: proto.String("k=")}, "", `key_query_arg: "k=" ` + queryArgRule},
		{"a producer field and an invalid one", &Config{ClientId: "c", Topic: ".."}, "configs.a.",
			refused("configs.a.", "client_id") + `; configs.a.topic: ".." is not a valid Kafka topic name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := proto.Clone(tt.cfg)
			err := CheckInheriting(tt.cfg, tt.prefix)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckInheriting = %v, want nil", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("CheckInheriting error\n got %v\nwant %s", err, tt.want)
			}
			if !proto.Equal(tt.cfg, before) {
				t.Errorf("CheckInheriting changed its config:\n%s", prototext.Format(tt.cfg))
			}
		})
	}
}

func TestInherits(t *testing.T) {
	if !Inherits(&Config{Topic: "t"}) {
		t.Error("a config without bootstrap_servers does not inherit")
	}
	if Inherits(&Config{BootstrapServers: []string{"k:1"}}) {
		t.Error("a config with bootstrap_servers inherits")
	}
}
