package config

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Registry is how records are serialised with registry schemas (the
// schema_registry section).
type Registry struct {
	// URLs of the registry's Confluent API, tried in order.
	URLs []string
	// Username and Password (basic authentication), or BearerToken; unset
	// for none.
	Username    string
	Password    Secret
	BearerToken Secret
	// TLS to the registry; nil: https URLs verify with the system's CAs.
	TLS *TLS
	// Timeout bounds one request to the registry. Default 5s.
	Timeout time.Duration
	// LatestTTL is how long a "latest" version is used before it is looked
	// up again. Default 5m.
	LatestTTL time.Duration
	// Value and Key are the bindings; nil: not serialised with a schema.
	Value, Key *RecordSchema
}

// RecordSchema is the schema of one part of the record (value or key).
type RecordSchema struct {
	// Format is SchemaAvro, SchemaJSON or SchemaProtobuf.
	Format string
	// ID, when not 0, is the schema's id; otherwise Subject (or the
	// strategy) and Version.
	ID int
	// Subject is fixed when set; otherwise the Strategy names it.
	Subject  string
	Strategy string
	// RecordName is for the record-name strategies.
	RecordName string
	// Version is a version number, 0 for the latest.
	Version int
	// Envelope: the schema applies to the Kong envelope, not the body.
	Envelope bool
	// AutoRegister registers Schema under the subject if it is missing.
	AutoRegister bool
	Schema       string
	// MessageName picks a protobuf message; "" for the first.
	MessageName string
	// AvroJSON: the body uses Avro's JSON encoding of unions.
	AvroJSON bool
}

// Schema formats and subject name strategies, as written in the config.
const (
	SchemaAvro     = "avro"
	SchemaJSON     = "json_schema"
	SchemaProtobuf = "protobuf"

	StrategyTopicName       = "topic_name"
	StrategyRecordName      = "record_name"
	StrategyTopicRecordName = "topic_record_name"
)

// Defaults of the schema_registry section.
const (
	DefaultRegistryTimeout = 5 * time.Second
	DefaultLatestTTL       = 5 * time.Minute
)

// SubjectFor is the subject a binding names for a topic: fixed, or by its
// strategy (Confluent's), isKey choosing "-key" or "-value".
func (b *RecordSchema) SubjectFor(topic string, isKey bool) string {
	if b.Subject != "" {
		return b.Subject
	}
	suffix := "-value"
	if isKey {
		suffix = "-key"
	}
	switch b.Strategy {
	case StrategyRecordName:
		return b.RecordName
	case StrategyTopicRecordName:
		return topic + "-" + b.RecordName
	default:
		return topic + suffix
	}
}

func resolveSchemaRegistry(c *Config, p *problems) *Registry {
	r := c.GetSchemaRegistry()
	if r == nil {
		return nil
	}
	sub := &problems{prefix: p.prefix + "schema_registry."}
	out := &Registry{Username: r.GetUsername(), Timeout: DefaultRegistryTimeout, LatestTTL: DefaultLatestTTL}
	if len(r.GetUrls()) == 0 {
		sub.add("urls", "is required: the base URL of the registry's Confluent API, e.g. http://registry:8081")
	}
	for i, raw := range r.GetUrls() {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			sub.add("urls["+strconv.Itoa(i)+"]", "is not an http or https URL")
			continue
		}
		if u.User != nil {
			// Errors print URLs: credentials in one would reach the logs.
			sub.add("urls["+strconv.Itoa(i)+"]", "holds credentials; set username and password (or password_file) instead")
			continue
		}
		out.URLs = append(out.URLs, strings.TrimSuffix(raw, "/"))
	}
	out.Password = secretFrom(r.GetPassword(), r.GetPasswordFile(), "password", "password_file", sub)
	out.BearerToken = secretFrom(r.GetBearerToken(), r.GetBearerTokenFile(), "bearer_token", "bearer_token_file", sub)
	switch {
	case out.Username != "" && !out.Password.IsSet():
		sub.add("password", "must be set with username (or password_file)")
	case out.Username == "" && out.Password.IsSet():
		sub.add("username", "must be set with password")
	case out.Username != "" && out.BearerToken.IsSet():
		sub.add("bearer_token", "set username and password, or a bearer token, not both")
	}
	out.TLS = resolveTLS(r.GetTls(), sub)
	if d := r.GetTimeout(); d != nil {
		if out.Timeout = d.AsDuration(); out.Timeout <= 0 {
			sub.add("timeout", "must be positive, got %s", out.Timeout)
		}
	}
	if d := r.GetLatestTtl(); d != nil {
		if out.LatestTTL = d.AsDuration(); out.LatestTTL <= 0 {
			sub.add("latest_ttl", "must be positive, got %s", out.LatestTTL)
		}
	}
	out.Value = resolveBinding(r.GetValue(), "value.", false, sub)
	out.Key = resolveBinding(r.GetKey(), "key.", true, sub)
	if out.Value == nil && out.Key == nil {
		sub.add("value", "is required (or key): what the registry's schemas serialise")
	}
	p.list = append(p.list, sub.list...)
	p.warnings = append(p.warnings, sub.warnings...)
	return out
}

