package config

import "time"

// Settings is a validated Config with every default applied, in sections
// that each have one consumer: Cluster and Producer build the Kafka writer,
// Routing picks topics, keys and partitions, Message shapes the record.
// Each section is resolved by its own function (resolve.go); nothing here
// is computed per request.
type Settings struct {
	Cluster  Cluster
	Producer Producer
	Routing  Routing
	Message  Message
	Headers  Headers
	Replies  Replies
	// Schemas serialise values and keys with registry schemas; nil
	// without a schema_registry section.
	Schemas *Registry
	// Warnings are worth a line in the log at load (nothing failed).
	Warnings []string
}

// Cluster is which Kafka cluster to talk to, and as whom.
type Cluster struct {
	// Brokers to bootstrap from, "host:port". Required.
	Brokers []string
	// ClientID sent to the brokers. Default "kafka-upstream".
	ClientID string
	// TLS to the brokers; nil for plaintext.
	TLS *TLS
	// SASL authentication; nil for none.
	SASL *SASL
}

// Producer is how records are written and acknowledged.
type Producer struct {
	// RequiredAcks: -1 all in-sync replicas, 1 leader, 0 none. Default -1.
	RequiredAcks int
	// ProduceTimeout bounds one request's wait for its acknowledgements,
	// connecting and retries included. Default 10s.
	ProduceTimeout time.Duration
	// BatchTimeout is the longest a record waits for others to share its
	// produce request. Default 1ms.
	BatchTimeout time.Duration
	// BatchSize is the most records per batch. Default 100.
	BatchSize int
	// BatchBytes is the most bytes per batch, and so per record. Default
	// 1048576 (1 MiB).
	BatchBytes int64
	// Partitioner places keyed records: PartitionerMurmur2 (default) or
	// PartitionerCRC32.
	Partitioner string
	// Keyless places keyless records: KeylessRoundRobin (default) or
	// KeylessRandom.
	Keyless string
	// AllowAutoTopicCreation lets the broker create missing topics.
	// Default false.
	AllowAutoTopicCreation bool
	// Compression is "none" (default), "gzip", "snappy", "lz4" or "zstd";
	// CompressionLevel is nil for the codec's default.
	Compression      string
	CompressionLevel *int
	// Async is asynchronous delivery; nil without an async section.
	Async *AsyncDelivery
}

// Partitioners and keyless policies, as written in the config.
const (
	PartitionerMurmur2 = "murmur2"
	PartitionerCRC32   = "crc32"
	KeylessRoundRobin  = "round_robin"
	KeylessRandom      = "random"
)

// Routing is where a request's records go.
type Routing struct {
	// Topic is where records go unless the client names others. Required.
	Topic string
	// AllowedTopics are the topics a client may name, Topic included.
	AllowedTopics map[string]bool
	// The query arguments and headers a client names topics, key and
	// partition with; "" when not configured.
	TopicsQueryArg    string
	KeyQueryArg       string
	KeyHeader         string // lower-case
	PartitionQueryArg string
	PartitionHeader   string // lower-case
}

// Message is what a record carries.
type Message struct {
	// Format is FormatKong (default), FormatRaw or FormatCloudEvents.
	Format string
	// Forward shapes the Kong envelope.
	Forward     Forward
	CloudEvents CloudEventOptions
}

// Record value formats, as written in the config.
const (
	FormatKong        = "kong"
	FormatRaw         = "raw"
	FormatCloudEvents = "cloudevents"
)

// CloudEventOptions are the cloudevents format's options.
type CloudEventOptions struct {
	// Structured: the record value is the whole event as JSON; otherwise
	// binary mode (ce_* record headers, the data as the value).
	Structured bool
	// Source and Type stand in for missing attributes; "" means required.
	Source string
	Type   string
	// IDFromRequestID takes a missing id from x-request-id.
	IDFromRequestID bool
}

// Headers says which request headers become record headers.
type Headers struct {
	// Enabled turns the forwarding on.
	Enabled bool
	// AllByDefault selects blocklist mode (every header but Exclude);
	// otherwise allowlist mode (only Include).
	AllByDefault bool
	// Include and Exclude hold lower-case names.
	Include map[string]bool
	Exclude map[string]bool
	// Rename maps a lower-case HTTP header name to its record header key.
	Rename map[string]string
	// Repeated is RepeatedConcatenate (default), RepeatedTakeFirst or
	// RepeatedRetain.
	Repeated string
	// RequestID is the key of the record header carrying the request's
	// Idempotency-Key or x-request-id (request_id_header); "" for none.
	RequestID string
	// TraceContext carries the W3C trace context (traceparent, tracestate,
	// baggage) into record headers (propagate_trace_context), whether or
	// not Enabled. Default true.
	TraceContext bool
}

// Repeated-header policies, as written in the config.
const (
	RepeatedConcatenate = "concatenate_by_comma"
	RepeatedTakeFirst   = "take_first"
	RepeatedRetain      = "retain_duplicates"
)

// Replies says what failure replies tell.
type Replies struct {
	// ReturnErrorMessage puts the real cause in the reply's `error`.
	ReturnErrorMessage bool
}

// Forward says which parts of the request go into the Kong envelope.
type Forward struct {
	Method  bool
	URI     bool
	Headers bool
	Body    bool
}

// Defaults, as documented on the fields of kafkaupstream.proto.
const (
	DefaultRequiredAcks   = -1
	DefaultProduceTimeout = 10 * time.Second
	DefaultBatchTimeout   = time.Millisecond
	DefaultBatchSize      = 100
	DefaultBatchBytes     = 1 << 20
	DefaultClientID       = "kafka-upstream"
)
