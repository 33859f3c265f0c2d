package config

import (
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
