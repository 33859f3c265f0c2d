package encoder

import "github.com/kafka-upstream/envoy-kafka-upstream/message"

// EventError: a request that is no valid CloudEvent.
type EventError struct {
	// Unsupported: a CloudEvents form this filter does not take (a batch);
	// 415 rather than 400.
	Unsupported bool
	Msg         string
}

func (e *EventError) Error() string { return e.Msg }

// cloudEvent: TODO
func (e *Encoder) cloudEvent(r *message.Request) (Encoded, error) {
	panic("cloudevents format: not built yet")
}
