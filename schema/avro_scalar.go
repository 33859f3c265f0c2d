package schema

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
)

// Avro's scalars from JSON: the primitive types, the logical types and
// bytes, each from the JSON forms avro.go's comment lists. The walk over
// records, arrays, maps and unions is avro.go's.

func primitive(s *avro.PrimitiveSchema, v any, path string) (any, error) {
	if l := s.Logical(); l != nil {
		return logical(s, l, v, path)
	}
	switch s.Type() {
	case avro.String:
		str, ok := v.(string)
		if !ok {
			return nil, expected(path, "a string", v)
		}
		return str, nil
	case avro.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, expected(path, "a boolean", v)
		}
		return b, nil
	case avro.Int, avro.Long:
		n, ok := v.(json.Number)
		if !ok {
			return nil, expected(path, "a number ("+string(s.Type())+")", v)
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || (s.Type() == avro.Int && int64(int32(i)) != i) {
			return nil, mismatch(path, "%s is not an %s", n, s.Type())
		}
		if s.Type() == avro.Int {
			return int(i), nil
		}
		return i, nil
	case avro.Float, avro.Double:
		n, ok := v.(json.Number)
		if !ok {
			return nil, expected(path, "a number ("+string(s.Type())+")", v)
		}
		f, err := n.Float64()
		if err != nil {
			return nil, mismatch(path, "%s is not a %s", n, s.Type())
		}
		if s.Type() == avro.Float {
			return float32(f), nil
		}
		return f, nil
	case avro.Bytes:
		return bytesOf(v, path)
	}
	return nil, mismatch(path, "schema type %s is not supported", s.Type())
}

// isUUID checks the canonical 8-4-4-4-12 hex form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func logical(s *avro.PrimitiveSchema, l avro.LogicalSchema, v any, path string) (any, error) {
	switch l.Type() {
	case avro.Decimal:
		return decimal(v, path)
	case avro.UUID:
		str, ok := v.(string)
		if !ok || !isUUID(str) {
			return nil, expected(path, "a UUID", v)
		}
		return str, nil
	case avro.TimestampMillis, avro.TimestampMicros, avro.LocalTimestampMillis, avro.LocalTimestampMicros:
		switch v := v.(type) {
		case string:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, mismatch(path, "expected an RFC 3339 timestamp, got %q", v)
			}
			return t, nil
		case json.Number:
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return nil, mismatch(path, "%s is not a whole number", v)
			}
			if l.Type() == avro.TimestampMillis || l.Type() == avro.LocalTimestampMillis {
				return time.UnixMilli(n).UTC(), nil
			}
			return time.UnixMicro(n).UTC(), nil
		}
		return nil, expected(path, "a timestamp (RFC 3339 text or a number)", v)
	case avro.Date:
		switch v := v.(type) {
		case string:
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return nil, mismatch(path, "expected a date (2006-01-02), got %q", v)
			}
			return t, nil
		case json.Number:
			n, err := strconv.ParseInt(string(v), 10, 32)
			if err != nil {
				return nil, mismatch(path, "%s is not a number of days", v)
			}
			return time.Unix(n*86400, 0).UTC(), nil
		}
		return nil, expected(path, "a date (2006-01-02 or days since 1970-01-01)", v)
	case avro.TimeMillis, avro.TimeMicros:
		switch v := v.(type) {
		case string:
			t, err := time.Parse("15:04:05.999999", v)
			if err != nil {
				return nil, mismatch(path, "expected a time of day (15:04:05.000), got %q", v)
			}
			return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
				time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()), nil
		case json.Number:
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return nil, mismatch(path, "%s is not a whole number", v)
			}
			if l.Type() == avro.TimeMillis {
				return time.Duration(n) * time.Millisecond, nil
			}
			return time.Duration(n) * time.Microsecond, nil
		}
		return nil, expected(path, "a time of day", v)
	}
	// A logical type hamba knows but the JSON forms above do not: the
	// underlying type.
	return primitive(avro.NewPrimitiveSchema(s.Type(), nil), v, path)
}

func decimal(v any, path string) (any, error) {
	var text string
	switch v := v.(type) {
	case json.Number:
		text = string(v)
	case string:
		text = v
	default:
		return nil, expected(path, "a decimal (a number or numeric text)", v)
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return nil, mismatch(path, "%q is not a decimal number", text)
	}
	return r, nil
}

func bytesOf(v any, path string) ([]byte, error) {
	str, ok := v.(string)
	if !ok {
		return nil, expected(path, "a string (bytes)", v)
	}
	if rest, ok := strings.CutPrefix(str, "base64:"); ok {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, mismatch(path, "invalid base64: %v", err)
		}
		return b, nil
	}
	out := make([]byte, 0, len(str))
	for _, r := range str {
		if r > 0xff {
			return nil, mismatch(path, `bytes as text hold code points up to \u00ff; use "base64:..." for others`)
		}
		out = append(out, byte(r))
	}
	return out, nil
}
