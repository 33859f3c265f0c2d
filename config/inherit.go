package config

import (
	"errors"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Inherits reports a config that names no cluster: a golang filter route
// config, or an ext_proc named config with a base. It takes its cluster and
// producer from the config it inherits from, and every field it leaves out.
func Inherits(cfg *Config) bool { return len(cfg.GetBootstrapServers()) == 0 }

// formatOf is a config's format, "" read as the default.
func formatOf(cfg *Config) string {
	if cfg.GetFormat() == "" {
		return FormatKong
	}
	return cfg.GetFormat()
}

// producerFields are the fields of a config's Kafka writer. A config that
// inherits shares its parent's writer (no second connection), so it cannot
// change them; a config that needs other values names its own cluster.
var producerFields = []string{
	"required_acks", "produce_timeout", "batching", "client_id",
	"partitioner", "keyless_partitioning", "allow_auto_topic_creation",
	"tls", "sasl", "compression", "compression_level", "async",
}

// CheckInheriting validates a config that inherits, as far as it can be
// checked without its parent: each field it sets, and none of the
// producer's. prefix places it in a larger file ("configs.raw.").
func CheckInheriting(cfg *Config, prefix string) error {
	var errs []string
	if cfg.GetBase() != "" && prefix == "" {
		errs = append(errs, baseOutsideServerConfig)
	}
	m := cfg.ProtoReflect()
	for _, name := range producerFields {
		if m.Has(m.Descriptor().Fields().ByName(protoreflect.Name(name))) {
			errs = append(errs, prefix+name+": a config without bootstrap_servers shares its parent's Kafka producer and cannot change it; set bootstrap_servers (and every other field) to use a producer of its own")
		}
	}
	// Stand-ins for what the parent supplies, permissive enough that only
	// this config's own mistakes show.
	stand := &Config{
		BootstrapServers: []string{"parent:9092"},
		Topic:            "parent",
		ForwardMethod:    proto.Bool(true),
		TopicsQueryArg:   proto.String("topics"),
	}
	merged := Overlay(stand, cfg)
	merged.Base = ""
	if _, err := resolveOnly(merged, prefix); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Overlay returns a copy of parent with every field cfg sets replacing
// parent's (lists and sections are replaced whole, never merged). A config
// that changes the format does not inherit the options of the parent's
// format (forward_* for kong, cloudevents for cloudevents).
func Overlay(parent, cfg *Config) *Config {
	out := proto.Clone(parent).(*Config)
	if cfg.GetFormat() != "" && formatOf(cfg) != formatOf(parent) {
		out.ForwardMethod, out.ForwardUri, out.ForwardHeaders, out.ForwardBody = nil, nil, nil, nil
		out.Cloudevents = nil
	}
	dst := out.ProtoReflect()
	cfg.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dst.Set(fd, v)
		return true
	})
	out.Base = ""
	return out
}
