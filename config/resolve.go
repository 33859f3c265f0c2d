package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
)

// Resolve validates cfg and applies the defaults. Every problem found is
// reported, each naming its field, so one round of fixes is enough.
func Resolve(cfg *Config) (*Settings, error) {
	return resolve(cfg, "")
}

// resolve is resolveOnly, then the claims a loaded config makes on the
// process (its compression level).
func resolve(cfg *Config, prefix string) (*Settings, error) {
	s, err := resolveOnly(cfg, prefix)
	if err != nil {
		return nil, err
	}
	if err := claimCodecLevel(s.Producer.Compression, s.Producer.CompressionLevel, prefix); err != nil {
		return nil, err
	}
	return s, nil
}

// resolveOnly is Resolve with field names prefixed by where cfg sits in a
// larger message ("configs.audit."), claiming nothing.
func resolveOnly(cfg *Config, prefix string) (*Settings, error) {
	p := &problems{prefix: prefix}
	// Section by section, in a fixed order, so that the same config always
	// gives the same text.
	s := &Settings{}
	s.Cluster = resolveCluster(cfg, p)
	s.Routing = resolveRouting(cfg, p)
	s.Message = resolveMessage(cfg, p)
	s.Producer = resolveProducer(cfg, p)
	s.Headers = resolveHeaders(cfg, p)
	s.Headers.RequestID = strings.TrimSpace(cfg.GetRequestIdHeader())
	if cfg.RequestIdHeader != nil && cfg.GetRequestIdHeader() != "" && s.Headers.RequestID == "" {
		p.add("request_id_header", "must be a record header key, not blank; \"\" turns it off")
	}
	s.Replies = Replies{ReturnErrorMessage: cfg.GetErrorHandling().GetReturnErrorMessage()}
	s.Schemas = resolveSchemaRegistry(cfg, p)
	if cfg.GetBase() != "" && prefix == "" {
		p.list = append(p.list, baseOutsideServerConfig)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	s.Warnings = p.warnings
	return s, nil
}

const baseOutsideServerConfig = "base: only the ext_proc server's config file has named configs to inherit from; a golang filter route config inherits the listener's config by leaving out bootstrap_servers"

// problems collects field errors in the order they are found.
type problems struct {
	prefix   string
	list     []string
	warnings []string
}

func (p *problems) warn(msg string) {
	p.warnings = append(p.warnings, p.prefix+msg)
}

func (p *problems) add(field, format string, args ...any) {
	p.list = append(p.list, p.prefix+field+": "+fmt.Sprintf(format, args...))
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return errors.New(strings.Join(p.list, "; "))
}

func resolveCluster(cfg *Config, p *problems) Cluster {
	c := Cluster{Brokers: append([]string(nil), cfg.GetBootstrapServers()...), ClientID: DefaultClientID}
	if len(c.Brokers) == 0 {
		p.add("bootstrap_servers", "must not be empty")
	}
	for i, addr := range c.Brokers {
		if err := checkHostPort(addr); err != nil {
			p.add(fmt.Sprintf("bootstrap_servers[%d]", i), "%q %s", addr, err)
		}
	}
	if cfg.GetClientId() != "" {
		c.ClientID = cfg.GetClientId()
	}
	c.TLS = resolveTLS(cfg.GetTls(), p)
	c.SASL = resolveSASL(cfg.GetSasl(), p)
	return c
}

func resolveProducer(cfg *Config, p *problems) Producer {
	s := Producer{
		RequiredAcks:   DefaultRequiredAcks,
		ProduceTimeout: DefaultProduceTimeout,
		BatchTimeout:   DefaultBatchTimeout,
		BatchSize:      DefaultBatchSize,
		BatchBytes:     DefaultBatchBytes,
	}
	if cfg.RequiredAcks != nil {
		switch acks := cfg.GetRequiredAcks(); acks {
		case -1, 0, 1:
			s.RequiredAcks = int(acks)
		default:
			p.add("required_acks", "must be -1 (all), 1 (leader) or 0 (none), got %d", acks)
		}
	}
	positiveDuration(cfg.GetProduceTimeout(), "produce_timeout", &s.ProduceTimeout, p)
	s.Partitioner = oneOf(cfg.GetPartitioner(), "partitioner", p, PartitionerMurmur2, PartitionerCRC32)
	s.Keyless = oneOf(cfg.GetKeylessPartitioning(), "keyless_partitioning", p, KeylessRoundRobin, KeylessRandom)
	s.AllowAutoTopicCreation = cfg.GetAllowAutoTopicCreation()
	s.Compression, s.CompressionLevel = resolveCompression(cfg, p)
	if b := cfg.GetBatching(); b != nil {
		positiveDuration(b.GetTimeout(), "batching.timeout", &s.BatchTimeout, p)
		if b.GetSize() != 0 {
			s.BatchSize = int(b.GetSize())
		}
		if n := b.GetBytes(); n != 0 {
			// Kafka sizes are int32 on the wire.
			if n > 1<<31-1 {
				p.add("batching.bytes", "must be at most 2147483647, got %d", n)
			} else {
				s.BatchBytes = int64(n)
			}
		}
	}
	s.Async = resolveAsync(cfg.GetAsync(), s.BatchBytes, p)
	return s
}

// positiveDuration sets *out to d when d is set and positive.
func positiveDuration(d *durationpb.Duration, field string, out *time.Duration, p *problems) {
	if d == nil {
		return
	}
	if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
		p.add(field, "must be a positive duration, got %s", durationText(d.AsDuration(), err))
		return
	}
	*out = d.AsDuration()
}

func durationText(d time.Duration, err error) string {
	if err != nil {
		return "an out-of-range value"
	}
	return d.String()
}

// oneOf returns value, or the first of allowed (the default) when value is
// empty; anything else is a problem naming the allowed values.
func oneOf(value, field string, p *problems, allowed ...string) string {
	if value == "" {
		return allowed[0]
	}
	for _, a := range allowed {
		if value == a {
			return value
		}
	}
	p.add(field, "must be one of %s, got %q", strings.Join(quoteAll(allowed), ", "), value)
	return allowed[0]
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// Kafka's own rule for topic names (kafka.common.internals.Topic).
var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// CheckTopicName applies Kafka's rules for topic names.
func CheckTopicName(name string) error {
	switch {
	case name == "." || name == "..":
		return fmt.Errorf("%q is not a valid Kafka topic name", name)
	case !topicName.MatchString(name):
		return fmt.Errorf("%q is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)", name)
	}
	return nil
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
