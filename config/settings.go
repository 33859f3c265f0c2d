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
}

// Cluster is which Kafka cluster to talk to, and as whom.
type Cluster struct {
	// Brokers to bootstrap from, "host:port". Required.
	Brokers []string
	// ClientID sent to the brokers. Default "kafka-upstream".
	ClientID string
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
}

// Routing is where a request's records go.
type Routing struct {
	// Topic every record goes to. Required.
	Topic string
}

// Message is what a record carries.
type Message struct {
	Forward Forward
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
