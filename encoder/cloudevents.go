package encoder

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// The cloudevents format reads a CloudEvents v1.0 HTTP request (HTTP
// protocol binding, binary or structured JSON mode) and writes it as a
// CloudEvents Kafka record (Kafka protocol binding). cloudevents_http.go
// reads, cloudevents_kafka.go writes, this file checks what they meet in:
// an event, its attributes and its data.

// EventError: a request that is no valid CloudEvent.
type EventError struct {
	// Unsupported: a CloudEvents form this filter does not take (a batch,
	// an event format other than JSON): 415 rather than 400.
	Unsupported bool
	Msg         string
}

func (e *EventError) Error() string { return e.Msg }

func eventErrorf(format string, args ...any) *EventError {
	return &EventError{Msg: fmt.Sprintf(format, args...)}
}

// event is one CloudEvent as read from the request.
type event struct {
	// attrs holds every context attribute, datacontenttype included, each
	// once, in output order once complete has run.
	attrs []attribute
	// data is the event data: the body of a binary request, the decoded
	// data_base64 of a structured one, or (dataJSON) the JSON text of its
	// data member. nil when the event has none.
	data     []byte
	dataJSON bool
}

type attribute struct {
	name string
	// value is the attribute as a string: a header's decoded value, a JSON
	// string's text, a JSON number's or boolean's text as written.
	value string
	// raw is the JSON text of a number or boolean from a structured event,
	// nil otherwise: structured output writes it back as it was.
	raw json.RawMessage
}

func (ev *event) get(name string) *attribute {
	for i := range ev.attrs {
		if ev.attrs[i].name == name {
			return &ev.attrs[i]
		}
	}
	return nil
}

func (ev *event) value(name string) string {
	if a := ev.get(name); a != nil {
		return a.value
	}
	return ""
}

func (ev *event) add(a attribute) error {
	if ev.get(a.name) != nil {
		return eventErrorf("CloudEvents attribute %q is given more than once", a.name)
	}
	ev.attrs = append(ev.attrs, a)
	return nil
}

// required are the attributes every event has, in the order they are
// written in (the binding's examples' order).
var required = [...]string{"specversion", "id", "source", "type"}

// cloudEvent returns the Kafka record of the CloudEvent r carries.
func (e *Encoder) cloudEvent(r *message.Request) (Encoded, error) {
	ev, err := e.readEvent(r)
	if err != nil {
		return Encoded{}, err
	}
	if e.events.Structured {
		return e.structuredRecord(&ev, r), nil
	}
	return e.binaryRecord(&ev, r), nil
}

// readEvent reads the CloudEvent r carries, in either mode, completed
// with the config's defaults and checked.
func (e *Encoder) readEvent(r *message.Request) (event, error) {
	ct := contentType(r.Headers).name
	var ev event
	var err error
	switch {
	case strings.HasPrefix(ct, "application/cloudevents-batch"):
		return ev, &EventError{Unsupported: true,
			Msg: "batched CloudEvents (application/cloudevents-batch+json) are not supported; send one event per request"}
	case ct == "application/cloudevents+json":
		ev, err = structuredEvent(r.Body)
	case strings.HasPrefix(ct, "application/cloudevents"):
		// Another event format (+avro, +protobuf, …): its body cannot be
		// read here, and taking it for binary-mode data would be wrong.
		return ev, &EventError{Unsupported: true,
			Msg: fmt.Sprintf("CloudEvents event format %q is not supported; send application/cloudevents+json or binary mode", ct)}
	default:
		ev, err = binaryEvent(r)
	}
	if err == nil {
		err = e.complete(&ev, r)
	}
	return ev, err
}

// complete applies the config's defaults, checks what every event must
// have and puts the attributes in output order.
func (e *Encoder) complete(ev *event, r *message.Request) error {
	// An empty value is no value (the spec requires these non-empty), so
	// a default fills it too.
	fill := func(name, def string) {
		if def == "" {
			return
		}
		switch a := ev.get(name); {
		case a == nil:
			ev.attrs = append(ev.attrs, attribute{name: name, value: def})
		case a.value == "":
			a.value = def
		}
	}
	fill("source", e.events.Source)
	fill("type", e.events.Type)
	if e.events.IDFromRequestID {
		id, _ := r.Get("x-request-id")
		if ev.value("id") == "" && !utf8.ValidString(id) {
			// Envoy passes obs-text bytes through; an attribute must be UTF-8.
			return eventErrorf("not a CloudEvent: no id, and x-request-id is not UTF-8, so it cannot stand in")
		}
		fill("id", id)
	}
	// id first: a request that is no CloudEvent at all is told it lacks
	// the attribute that makes an event one.
	for _, name := range [...]string{"id", "source", "type", "specversion"} {
		if ev.value(name) == "" {
			return eventErrorf("not a CloudEvent: missing required attribute %q", name)
		}
	}
	if v := ev.value("specversion"); v != "1.0" {
		return eventErrorf("unsupported CloudEvents specversion %q (only 1.0)", v)
	}
	if a := ev.get("time"); a != nil {
		if _, err := time.Parse(time.RFC3339Nano, a.value); err != nil {
			return eventErrorf("CloudEvents attribute \"time\" is not an RFC 3339 timestamp: %q", a.value)
		}
	}
	slices.SortFunc(ev.attrs, func(a, b attribute) int {
		if ra, rb := rank(a.name), rank(b.name); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.name, b.name)
	})
	return nil
}

// rank orders the required attributes first, the others after them.
func rank(name string) int {
	for i, r := range required {
		if name == r {
			return i
		}
	}
	return len(required)
}
