package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

const minimal = `{"bootstrap_servers":["127.0.0.1:9092"],"topic":"events"}`

func defaults() Settings {
	return Settings{
		Cluster: Cluster{Brokers: []string{"127.0.0.1:9092"}, ClientID: "kafka-upstream"},
		Producer: Producer{
			RequiredAcks:   -1,
			ProduceTimeout: 10 * time.Second,
			BatchTimeout:   time.Millisecond,
			BatchSize:      100,
			BatchBytes:     1 << 20,
			Partitioner:    PartitionerMurmur2,
			Keyless:        KeylessRoundRobin,
			Compression:    "none",
		},
		Routing: Routing{Topic: "events"},
		Message: Message{Format: FormatKong, Forward: Forward{Body: true}},
		Headers: Headers{Include: map[string]bool{}, Exclude: map[string]bool{}, Rename: map[string]string{}, Repeated: RepeatedConcatenate, TraceContext: true},
	}
}

func TestLoadSettings(t *testing.T) {
	tests := []struct {
		name string
		json string
		want func(*Settings)
	}{
		{"minimal config takes every default", minimal, func(*Settings) {}},
		{"all fields", `{
			"bootstrap_servers": ["k1:9092", "[::1]:9093"], "topic": "a.b_c-D",
			"forward_method": true, "forward_uri": true, "forward_headers": true, "forward_body": false,
			"required_acks": 1, "produce_timeout": "2.5s",
			"batching": {"timeout": "0.005s", "size": 10, "bytes": 2048},
			"client_id": "edge"}`,
			func(s *Settings) {
				s.Cluster.Brokers = []string{"k1:9092", "[::1]:9093"}
				s.Routing.Topic = "a.b_c-D"
				s.Message.Forward = Forward{Method: true, URI: true, Headers: true}
				s.Producer.RequiredAcks = 1
				s.Producer.ProduceTimeout = 2500 * time.Millisecond
				s.Producer.BatchTimeout = 5 * time.Millisecond
				s.Producer.BatchSize = 10
				s.Producer.BatchBytes = 2048
				s.Cluster.ClientID = "edge"
			}},
		{"acks 0 is kept, not taken for unset", `{"bootstrap_servers":["k:1"],"topic":"t","required_acks":0}`,
			func(s *Settings) {
				s.Cluster.Brokers = []string{"k:1"}
				s.Routing.Topic = "t"
				s.Producer.RequiredAcks = 0
			}},
		{"snake_case and camelCase names both work", `{"bootstrapServers":["k:1"],"topic":"t","forwardMethod":true}`,
			func(s *Settings) {
				s.Cluster.Brokers = []string{"k:1"}
				s.Routing.Topic = "t"
				s.Message.Forward.Method = true
			}},
		{"zero batching values mean default", `{"bootstrap_servers":["127.0.0.1:9092"],"topic":"events","batching":{"size":0,"bytes":0}}`,
			func(*Settings) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := FromJSON([]byte(tt.json))
			if err != nil {
				t.Fatalf("FromJSON: %v", err)
			}
			got, err := Resolve(cfg)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if want.Routing.AllowedTopics == nil {
				// The default topic is always allowed.
				want.Routing.AllowedTopics = map[string]bool{want.Routing.Topic: true}
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("settings\n got %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"empty config", `{}`,
			"bootstrap_servers: must not be empty; topic: must not be empty"},
		{"no topic", `{"bootstrap_servers":["k:9092"]}`,
			"topic: must not be empty"},
		{"broker without port", `{"bootstrap_servers":["kafka"],"topic":"t"}`,
			`bootstrap_servers[0]: "kafka" is not host:port`},
		{"broker with bad port", `{"bootstrap_servers":["k:9092","k:99999"],"topic":"t"}`,
			`bootstrap_servers[1]: "k:99999" has no valid port (1-65535)`},
		{"broker without host", `{"bootstrap_servers":[":9092"],"topic":"t"}`,
			`bootstrap_servers[0]: ":9092" is not host:port`},
		{"topic with a space", `{"bootstrap_servers":["k:1"],"topic":"a b"}`,
			`topic: "a b" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`},
		{"topic too long", `{"bootstrap_servers":["k:1"],"topic":"` + strings.Repeat("x", 250) + `"}`,
			`topic: "` + strings.Repeat("x", 250) + `" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`},
		{"topic dot", `{"bootstrap_servers":["k:1"],"topic":".."}`,
			`topic: ".." is not a valid Kafka topic name`},
		{"nothing forwarded", `{"bootstrap_servers":["k:1"],"topic":"t","forward_body":false}`,
			"forward_*: at least one of forward_method, forward_uri, forward_headers, forward_body must be true"},
		{"bad acks", `{"bootstrap_servers":["k:1"],"topic":"t","required_acks":2}`,
			"required_acks: must be -1 (all), 1 (leader) or 0 (none), got 2"},
		{"zero produce timeout", `{"bootstrap_servers":["k:1"],"topic":"t","produce_timeout":"0s"}`,
			"produce_timeout: must be a positive duration, got 0s"},
		{"negative batch timeout", `{"bootstrap_servers":["k:1"],"topic":"t","batching":{"timeout":"-1s"}}`,
			"batching.timeout: must be a positive duration, got -1s"},
		{"batch bytes beyond int32", `{"bootstrap_servers":["k:1"],"topic":"t","batching":{"bytes":4294967296}}`,
			"batching.bytes: must be at most 2147483647, got 4294967296"},
		{"several problems at once", `{"topic":"t t","required_acks":-2}`,
			`bootstrap_servers: must not be empty; topic: "t t" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -); required_acks: must be -1 (all), 1 (leader) or 0 (none), got -2`},
		// Decoding errors name the field too.
		{"unknown field", `{"bootstrap_servers":["k:1"],"topik":"t"}`,
			"topik: unknown field"},
		{"unknown nested field", `{"batching":{"linger":"1s"}}`,
			"batching.linger: unknown field"},
		{"Go-style duration", `{"produce_timeout":"1ms"}`,
			`produce_timeout: invalid google.protobuf.Duration value "1ms" (durations are seconds with an "s" suffix, e.g. "0.25s" or "10s")`},
		{"nested Go-style duration", `{"batching":{"timeout":"5ms"}}`,
			`batching.timeout: invalid google.protobuf.Duration value "5ms" (durations are seconds with an "s" suffix, e.g. "0.25s" or "10s")`},
		{"string for a list", `{"bootstrap_servers":"k:1"}`,
			`bootstrap_servers: wrong type, unexpected token "k:1"`},
		{"YAML's no for a topic", `{"topic":false}`,
			`topic: invalid value for string field topic: false (in YAML, quote it: unquoted no, yes, on, off and numbers are not strings)`},
		{"string for a bool", `{"forward_body":"yes"}`,
			`forward_body: invalid value for bool field forwardBody: "yes"`},
		{"not an object", `["k:1"]`,
			"config: must be a JSON/YAML object"},
		{"batching not an object", `{"batching":3}`,
			"batching: must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := FromJSON([]byte(tt.json))
			if err == nil {
				_, err = Resolve(cfg)
			}
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
}

func TestFromAny(t *testing.T) {
	good := map[string]any{"bootstrap_servers": []any{"k:1"}, "topic": "t", "required_acks": -1, "batching": map[string]any{"bytes": 2048}}

	t.Run("TypedStruct", func(t *testing.T) {
		cfg, err := FromAny(kfaketest.TypedStruct(t, TypeURL, good))
		if err != nil {
			t.Fatal(err)
		}
		s, err := Resolve(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if s.Routing.Topic != "t" || s.Producer.RequiredAcks != -1 || s.Producer.BatchBytes != 2048 || !reflect.DeepEqual(s.Cluster.Brokers, []string{"k:1"}) {
			t.Errorf("settings %+v", s)
		}
	})
	t.Run("udpa TypedStruct", func(t *testing.T) {
		a := kfaketest.TypedStruct(t, TypeURL, good)
		a.TypeUrl = "type.googleapis.com/udpa.type.v1.TypedStruct"
		cfg, err := FromAny(a)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.GetTopic() != "t" {
			t.Errorf("topic %q", cfg.GetTopic())
		}
	})
	t.Run("Config sent as itself", func(t *testing.T) {
		a, err := anypb.New(&Config{BootstrapServers: []string{"k:1"}, Topic: "direct"})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := FromAny(a)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.GetTopic() != "direct" {
			t.Errorf("topic %q", cfg.GetTopic())
		}
	})

	errs := []struct {
		name string
		any  *anypb.Any
		want string
	}{
		{"nil", nil, "plugin_config: missing; expected a TypedStruct with type_url type.googleapis.com/kafkaupstream.v1.Config"},
		{"wrong inner type", kfaketest.TypedStruct(t, "type.googleapis.com/other.Config", good),
			`plugin_config.type_url: must be "type.googleapis.com/kafkaupstream.v1.Config", got "type.googleapis.com/other.Config"`},
		{"wrong outer type", &anypb.Any{TypeUrl: "type.googleapis.com/google.protobuf.StringValue"},
			`plugin_config: unsupported type "type.googleapis.com/google.protobuf.StringValue"; expected "type.googleapis.com/xds.type.v3.TypedStruct" or "type.googleapis.com/kafkaupstream.v1.Config"`},
		{"unknown field in value", kfaketest.TypedStruct(t, TypeURL, map[string]any{"topic": "t", "acks": "all"}),
			"acks: unknown field"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromAny(tt.any)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestFromYAML(t *testing.T) {
	cfg, err := FromYAML([]byte("bootstrap_servers: [\"k:1\"]\ntopic: t\nproduce_timeout: 3s\nbatching:\n  timeout: 0.002s\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Producer.ProduceTimeout != 3*time.Second || s.Producer.BatchTimeout != 2*time.Millisecond {
		t.Errorf("timeouts %v %v", s.Producer.ProduceTimeout, s.Producer.BatchTimeout)
	}
	if _, err := FromYAML([]byte("topic: [unclosed")); err == nil {
		t.Error("broken YAML accepted")
	}
}
