package encoder

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// appendCompactJSON is appendJSONText's validation and the compaction of
// body_args on their own, for checking them against json.Valid and
// json.Compact: it appends src to dst without its insignificant whitespace.
func appendCompactJSON(dst, src []byte) (_ []byte, ok bool) {
	_, spaced, ok := appendJSONText(nil, src)
	switch {
	case !ok:
		return dst, false
	case !spaced:
		return append(dst, src...), true
	default:
		return appendWithoutSpace(dst, src), true
	}
}

// TestBase64SameAsEncodingBase64 checks appendBase64 against
// encoding/base64 for every length up to a few groups (each tail and
// padding) and every byte value.
func TestBase64SameAsEncodingBase64(t *testing.T) {
	src := []byte(allBytes + allBytes[100:] + allBytes)
	for n := 0; n <= 64; n++ {
		for off := 0; off+n <= len(src); off += 37 {
			in := src[off : off+n]
			want := base64.StdEncoding.AppendEncode([]byte("p"), in)
			if got := appendBase64([]byte("p"), in); !bytes.Equal(got, want) {
				t.Fatalf("%q: got %q, want %q", in, got, want)
			}
		}
	}
	want := base64.StdEncoding.EncodeToString(src)
	if got := appendBase64(nil, src); string(got) != want {
		t.Fatalf("all bytes: got %q, want %q", got, want)
	}
}
