// Package config loads the kafka-upstream filter configuration: the Config
// protobuf message (kafkaupstream.proto) is decoded from what Envoy or a
// config file hands us, validated with errors that name the field, and
// resolved into Settings, the plain values the rest of the filter runs on.
// Everything here happens once per config load, never per request.
package config

import (
	"errors"
	"fmt"
	"strings"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"
)

// TypeURL names the Config message, as used in a TypedStruct's type_url or
// in an Any sent by an xDS control plane.
const TypeURL = "type.googleapis.com/kafkaupstream.v1.Config"

// TypedStruct type URLs Envoy users write in static configs: the xds one and
// its older udpa twin, which has the same wire shape.
const (
	typedStructURL     = "type.googleapis.com/xds.type.v3.TypedStruct"
	udpaTypedStructURL = "type.googleapis.com/udpa.type.v1.TypedStruct"
)

// FromAny decodes the plugin_config Envoy passes to the golang filter: a
// TypedStruct wrapping the fields (what static YAML can express), or the
// Config message itself (what a Go xDS control plane may send).
func FromAny(a *anypb.Any) (*Config, error) {
	if a == nil {
		return nil, errors.New("plugin_config: missing; expected a TypedStruct with type_url " + TypeURL)
	}
	switch a.GetTypeUrl() {
	case TypeURL:
		cfg := &Config{}
		if err := a.UnmarshalTo(cfg); err != nil {
			return nil, fmt.Errorf("plugin_config: %w", err)
		}
		return cfg, nil
	case typedStructURL, udpaTypedStructURL:
		// udpa's TypedStruct has the same fields and numbers, so one decoder
		// serves both.
		ts := &xdstype.TypedStruct{}
		if err := proto.Unmarshal(a.GetValue(), ts); err != nil {
			return nil, fmt.Errorf("plugin_config: %w", err)
		}
		if ts.GetTypeUrl() != TypeURL {
			return nil, fmt.Errorf("plugin_config.type_url: must be %q, got %q", TypeURL, ts.GetTypeUrl())
		}
		js, err := protojson.Marshal(ts.GetValue())
		if err != nil {
			return nil, fmt.Errorf("plugin_config.value: %w", err)
		}
		return FromJSON(js)
	default:
		return nil, fmt.Errorf("plugin_config: unsupported type %q; expected %q or %q", a.GetTypeUrl(), typedStructURL, TypeURL)
	}
}

// FromJSON decodes a Config written in protobuf's JSON mapping. Unknown
// fields are errors: a misspelt option must not be silently ignored.
func FromJSON(js []byte) (*Config, error) {
	cfg := &Config{}
	if err := protojson.Unmarshal(js, cfg); err != nil {
		return nil, errors.New(fieldError(js, cfg.ProtoReflect().Descriptor(), "", err))
	}
	return cfg, nil
}

// FromYAML decodes a Config written as YAML (the JSON mapping in YAML form).
func FromYAML(y []byte) (*Config, error) {
	js, err := yaml.YAMLToJSON(y)
	if err != nil {
		return nil, errors.New("config: " + yamlError(err))
	}
	return FromJSON(js)
}

// yamlError is a YAML decoding error without the values it quotes, which
// may be secrets: "password: !!int hunter2" fails with "cannot decode !!str
// `hunter2` as a !!int", a null or complex key with the whole value under
// it ("unsupported map key of type: …, key: …, value: map[…]"). The
// scanner's and parser's errors quote nothing and are kept as they are.
func yamlError(err error) string {
	s := err.Error()
	if i, j := strings.IndexByte(s, '`'), strings.LastIndexByte(s, '`'); i >= 0 && j > i {
		s = s[:i] + "(a value, not shown)" + s[j+1:]
	}
	for _, quoting := range [...]struct{ prefix, text string }{
		{"invalid map key: ", "invalid map key (a mapping or a sequence as a key)"},
		{"unsupported map key of type: ", "unsupported map key (keys must be strings, numbers or booleans)"},
	} {
		if i := strings.Index(s, quoting.prefix); i >= 0 {
			s = s[:i] + quoting.text
		}
	}
	return s
}
