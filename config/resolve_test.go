package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// resolveJSON decodes and resolves js, failing the test on an error.
func resolveJSON(t *testing.T, js string) *Settings {
	t.Helper()
	s, err := Resolve(mustJSON(t, js))
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return s
}

func checkSettings(t *testing.T, got *Settings, want Settings) {
	t.Helper()
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("settings\n got %+v\nwant %+v", *got, want)
	}
}

// Every field of a kong-format config, the new ones included.
func TestSettingsOfAFullKongConfig(t *testing.T) {
	got := resolveJSON(t, `{
		"bootstrap_servers": ["k1:9092", "k2:9093"], "topic": "events",
		"forward_method": true, "forward_uri": true, "forward_headers": false, "forward_body": false,
		"required_acks": 0, "produce_timeout": "3s",
		"batching": {"timeout": "0.002s", "size": 7, "bytes": 4096},
		"client_id": "edge",
		"allowed_topics": ["audit", "orders", "audit"],
		"topics_query_arg": "topics", "key_query_arg": "key", "key_header": "X-Key",
		"partitioner": "crc32", "keyless_partitioning": "random",
		"partition_query_arg": "p", "partition_header": "X-Partition",
		"headers": {
			"forward_http_headers_as_record_headers": true,
			"forward_all_by_default": false,
			"include_headers": ["X-Tenant", "x-request-id", "x-tenant"],
			"name_mappings": {"X-Tenant": "Tenant", "x-request-id": "request_id"},
			"repeated_headers_behavior": "take_first"
		},
		"format": "kong",
		"error_handling": {"return_error_message": true},
		"allow_auto_topic_creation": true
	}`)
	checkSettings(t, got, Settings{
		Cluster: Cluster{Brokers: []string{"k1:9092", "k2:9093"}, ClientID: "edge"},
		Producer: Producer{
			RequiredAcks: 0, ProduceTimeout: 3 * time.Second,
			BatchTimeout: 2 * time.Millisecond, BatchSize: 7, BatchBytes: 4096,
			Partitioner: PartitionerCRC32, Keyless: KeylessRandom, AllowAutoTopicCreation: true, Compression: "none",
		},
		Routing: Routing{
			Topic:          "events",
			AllowedTopics:  map[string]bool{"events": true, "audit": true, "orders": true},
			TopicsQueryArg: "topics", KeyQueryArg: "key", KeyHeader: "x-key",
			PartitionQueryArg: "p", PartitionHeader: "x-partition",
		},
		Message: Message{Format: FormatKong, Forward: Forward{Method: true, URI: true}},
		Headers: Headers{
			Enabled:  true,
			Include:  map[string]bool{"x-tenant": true, "x-request-id": true},
			Exclude:  map[string]bool{},
			Rename:   map[string]string{"x-tenant": "Tenant", "x-request-id": "request_id"},
			Repeated: RepeatedTakeFirst,
			// propagate_trace_context unset: on.
			TraceContext: true,
		},
		Replies: Replies{ReturnErrorMessage: true},
	})
}

// Every field of a cloudevents-format config, headers in blocklist mode.
func TestSettingsOfAFullCloudEventsConfig(t *testing.T) {
	got := resolveJSON(t, `{
		"bootstrap_servers": ["k:9092"], "topic": "ce",
		"format": "cloudevents",
		"cloudevents": {"mode": "structured", "source": "/gateway", "type": "com.example.request", "id_from_request_id": true},
		"headers": {
			"forward_http_headers_as_record_headers": true,
			"forward_all_by_default": true,
			"exclude_headers": ["Authorization", "cookie"],
			"repeated_headers_behavior": "retain_duplicates"
		}
	}`)
	want := defaults()
	want.Cluster.Brokers = []string{"k:9092"}
	want.Routing = Routing{Topic: "ce", AllowedTopics: map[string]bool{"ce": true}}
	// forward_body's default is still applied; the kong format alone reads it.
	want.Message = Message{Format: FormatCloudEvents, Forward: Forward{Body: true},
		CloudEvents: CloudEventOptions{Structured: true, Source: "/gateway", Type: "com.example.request", IDFromRequestID: true}}
	want.Headers = Headers{
		Enabled: true, AllByDefault: true,
		Include:      map[string]bool{},
		Exclude:      map[string]bool{"authorization": true, "cookie": true},
		Rename:       map[string]string{},
		Repeated:     RepeatedRetain,
		TraceContext: true,
	}
	checkSettings(t, got, want)
}

