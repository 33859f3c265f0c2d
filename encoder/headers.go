package encoder

import "github.com/kafka-upstream/envoy-kafka-upstream/message"

// recordHeaders: TODO. skipContentType leaves content-type out (the raw
// and binary CloudEvents formats set it themselves).
func (e *Encoder) recordHeaders(hs []message.Header, skipContentType bool) []message.RecordHeader {
	return nil
}
