package encoder

import "github.com/kafka-upstream/envoy-kafka-upstream/message"

// raw returns the body as the record value, byte for byte: nothing is
// parsed, so nothing can fail. The request's content-type, exactly as sent,
// is the first record header, so that a consumer knows what the bytes are;
// the forwarded headers follow, without content-type to not repeat it.
//
// The value shares r.Body's bytes: the adapters hand over a body of the
// request's own, which lives until the records are published.
func (e *Encoder) raw(r *message.Request) (Encoded, error) {
	value := r.Body
	if value == nil {
		// An empty value, not a null one: on a compacted topic a null
		// value is a tombstone that deletes the key.
		value = []byte{}
	}
	var hs []message.RecordHeader
	if ct, ok := r.Get("content-type"); ok {
		hs = append(hs, message.RecordHeader{Key: "content-type", Value: []byte(ct)})
	}
	return Encoded{Value: value, Headers: e.forwardHeaders(hs, r.Headers, true, false)}, nil
}
