// Package config loads the kafka-upstream filter configuration: the Config
// protobuf message (kafkaupstream.proto) is decoded from what Envoy or a
// config file hands us, validated with errors that name the field, and
// resolved into Settings, the plain values the rest of the filter runs on.
// Everything here happens once per config load, never per request.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
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

// Defaults, as documented on the fields of kafkaupstream.proto.
const (
	DefaultRequiredAcks   = -1
	DefaultProduceTimeout = 10 * time.Second
	DefaultBatchTimeout   = time.Millisecond
	DefaultBatchSize      = 100
	DefaultBatchBytes     = 1 << 20
	DefaultClientID       = "kafka-upstream"
)

// Forward says which parts of the request go into the message.
type Forward struct {
	Method  bool
	URI     bool
	Headers bool
	Body    bool
}

// Settings is a validated Config with every default applied.
type Settings struct {
	Brokers        []string
	Topic          string
	Forward        Forward
	RequiredAcks   int
	ProduceTimeout time.Duration
	BatchTimeout   time.Duration
	BatchSize      int
	BatchBytes     int64
	ClientID       string
}

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

// fieldError rewrites a protojson error, whose position refers to JSON the
// user never saw (Envoy re-encodes the TypedStruct), into one naming the
// field: each field of the object is decoded alone until the culprit shows.
func fieldError(js []byte, md protoreflect.MessageDescriptor, prefix string, err error) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(js, &fields) != nil {
		if prefix == "" {
			return "config: must be a JSON/YAML object"
		}
		return prefix + ": must be an object"
	}
	for _, name := range sortedKeys(fields) {
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		fd := md.Fields().ByJSONName(name)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(name))
		}
		if fd == nil {
			return path + ": unknown field"
		}
		one, _ := json.Marshal(map[string]json.RawMessage{name: fields[name]})
		msg := dynamicpb.NewMessage(md)
		ferr := protojson.Unmarshal(one, msg)
		if ferr == nil {
			continue
		}
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() && !isWellKnown(fd.Message()) {
			return fieldError(fields[name], fd.Message(), path, ferr)
		}
		if fd.IsMap() && fd.MapValue().Kind() == protoreflect.MessageKind {
			var entries map[string]json.RawMessage
			if json.Unmarshal(fields[name], &entries) == nil {
				for _, key := range sortedKeys(entries) {
					if err := protojson.Unmarshal(entries[key], dynamicpb.NewMessage(fd.MapValue().Message())); err != nil {
						return fieldError(entries[key], fd.MapValue().Message(), path+"."+key, err)
					}
				}
			}
		}
		return path + ": " + valueError(ferr)
	}
	return "config: " + cleanProtoError(err)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isWellKnown reports the google.protobuf types that have their own JSON
// form (Duration as "1.5s", …): errors stop at them.
func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}

var protoPosition = regexp.MustCompile(`^\s*\(line \d+:\d+\):\s*|\s*\(line \d+:\d+\)`)

// valueError keeps what protojson says about a value, without the position.
func valueError(err error) string {
	s := protoPosition.ReplaceAllString(cleanProtoError(err), "")
	if strings.HasPrefix(s, "syntax error: unexpected token") {
		s = "wrong type, " + s[len("syntax error: "):]
	}
	if strings.Contains(s, "for string field") {
		s += ` (in YAML, quote it: unquoted no, yes, on, off and numbers are not strings)`
	}
	if strings.Contains(s, "google.protobuf.Duration") {
		s += ` (durations are seconds with an "s" suffix, e.g. "0.25s" or "10s")`
	}
	return s
}

// FromYAML decodes a Config written as YAML (the JSON mapping in YAML form).
func FromYAML(y []byte) (*Config, error) {
	js, err := yaml.YAMLToJSON(y)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return FromJSON(js)
}

