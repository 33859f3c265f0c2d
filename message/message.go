// Package message holds the types every layer shares: the HTTP request an
// adapter hands to the core, the Kafka records the encoder makes of it and
// the per-record results the producer returns. It has no logic and imports
// nothing of ours, so that any package may use it without a cycle.
package message

// Header is one request header as Envoy holds it. Adapters lower-case the
// names (the one place that does it); every other package relies on that.
// Pseudo-headers (":method", ":path", ":authority", …) are included.
type Header struct {
	Name  string
	Value string
}

// Request is a buffered HTTP request.
type Request struct {
	Headers []Header
	Body    []byte
}

// Get returns the first value of the header name (lower-case) and whether
// it is present.
func (r *Request) Get(name string) (string, bool) {
	for _, h := range r.Headers {
		if h.Name == name {
			return h.Value, true
		}
	}
	return "", false
}

// RecordHeader is one native Kafka record header. Kafka allows a key to
// repeat.
type RecordHeader struct {
	Key   string
	Value []byte
}

// AnyPartition in Record.Partition lets the producer's partitioner choose.
const AnyPartition = -1

// Record is one Kafka record to publish.
type Record struct {
	Topic string
	// Key is nil for a keyless record; an empty, non-nil key is a key
	// (Kafka and the Java client tell the two apart).
	Key []byte
	// Partition is AnyPartition or the partition the client asked for.
	Partition int
	Headers   []RecordHeader
	Value     []byte
}

// Result is where one record went, or why it did not.
type Result struct {
	Topic     string
	Partition int
	// Offset is the record's offset, or -1 when unknown (acks=0).
	Offset int64
	// Err is nil when the record was acknowledged.
	Err error
}
