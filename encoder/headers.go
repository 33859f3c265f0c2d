package encoder

import (
	"strings"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// recordHeaders returns the request headers the config forwards as record
// headers, by Kong 3.15's headers.* rules (see forwardHeaders), or nil when
// none is. skipContentType leaves content-type out (the raw and binary
// CloudEvents formats set it themselves).
func (e *Encoder) recordHeaders(hs []message.Header, skipContentType bool) []message.RecordHeader {
	return e.forwardHeaders(nil, hs, skipContentType, false)
}

// forwardHeaders appends the forwarded headers of hs to out and returns it:
//
//   - allowlist mode takes only Include, blocklist mode all but Exclude;
//   - pseudo-headers never (":path" and the like are no headers a Kafka
//     consumer could use, and ":" is a poor start for a record header key);
//   - each name once, at its first appearance in the request, under its
//     Rename key; a repeated name by the Repeated policy (retained repeats
//     stay together at that place, in request order);
//   - skipCE also leaves out ce-* headers, which the cloudevents format has
//     already turned into ce_* record headers, and ce_* headers, which would
//     sit beside those as a second, unchecked value of an attribute (a
//     request's "ce_specversion: 2.0" next to the event's ce_specversion
//     1.0; a consumer reading the last header would take the forgery).
//
// Requests carry about ten headers, so finding a name's repeats by scanning
// costs less than a map built per request.
func (e *Encoder) forwardHeaders(out []message.RecordHeader, hs []message.Header, skipContentType, skipCE bool) []message.RecordHeader {
	h := &e.headers
	if !h.Enabled {
		return out
	}
	for i, hd := range hs {
		name := hd.Name
		switch {
		case strings.HasPrefix(name, ":"),
			skipContentType && name == "content-type",
			skipCE && (strings.HasPrefix(name, "ce-") || strings.HasPrefix(name, "ce_")),
			h.AllByDefault && h.Exclude[name],
			!h.AllByDefault && !h.Include[name],
			seenBefore(hs, i):
			continue
		}
		key := name
		if k, ok := h.Rename[name]; ok && k != "" {
			key = k
		}
		switch h.Repeated {
		case config.RepeatedTakeFirst:
			out = append(out, message.RecordHeader{Key: key, Value: []byte(hd.Value)})
		case config.RepeatedRetain:
			for _, rest := range hs[i:] {
				if rest.Name == name {
					out = append(out, message.RecordHeader{Key: key, Value: []byte(rest.Value)})
				}
			}
		default: // config.RepeatedConcatenate, the default
			value := []byte(hd.Value)
			for _, rest := range hs[i+1:] {
				if rest.Name == name {
					// No space after the comma: Envoy joins repeats the same way.
					value = append(append(value, ','), rest.Value...)
				}
			}
			out = append(out, message.RecordHeader{Key: key, Value: value})
		}
	}
	return out
}

// seenBefore reports whether hs[i]'s name occurs earlier in hs, in which
// case it has already been forwarded with its first occurrence.
func seenBefore(hs []message.Header, i int) bool {
	for _, h := range hs[:i] {
		if h.Name == hs[i].Name {
			return true
		}
	}
	return false
}