func TestSettingsOfNewFieldsOneByOne(t *testing.T) {
	tests := []struct {
		name   string
		fields string
		want   func(*Settings)
	}{
		{"raw format", `"format":"raw"`, func(s *Settings) { s.Message.Format = FormatRaw }},
		{"cloudevents format: binary mode by default", `"format":"cloudevents"`,
			func(s *Settings) { s.Message.Format = FormatCloudEvents }},
		{"cloudevents binary mode named", `"format":"cloudevents","cloudevents":{"mode":"binary"}`,
			func(s *Settings) { s.Message.Format = FormatCloudEvents }},
		{"murmur2 named", `"partitioner":"murmur2"`, func(*Settings) {}},
		{"round_robin named", `"keyless_partitioning":"round_robin"`, func(*Settings) {}},
		{"concatenate_by_comma named", `"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true,"repeated_headers_behavior":"concatenate_by_comma"}`,
			func(s *Settings) { s.Headers.Enabled, s.Headers.AllByDefault = true, true }},
		{"topics_query_arg empty turns it off", `"topics_query_arg":""`, func(*Settings) {}},
		{"the default topic listed in allowed_topics", `"allowed_topics":["events"]`, func(*Settings) {}},
		{"empty error_handling", `"error_handling":{}`, func(*Settings) {}},
		{"allow_auto_topic_creation false", `"allow_auto_topic_creation":false`, func(*Settings) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolveJSON(t, `{"bootstrap_servers":["127.0.0.1:9092"],"topic":"events",`+tt.fields+`}`)
			want := defaults()
			want.Routing.AllowedTopics = map[string]bool{"events": true}
			tt.want(&want)
			checkSettings(t, got, want)
		})
	}
}

const (
	notTopicName = "is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)"
	queryArgRule = "cannot be a query argument name (no & = # ? + % or space)"
	producerRule = "a config without bootstrap_servers shares its parent's Kafka producer and cannot change it; set bootstrap_servers (and every other field) to use a producer of its own"
)

