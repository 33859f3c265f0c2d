package config

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// propagate_trace_context: unset is on, with or without a headers section;
// only an explicit false turns it off, and it changes nothing else.
func TestPropagateTraceContext(t *testing.T) {
	headers := `"headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true}`
	tests := []struct {
		name   string
		fields string
		want   func(*Settings)
	}{
		{"unset: on", ``, func(*Settings) {}},
		{"true", `,"propagate_trace_context":true`, func(*Settings) {}},
		{"false: off", `,"propagate_trace_context":false`, func(s *Settings) { s.Headers.TraceContext = false }},
		{"camelCase", `,"propagateTraceContext":false`, func(s *Settings) { s.Headers.TraceContext = false }},
		{"unset with header forwarding: on", `,` + headers,
			func(s *Settings) { s.Headers.Enabled, s.Headers.AllByDefault = true, true }},
		{"false with header forwarding: forwarding stays", `,"propagate_trace_context":false,` + headers,
			func(s *Settings) {
				s.Headers.Enabled, s.Headers.AllByDefault, s.Headers.TraceContext = true, true, false
			}},
		{"with request_id_header", `,"propagate_trace_context":false,"request_id_header":"request-id"`,
			func(s *Settings) { s.Headers.TraceContext, s.Headers.RequestID = false, "request-id" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolveJSON(t, minimal[:len(minimal)-1]+tt.fields+`}`)
			want := defaults()
			want.Routing.AllowedTopics = map[string]bool{"events": true}
			tt.want(&want)
			checkSettings(t, got, want)
		})
	}
}

func TestPropagateTraceContextFromYAML(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want bool
	}{
		{"bootstrap_servers: [k:1]\ntopic: t\n", true},
		{"bootstrap_servers: [k:1]\ntopic: t\npropagate_trace_context: false\n", false},
		{"bootstrap_servers: [k:1]\ntopic: t\npropagate_trace_context: true\n", true},
	} {
		cfg, err := FromYAML([]byte(tt.yaml))
		if err != nil {
			t.Fatalf("FromYAML(%q): %v", tt.yaml, err)
		}
		s, err := Resolve(cfg)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", tt.yaml, err)
		}
		if s.Headers.TraceContext != tt.want {
			t.Errorf("%q: TraceContext = %v, want %v", tt.yaml, s.Headers.TraceContext, tt.want)
		}
	}
}

func TestPropagateTraceContextErrorNamesTheField(t *testing.T) {
	_, err := FromJSON([]byte(`{"bootstrap_servers":["k:1"],"topic":"t","propagate_trace_context":"no"}`))
	const want = `propagate_trace_context: invalid value for bool field propagateTraceContext: "no"`
	if err == nil || err.Error() != want {
		t.Errorf("error\n got %v\nwant %s", err, want)
	}
}

// It is not a producer field: a config that inherits (a per-route config,
// an ext_proc named config with a base) may set it, and its value wins over
// the parent's either way; left out, the parent's holds.
func TestPropagateTraceContextInherits(t *testing.T) {
	if err := CheckInheriting(&Config{PropagateTraceContext: proto.Bool(false)}, ""); err != nil {
		t.Errorf("CheckInheriting(propagate_trace_context: false) = %v, want nil", err)
	}
	on, off := mustJSON(t, `{"propagate_trace_context":true}`), mustJSON(t, `{"propagate_trace_context":false}`)
	tests := []struct {
		name          string
		parent, child *Config
		want          bool
	}{
		{"parent unset, child false", mustJSON(t, minimal), off, false},
		{"parent false, child true", Overlay(mustJSON(t, minimal), off), on, true},
		{"parent false, child leaves it out", Overlay(mustJSON(t, minimal), off), mustJSON(t, `{"topic":"orders"}`), false},
		{"parent unset, child leaves it out", mustJSON(t, minimal), mustJSON(t, `{"topic":"orders"}`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Resolve(Overlay(tt.parent, tt.child))
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if s.Headers.TraceContext != tt.want {
				t.Errorf("TraceContext = %v, want %v", s.Headers.TraceContext, tt.want)
			}
		})
	}
}

// Two configs that differ only in propagate_trace_context share a producer.
func TestPropagateTraceContextIsNoProducerIdentity(t *testing.T) {
	a := resolveJSON(t, minimal)
	b := resolveJSON(t, `{"bootstrap_servers":["127.0.0.1:9092"],"topic":"events","propagate_trace_context":false}`)
	if ProducerIdentity(a.Cluster, a.Producer) != ProducerIdentity(b.Cluster, b.Producer) {
		t.Error("propagate_trace_context changed the producer identity")
	}
}
