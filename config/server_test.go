package config

import (
	"reflect"
	"testing"
)

func TestServerFromYAML(t *testing.T) {
	t.Run("a single Config serves every request", func(t *testing.T) {
		s, err := ServerFromYAML([]byte("bootstrap_servers: [\"k:1\"]\ntopic: events\n"))
		if err != nil {
			t.Fatal(err)
		}
		if s.Default == nil || s.Default.Routing.Topic != "events" || len(s.Named) != 0 {
			t.Errorf("got %+v", s)
		}
	})
	t.Run("default and named configs", func(t *testing.T) {
		s, err := ServerFromYAML([]byte(`
default: {bootstrap_servers: ["k:1"], topic: events}
configs:
  audit: {bootstrap_servers: ["k:2"], topic: audit, forward_method: true}
  orders: {bootstrap_servers: ["k:3"], topic: orders}
`))
		if err != nil {
			t.Fatal(err)
		}
		if s.Default.Routing.Topic != "events" || len(s.Named) != 2 || s.Named["audit"].Routing.Topic != "audit" ||
			!s.Named["audit"].Message.Forward.Method || s.Named["audit"].Cluster.Brokers[0] != "k:2" || s.Named["orders"].Routing.Topic != "orders" {
			t.Errorf("got %+v", s)
		}
		// Named configs inherit nothing from default.
		if s.Named["orders"].Message.Forward.Method {
			t.Error("orders inherited forward_method")
		}
	})
	t.Run("named configs only", func(t *testing.T) {
		s, err := ServerFromYAML([]byte(`{"configs": {"a": {"bootstrap_servers": ["k:1"], "topic": "a"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if s.Default != nil || s.Named["a"].Routing.Topic != "a" {
			t.Errorf("got %+v", s)
		}
	})

	errs := []struct{ name, yaml, want string }{
		{"errors name the config they are in", `
default: {bootstrap_servers: ["k:1"]}
configs:
  b: {topic: "x y", bootstrap_servers: ["k:1"]}
  a: {bootstrap_servers: []}
`, `default.topic: must not be empty; configs.a.bootstrap_servers: must not be empty; configs.a.topic: must not be empty; configs.b.topic: "x y" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`},
		{"unknown field in a named config", "configs:\n  a: {topic: t, bootstrap: [x]}\n", "configs.a.bootstrap: unknown field"},
		{"unknown top-level field", "default: {topic: t}\nroutes: {}\n", "routes: unknown field"},
		{"single config errors", "topic: t\n", "bootstrap_servers: must not be empty"},
		{"empty server config", "configs: {}\n", "default, configs: at least one config is needed"},
		{"not an object", "- a\n", "config: must be a JSON/YAML object"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ServerFromYAML([]byte(tt.yaml))
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

// resolved resolves a complete config written as JSON.
func resolved(t *testing.T, js string) *Settings {
	t.Helper()
	return resolveJSON(t, js)
}

func TestServerFromYAMLWithBase(t *testing.T) {
	t.Run("a chain default <- z <- a shares default's producer", func(t *testing.T) {
		// a is resolved before z (names are taken in order), z's base first.
		s, err := ServerFromYAML([]byte(`
default: {bootstrap_servers: ["k:1"], topic: events, forward_method: true, allowed_topics: [xx, yy], required_acks: 1}
configs:
  a: {base: z, format: raw, allowed_topics: [w]}
  z: {base: default, topic: zed, forward_uri: true}
  own: {bootstrap_servers: ["k:2"], topic: own}
`))
		if err != nil {
			t.Fatal(err)
		}
		checkSettings(t, s.Default, *resolved(t,
			`{"bootstrap_servers":["k:1"],"topic":"events","forward_method":true,"allowed_topics":["xx","yy"],"required_acks":1}`))
		checkSettings(t, s.Named["z"], *resolved(t,
			`{"bootstrap_servers":["k:1"],"topic":"zed","forward_method":true,"forward_uri":true,"allowed_topics":["xx","yy"],"required_acks":1}`))
		// raw drops the inherited forward_*; allowed_topics is replaced.
		checkSettings(t, s.Named["a"], *resolved(t,
			`{"bootstrap_servers":["k:1"],"topic":"zed","format":"raw","allowed_topics":["w"],"required_acks":1}`))
		checkSettings(t, s.Named["own"], *resolved(t, `{"bootstrap_servers":["k:2"],"topic":"own"}`))
		if want := map[string]string{"a": "default", "z": "default"}; !reflect.DeepEqual(s.ProducerOf, want) {
			t.Errorf("ProducerOf = %v, want %v", s.ProducerOf, want)
		}
		if len(s.Named) != 3 {
			t.Errorf("named configs %v, want a, z and own", s.Named)
		}
	})
	t.Run("a named root", func(t *testing.T) {
		s, err := ServerFromYAML([]byte(`
configs:
  root: {bootstrap_servers: ["k:1"], topic: r}
  leaf: {base: root, key_query_arg: key}
`))
		if err != nil {
			t.Fatal(err)
		}
		checkSettings(t, s.Named["leaf"], *resolved(t, `{"bootstrap_servers":["k:1"],"topic":"r","key_query_arg":"key"}`))
		if want := map[string]string{"leaf": "root"}; !reflect.DeepEqual(s.ProducerOf, want) {
			t.Errorf("ProducerOf = %v, want %v", s.ProducerOf, want)
		}
		if s.Default != nil {
			t.Errorf("default = %+v, want none", s.Default)
		}
	})
	t.Run("a single-config file has no producer to share", func(t *testing.T) {
		s, err := ServerFromYAML([]byte("bootstrap_servers: [\"k:1\"]\ntopic: events\n"))
		if err != nil {
			t.Fatal(err)
		}
		if s.ProducerOf == nil || len(s.ProducerOf) != 0 || s.Named == nil || len(s.Named) != 0 {
			t.Errorf("ProducerOf %v, Named %v; want both empty, not nil", s.ProducerOf, s.Named)
		}
	})

	errs := []struct{ name, yaml, want string }{
		{"unknown base", `
default: {bootstrap_servers: ["k:1"], topic: events}
configs:
  a: {base: nope, topic: a}
`, `configs.a.base: "nope" is not a config of this file`},
		{"base default without a default", `
configs:
  a: {base: default, topic: a}
`, `configs.a.base: "default" is not a config of this file`},
		{"a cycle", `
default: {bootstrap_servers: ["k:1"], topic: events}
configs:
  a: {base: b}
  b: {base: a}
`, `configs.a.base: "b" leads back to "a" (a cycle)`},
		{"a self-cycle", `
default: {bootstrap_servers: ["k:1"], topic: events}
configs:
  a: {base: a, topic: a}
`, `configs.a.base: "a" leads back to "a" (a cycle)`},
		{"base with bootstrap_servers", `
default: {bootstrap_servers: ["k:1"], topic: events}
configs:
  a: {base: default, bootstrap_servers: ["k:2"], topic: a}
`, `configs.a.base: a config with its own bootstrap_servers is complete and inherits nothing; remove base, or bootstrap_servers to share "default"'s producer`},
		{"a config named default", `
default: {bootstrap_servers: ["k:1"], topic: events}
configs:
  default: {bootstrap_servers: ["k:1"], topic: other}
`, `configs.default: the name is taken by the top-level default config; rename it`},
		{"a config with an empty name", `
default: {bootstrap_servers: ["k:1"], topic: events}
configs:
  "": {bootstrap_servers: ["k:1"], topic: other}
`, `configs: a config name must not be empty`},
		{"an inheriting config with a producer field", `
default: {bootstrap_servers: ["k:1"], topic: events}
configs:
  a: {base: default, required_acks: 1}
`, `configs.a.required_acks: ` + producerRule},
		{"an inheriting config with an invalid field", `
default: {bootstrap_servers: ["k:1"], topic: events}
configs:
  a: {base: default, topic: "a b"}
`, `configs.a.topic: "a b" ` + notTopicName},
		{"valid alone, not over its base", `
default: {bootstrap_servers: ["k:1"], topic: events, forward_method: true, forward_body: false}
configs:
  a: {base: default, forward_method: false}
`, `configs.a.forward_*: at least one of forward_method, forward_uri, forward_headers, forward_body must be true`},
		{"a base that is invalid: reported once, where it is", `
default: {bootstrap_servers: ["k:1"], topic: "x y"}
configs:
  a: {base: default, topic: a}
`, `default.topic: "x y" ` + notTopicName},
		{"base in a single-config file", "bootstrap_servers: [\"k:1\"]\ntopic: events\nbase: default\n",
			"base: only the ext_proc server's config file has named configs to inherit from; a golang filter route config inherits the listener's config by leaving out bootstrap_servers"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ServerFromYAML([]byte(tt.yaml))
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got %v\nwant %s", err, tt.want)
			}
			if s != nil {
				t.Errorf("settings %+v returned with the error", s)
			}
		})
	}
}
