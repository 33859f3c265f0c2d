// Package schema serialises record values and keys with the schemas of a
// Confluent schema registry, in Confluent's wire format: a zero magic byte,
// the schema id (4 bytes, big-endian), for Protobuf the message's index
// path, then the payload. Avro, JSON Schema and Protobuf, from a JSON
// document (the request body, or the Kong envelope). Schemas are fetched
// with github.com/riferrei/srclient, compiled once and cached
// (registry.go); one file per format does the rest.
package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// codec serialises a JSON document with one compiled schema, without the
// framing. A mismatch is a *MismatchError.
type codec interface {
	encode(doc []byte) ([]byte, error)
	// stringTyped: the schema is a string's, so a record key that is not
	// JSON is taken as a string.
	stringTyped() bool
	// indexes is the Protobuf message's index path; nil otherwise.
	indexes() []int
}

// frame is Confluent's wire format around payload.
func frame(id int, indexes []int, payload []byte) []byte {
	out := make([]byte, 5, 5+len(payload)+1+2*len(indexes))
	binary.BigEndian.PutUint32(out[1:5], uint32(id))
	if indexes != nil {
		// Confluent's message index list: zigzag varints, the count first;
		// the first message alone, [0], is written as one 0.
		if len(indexes) == 1 && indexes[0] == 0 {
			out = append(out, 0)
		} else {
			out = binary.AppendVarint(out, int64(len(indexes)))
			for _, i := range indexes {
				out = binary.AppendVarint(out, int64(i))
			}
		}
	}
	return append(out, payload...)
}

// Kind is what went wrong, for the reply's status.
type Kind int

const (
	// Mismatch: the document does not match its schema (400).
	Mismatch Kind = iota
	// Unavailable: the schema is not cached and the registry could not be
	// reached, or did not answer in time (503).
	Unavailable
	// BadResponse: the registry answered with an error or something that
	// is no usable schema (502).
	BadResponse
	// NotFound: the registry has no such subject, version or id (500: the
	// configuration names a schema that is not there).
	NotFound
)

// Error is a serialisation failure.
type Error struct {
	Kind Kind
	// What is where it happened: a JSON path for a mismatch
	// ("$.order.amount"), the subject or id otherwise.
	What string
	Err  error
}

func (e *Error) Error() string {
	if e.What == "" {
		return e.Err.Error()
	}
	return e.What + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// mismatch is a Mismatch at path.
func mismatch(path string, format string, args ...any) *Error {
	return &Error{Kind: Mismatch, What: path, Err: fmt.Errorf(format, args...)}
}

// IsMismatch reports a document refused by its schema.
func IsMismatch(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == Mismatch
}