// cleanProtoError drops the "proto: " prefix and the non-breaking spaces
// protojson puts in its messages (it does so on purpose, to stop callers
// from matching on them; we only pass the text on to a human).
func cleanProtoError(err error) string {
	s := strings.ReplaceAll(err.Error(), "\u00a0", " ")
	return strings.TrimPrefix(s, "proto: ")
}

// Kafka's own rule for topic names (kafka.common.internals.Topic).
var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// Resolve validates cfg and applies the defaults. Every problem found is
// reported, each naming its field, so one round of fixes is enough.
func Resolve(cfg *Config) (*Settings, error) {
	return resolve(cfg, "")
}

// resolve is Resolve with field names prefixed by where cfg sits in a
// larger message ("configs.audit.").
func resolve(cfg *Config, prefix string) (*Settings, error) {
	var errs []string
	fail := func(field, format string, args ...any) {
		errs = append(errs, prefix+field+": "+fmt.Sprintf(format, args...))
	}

	s := &Settings{
		Topic: cfg.GetTopic(),
		Forward: Forward{
			Method:  cfg.GetForwardMethod(),
			URI:     cfg.GetForwardUri(),
			Headers: cfg.GetForwardHeaders(),
			Body:    cfg.ForwardBody == nil || cfg.GetForwardBody(),
		},
		RequiredAcks:   DefaultRequiredAcks,
		ProduceTimeout: DefaultProduceTimeout,
		BatchTimeout:   DefaultBatchTimeout,
		BatchSize:      DefaultBatchSize,
		BatchBytes:     DefaultBatchBytes,
		ClientID:       DefaultClientID,
	}

	if len(cfg.GetBootstrapServers()) == 0 {
		fail("bootstrap_servers", "must not be empty")
	}
	for i, addr := range cfg.GetBootstrapServers() {
		if err := checkHostPort(addr); err != nil {
			fail(fmt.Sprintf("bootstrap_servers[%d]", i), "%q %s", addr, err)
		}
	}
	s.Brokers = append([]string(nil), cfg.GetBootstrapServers()...)

	switch {
	case s.Topic == "":
		fail("topic", "must not be empty")
	case s.Topic == "." || s.Topic == "..":
		fail("topic", "%q is not a valid Kafka topic name", s.Topic)
	case !topicName.MatchString(s.Topic):
		fail("topic", "%q is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)", s.Topic)
	}

	if s.Forward == (Forward{}) {
		fail("forward_*", "at least one of forward_method, forward_uri, forward_headers, forward_body must be true")
	}

	if cfg.RequiredAcks != nil {
		switch acks := cfg.GetRequiredAcks(); acks {
		case -1, 0, 1:
			s.RequiredAcks = int(acks)
		default:
			fail("required_acks", "must be -1 (all), 1 (leader) or 0 (none), got %d", acks)
		}
	}

	if d := cfg.GetProduceTimeout(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
			fail("produce_timeout", "must be a positive duration, got %s", durationText(d.AsDuration(), err))
		} else {
			s.ProduceTimeout = d.AsDuration()
		}
	}

	if b := cfg.GetBatching(); b != nil {
		if d := b.GetTimeout(); d != nil {
			if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
				fail("batching.timeout", "must be a positive duration, got %s", durationText(d.AsDuration(), err))
			} else {
				s.BatchTimeout = d.AsDuration()
			}
		}
		if b.GetSize() != 0 {
			s.BatchSize = int(b.GetSize())
		}
		if n := b.GetBytes(); n != 0 {
			// Kafka sizes are int32 on the wire.
			if n > 1<<31-1 {
				fail("batching.bytes", "must be at most 2147483647, got %d", n)
			} else {
				s.BatchBytes = int64(n)
			}
		}
	}

	if cfg.GetClientId() != "" {
		s.ClientID = cfg.GetClientId()
	}

	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return s, nil
}

func durationText(d time.Duration, err error) string {
	if err != nil {
		return "an out-of-range value"
	}
	return d.String()
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return errors.New("is not host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("has no valid port (1-65535)")
	}
	return nil
}