func resolveBinding(b *SchemaBinding, prefix string, isKey bool, p *problems) *RecordSchema {
	if b == nil {
		return nil
	}
	out := &RecordSchema{Format: b.GetFormat(), ID: int(b.GetSchemaId()), Subject: b.GetSubject(),
		Strategy: b.GetSubjectNameStrategy(), RecordName: b.GetRecordName(), AutoRegister: b.GetAutoRegister(),
		Schema: b.GetSchema(), MessageName: b.GetMessageName()}
	switch out.Format {
	case SchemaAvro, SchemaJSON, SchemaProtobuf:
	case "":
		p.add(prefix+"format", "is required: %q, %q or %q", SchemaAvro, SchemaJSON, SchemaProtobuf)
	default:
		p.add(prefix+"format", "must be %q, %q or %q, got %q", SchemaAvro, SchemaJSON, SchemaProtobuf, out.Format)
	}
	if out.ID < 0 {
		p.add(prefix+"schema_id", "must be positive, got %d", out.ID)
	}
	if out.ID != 0 && (out.Subject != "" || b.GetVersion() != "" || out.Strategy != "" || out.AutoRegister) {
		p.add(prefix+"schema_id", "names the schema by itself: leave out subject, version, subject_name_strategy and auto_register")
	}
	switch v := b.GetVersion(); v {
	case "", "latest":
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			p.add(prefix+"version", `must be a version number or "latest", got %q`, v)
		}
		out.Version = n
	}
	switch out.Strategy {
	case "":
		out.Strategy = StrategyTopicName
	case StrategyTopicName:
	case StrategyRecordName, StrategyTopicRecordName:
		if out.RecordName == "" {
			p.add(prefix+"record_name", "is required with subject_name_strategy %q", out.Strategy)
		}
	default:
		p.add(prefix+"subject_name_strategy", "must be %q, %q or %q, got %q", StrategyTopicName, StrategyRecordName, StrategyTopicRecordName, out.Strategy)
	}
	switch src := b.GetSource(); src {
	case "", "body":
	case "envelope":
		if isKey {
			p.add(prefix+"source", `applies to values only: a key is the key`)
		}
		out.Envelope = true
	default:
		p.add(prefix+"source", `must be "body" or "envelope", got %q`, src)
	}
	if out.AutoRegister && out.Schema == "" {
		p.add(prefix+"schema", "is required with auto_register: the schema to register")
	}
	if out.MessageName != "" && out.Format != SchemaProtobuf {
		p.add(prefix+"message_name", "is for the protobuf format")
	}
	switch j := b.GetAvroJson(); j {
	case "", "plain":
	case "avro":
		out.AvroJSON = true
	default:
		p.add(prefix+"avro_json", `must be "plain" or "avro", got %q`, j)
	}
	if b.GetAvroJson() != "" && out.Format != SchemaAvro {
		p.add(prefix+"avro_json", "is for the avro format")
	}
	return out
}
