package encoder

import "github.com/kafka-upstream/envoy-kafka-upstream/message"

// raw: TODO
func (e *Encoder) raw(r *message.Request) (Encoded, error) {
	panic("raw format: not built yet")
}
