package config

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// fieldError rewrites a protojson error, whose position refers to JSON the
// user never saw (Envoy re-encodes the TypedStruct), into one naming the
// field: each field of the object is decoded alone until the culprit shows.
func fieldError(js []byte, md protoreflect.MessageDescriptor, prefix string, err error) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(js, &fields) != nil {
		if prefix == "" {
			return "config: must be a JSON/YAML object"
		}
		return prefix + ": must be an object"
	}
	for _, name := range sortedKeys(fields) {
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		fd := md.Fields().ByJSONName(name)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(name))
		}
		if fd == nil {
			return path + ": unknown field"
		}
		one, _ := json.Marshal(map[string]json.RawMessage{name: fields[name]})
		msg := dynamicpb.NewMessage(md)
		ferr := protojson.Unmarshal(one, msg)
		if ferr == nil {
			continue
		}
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() && !isWellKnown(fd.Message()) {
			return fieldError(fields[name], fd.Message(), path, ferr)
		}
		if fd.IsMap() && fd.MapValue().Kind() == protoreflect.MessageKind {
			var entries map[string]json.RawMessage
			if json.Unmarshal(fields[name], &entries) == nil {
				for _, key := range sortedKeys(entries) {
					if err := protojson.Unmarshal(entries[key], dynamicpb.NewMessage(fd.MapValue().Message())); err != nil {
						return fieldError(entries[key], fd.MapValue().Message(), path+"."+key, err)
					}
				}
			}
		}
		if secretFields[fd.Name()] {
			// protojson quotes the value it could not take: never a secret.
			return path + ": must be a string (the value is not shown: it is a secret)"
		}
		return path + ": " + valueError(ferr)
	}
	return "config: " + cleanProtoError(err)
}

// secretFields are the fields whose values no error may repeat.
var secretFields = map[protoreflect.Name]bool{"password": true, "client_secret": true, "bearer_token": true}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isWellKnown reports the google.protobuf types that have their own JSON
// form (Duration as "1.5s", …): errors stop at them.
func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}

var protoPosition = regexp.MustCompile(`^\s*\(line \d+:\d+\):\s*|\s*\(line \d+:\d+\)`)

// valueError keeps what protojson says about a value, without the position.
func valueError(err error) string {
	s := protoPosition.ReplaceAllString(cleanProtoError(err), "")
	if strings.HasPrefix(s, "syntax error: unexpected token") {
		s = "wrong type, " + s[len("syntax error: "):]
	}
	if strings.Contains(s, "for string field") {
		s += ` (in YAML, quote it: unquoted no, yes, on, off and numbers are not strings)`
	}
	if strings.Contains(s, "google.protobuf.Duration") {
		s += ` (durations are seconds with an "s" suffix, e.g. "0.25s" or "10s")`
	}
	return s
}

// cleanProtoError drops the "proto: " prefix and the non-breaking spaces
// protojson puts in its messages (it does so on purpose, to stop callers
// from matching on them; we only pass the text on to a human).
func cleanProtoError(err error) string {
	s := strings.ReplaceAll(err.Error(), "\u00a0", " ")
	return strings.TrimPrefix(s, "proto: ")
}