func TestNewFieldErrors(t *testing.T) {
	tests := []struct {
		name, fields, want string
	}{
		// format and what belongs to it
		{"unknown format", `"format":"json"`,
			`format: must be one of "kong", "raw", "cloudevents", got "json"`},
		{"format letter case", `"format":"Raw"`,
			`format: must be one of "kong", "raw", "cloudevents", got "Raw"`},
		{"forward_method with raw", `"format":"raw","forward_method":true`,
			`forward_method: shapes the kong format only; format is "raw"`},
		{"forward_body false with raw: set is set", `"format":"raw","forward_body":false`,
			`forward_body: shapes the kong format only; format is "raw"`},
		{"every forward_* with cloudevents, in field order", `"format":"cloudevents","forward_body":true,"forward_headers":true,"forward_uri":false,"forward_method":false`,
			`forward_method: shapes the kong format only; format is "cloudevents"; forward_uri: shapes the kong format only; format is "cloudevents"; ` +
				`forward_headers: shapes the kong format only; format is "cloudevents"; forward_body: shapes the kong format only; format is "cloudevents"`},
		{"cloudevents section with the kong format", `"cloudevents":{"source":"/s"}`,
			`cloudevents: applies to format "cloudevents" only; format is "kong"`},
		{"empty cloudevents section with raw", `"format":"raw","cloudevents":{}`,
			`cloudevents: applies to format "cloudevents" only; format is "raw"`},
		{"cloudevents.mode", `"format":"cloudevents","cloudevents":{"mode":"batch"}`,
			`cloudevents.mode: must be one of "binary", "structured", got "batch"`},

		// producer
		{"partitioner", `"partitioner":"java"`,
			`partitioner: must be one of "murmur2", "crc32", got "java"`},
		{"keyless_partitioning", `"keyless_partitioning":"sticky"`,
			`keyless_partitioning: must be one of "round_robin", "random", got "sticky"`},

		// headers section
		{"headers section with forwarding off", `"headers":{"include_headers":["x-a"]}`,
			"headers: forward_http_headers_as_record_headers is false, so no header is forwarded and the other fields have no effect; set it to true, or remove the section"},
		{"empty headers section", `"headers":{}`,
			"headers: forward_http_headers_as_record_headers is false, so no header is forwarded and the other fields have no effect; set it to true, or remove the section"},
		{"include_headers in blocklist mode", `"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true,"include_headers":["x-a"]}`,
			"headers.include_headers: has no effect in blocklist mode (forward_all_by_default: true), which forwards every header but exclude_headers"},
		{"exclude_headers in allowlist mode", `"headers":{"forward_http_headers_as_record_headers":true,"include_headers":["x-a"],"exclude_headers":["x-b"]}`,
			"headers.exclude_headers: has no effect in allowlist mode (forward_all_by_default: false), which forwards include_headers only"},
		{"empty include_headers in allowlist mode", `"headers":{"forward_http_headers_as_record_headers":true}`,
			"headers.include_headers: must not be empty in allowlist mode (forward_all_by_default: false), or nothing is forwarded"},
		{"pseudo-header in include_headers", `"headers":{"forward_http_headers_as_record_headers":true,"include_headers":["x-a",":path"]}`,
			`headers.include_headers[1]: ":path" is a pseudo-header; name a regular header`},
		{"only a pseudo-header in include_headers: the list is then empty too", `"headers":{"forward_http_headers_as_record_headers":true,"include_headers":[":authority"]}`,
			`headers.include_headers[0]: ":authority" is a pseudo-header; name a regular header; ` +
				"headers.include_headers: must not be empty in allowlist mode (forward_all_by_default: false), or nothing is forwarded"},
		{"invalid name in include_headers", `"headers":{"forward_http_headers_as_record_headers":true,"include_headers":["x a","x-b","x:c"]}`,
			`headers.include_headers[0]: "x a" is not a valid HTTP header name; headers.include_headers[2]: "x:c" is not a valid HTTP header name`},
		{"pseudo-header in exclude_headers", `"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true,"exclude_headers":[":method"]}`,
			`headers.exclude_headers[0]: ":method" is a pseudo-header; name a regular header`},
		{"invalid name in exclude_headers", `"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true,"exclude_headers":["x-a","é"]}`,
			`headers.exclude_headers[1]: "é" is not a valid HTTP header name`},
		{"name_mappings with an empty target", `"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true,"name_mappings":{"x-tenant":""}}`,
			"headers.name_mappings.x-tenant: the record header key must not be empty"},
		{"name_mappings from a pseudo-header", `"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true,"name_mappings":{":path":"path"}}`,
			`headers.name_mappings: ":path" is a pseudo-header; name a regular header`},
		{"name_mappings from an invalid name", `"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true,"name_mappings":{"a b":"ab"}}`,
			`headers.name_mappings: "a b" is not a valid HTTP header name`},
		{"repeated_headers_behavior", `"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true,"repeated_headers_behavior":"join"}`,
			`headers.repeated_headers_behavior: must be one of "concatenate_by_comma", "take_first", "retain_duplicates", got "join"`},

		// routing
		{"key_header pseudo-header", `"key_header":":path"`,
			`key_header: ":path" is a pseudo-header; name a regular header`},
		{"key_header invalid", `"key_header":"x key"`,
			`key_header: "x key" is not a valid HTTP header name`},
		{"partition_header pseudo-header", `"partition_header":":authority"`,
			`partition_header: ":authority" is a pseudo-header; name a regular header`},
		{"partition_header invalid", `"partition_header":"x(p)"`,
			`partition_header: "x(p)" is not a valid HTTP header name`},
		{"allowed_topics invalid name with its index", `"allowed_topics":["audit","a/b","ok",".."]`,
			`allowed_topics[1]: "a/b" ` + notTopicName + `; allowed_topics[3]: ".." is not a valid Kafka topic name`},
		{"allowed_topics empty name", `"allowed_topics":[""]`,
			`allowed_topics[0]: "" ` + notTopicName},
		{"base in a golang filter config", `"base":"default"`,
			"base: only the ext_proc server's config file has named configs to inherit from; a golang filter route config inherits the listener's config by leaving out bootstrap_servers"},
	}
	for _, c := range "&=#?+% " {
		for _, field := range []string{"topics_query_arg", "key_query_arg", "partition_query_arg"} {
			name := "a" + string(c) + "b"
			tests = append(tests, struct{ name, fields, want string }{
				fmt.Sprintf("%s with %q", field, c),
				`"` + field + `":"` + name + `"`,
				field + `: "` + name + `" ` + queryArgRule,
			})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := FromJSON([]byte(`{"bootstrap_servers":["k:1"],"topic":"events",` + tt.fields + `}`))
			if err != nil {
				t.Fatalf("FromJSON: %v", err)
			}
			_, err = Resolve(cfg)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

// An empty string in include_headers names nothing: it is skipped, not
// refused (the list still names x-a).
func TestEmptyHeaderNameIsSkipped(t *testing.T) {
	got := resolveJSON(t, `{"bootstrap_servers":["k:1"],"topic":"events",
		"headers":{"forward_http_headers_as_record_headers":true,"include_headers":["x-a",""]}}`)
	if want := map[string]bool{"x-a": true}; !reflect.DeepEqual(got.Headers.Include, want) {
		t.Errorf("include = %v, want %v", got.Headers.Include, want)
	}
}

func TestSeveralNewProblemsAtOnce(t *testing.T) {
	cfg, err := FromJSON([]byte(`{"bootstrap_servers":["k:1"],"topic":"events",
		"format":"raw","forward_uri":true,"partitioner":"x","headers":{"include_headers":["x-a"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Resolve(cfg)
	want := `forward_uri: shapes the kong format only; format is "raw"; ` +
		`partitioner: must be one of "murmur2", "crc32", got "x"; ` +
		"headers: forward_http_headers_as_record_headers is false, so no header is forwarded and the other fields have no effect; set it to true, or remove the section"
	if err == nil || err.Error() != want {
		t.Errorf("error\n got %v\nwant %s", err, want)
	}
}

func TestCheckTopicName(t *testing.T) {
	for _, ok := range []string{"a", "A.b_c-9", "...", "-", strings.Repeat("x", 249)} {
		if err := CheckTopicName(ok); err != nil {
			t.Errorf("CheckTopicName(%q) = %v, want nil", ok, err)
		}
	}
	for name, want := range map[string]string{
		"":                       `"" ` + notTopicName,
		".":                      `"." is not a valid Kafka topic name`,
		"..":                     `".." is not a valid Kafka topic name`,
		"a b":                    `"a b" ` + notTopicName,
		"a/b":                    `"a/b" ` + notTopicName,
		"é":                      `"é" ` + notTopicName,
		strings.Repeat("x", 250): `"` + strings.Repeat("x", 250) + `" ` + notTopicName,
	} {
		if err := CheckTopicName(name); err == nil || err.Error() != want {
			t.Errorf("CheckTopicName(%q) = %v, want %s", name, err, want)
		}
	}
}
