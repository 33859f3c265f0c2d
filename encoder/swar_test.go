package encoder

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// The word-at-a-time scans (swar.go) treat eight bytes at once and the last
// few one by one: a bug there shows only for a special byte at a given
// position in its word, or just before or after the end of the input. So
// each special byte is put at every offset of two words, with a tail of
// every length up to a word, in a JSON string, between JSON tokens and in
// plain text.

// wordSpecials are the bytes (or sequences) the scans stop at or must not
// stop at, as they appear in a JSON string's source: escapes, raw
// characters that need escaping in the envelope, and raw bytes >= 0x80.
var wordSpecials = []string{
	`\"`, `\\`, `\/`, `\n`, `\u00e9`, `\u2028`,
	"\u2028", "\u2029", "\u2030", // E2 80 A8, E2 80 A9, E2 80 B0 (a lead byte that is not a separator)
	"é", "日", "😀", "\u007f", "#", "]", // 0x23 and 0x5D: one off `"` and `\`, a borrow's false positive
	"\x00", "\x01", "\x1f", "\t", "\n", "\r", // invalid in a string: the error
	`"`, // ends the string early: the rest is invalid
}

// wordSpaces are whitespace (and non-whitespace controls) between tokens.
var wordSpaces = []string{" ", "\t", "\n", "\r", "\r\n", "\x01"}

// wordBoundaryBodies are JSON (or near-JSON) bodies with each special at
// each offset 0..17 from the start of a string (after a key of every
// length), followed by a tail of 0..9 bytes; and text dense with escapes.
func wordBoundaryBodies() []string {
	var out []string
	for off := 0; off < 18; off++ {
		pre := strings.Repeat("a", off)
		for _, tail := range []int{0, 1, 6, 7, 8, 9} {
			post := strings.Repeat("b", tail)
			for _, sp := range wordSpecials {
				out = append(out,
					`"`+pre+sp+post+`"`,
					`{"`+pre+`":"`+sp+post+`"}`,
					`["`+pre+sp+`",`+post+`1]`,
				)
			}
			for _, sp := range wordSpaces {
				out = append(out, `[`+pre[:off%9]+`"`+pre+`"`+sp+`,`+sp+strings.Repeat("1", tail+1)+sp+`]`)
			}
			// Numbers and literals of every length between strings.
			out = append(out, `{"`+pre+`":`+strings.Repeat("7", off+1)+`,"`+post+`":true}`)
		}
	}
	// Text whose last words fill up with two-byte and six-byte escapes:
	// appendText's room for its last few bytes (a fuzzer's find).
	for n := 0; n <= 33; n++ {
		for _, pattern := range []string{"\x01", `"`, "\x01\"", "\"\"\x01", "a\x01"} {
			out = append(out, strings.Repeat(pattern, n)[:n])
		}
	}
	return out
}

func TestWordBoundaries(t *testing.T) {
	bodies := wordBoundaryBodies()
	for _, b := range bodies {
		sameCompact(t, []byte(b))
		for _, ct := range []string{"application/json", "text/plain"} {
			sameAsRef(t, &message.Request{Headers: []message.Header{
				{Name: ":method", Value: "P" + b[:min(len(b), 3)]}, {Name: ":path", Value: "/" + b},
				{Name: "content-type", Value: ct}, {Name: "x-h", Value: b},
			}, Body: []byte(b)})
		}
		// appendString and appendText on their own, from every small capacity.
		w := refQuote(nil, b)
		if got := appendString(nil, b); !bytes.Equal(got, w) {
			t.Fatalf("appendString(%q) = %q, want %q", b, got, w)
		}
		// From every room up to well past what appendText asks for: its
		// growing is checked per word, and must cover the rest.
		for room := 0; room < 2*len(b)+80; room++ {
			if got := appendText(make([]byte, 0, room), []byte(b)); !bytes.Equal(got, w) {
				t.Fatalf("appendText(%q) with room %d = %q, want %q", b, room, got, w)
			}
			if !json.Valid([]byte(b)) {
				continue
			}
			if got, _, ok := appendJSONText(make([]byte, 0, room), []byte(b)); !ok || !bytes.Equal(got, w) {
				t.Fatalf("appendJSONText(%q) with room %d = %q, %v, want %q", b, room, got, ok, w)
			}
		}
	}
	t.Logf("%d bodies", len(bodies))
}

// Micro-benchmarks of the passes over a JSON body, to see where the
// envelope's time goes (BenchmarkEncode measures them together).
func BenchmarkJSONPasses(b *testing.B) {
	body := benchJSON(1 << 10)
	buf := make([]byte, 0, 4*len(body))
	b.Run("appendText", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			buf = appendText(buf[:0], body)
		}
	})
	b.Run("appendJSONText", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			buf, _, _ = appendJSONText(buf[:0], body)
		}
	})
	b.Run("appendBase64", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			buf = appendBase64(buf[:0], body)
		}
	})
}
