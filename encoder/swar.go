package encoder

import (
	"encoding/binary"
	"math/bits"
)

// Word-at-a-time ("SWAR") byte classification: eight bytes are loaded as
// one little-endian uint64 and tested together, so that the long plain runs
// of a body (string contents, digits) cost one test per eight bytes instead
// of one per byte. Each function returns a mask with the high bit of every
// flagged byte set; only its lowest set bit is exact (a borrow can flag a
// byte above a true hit, never below one), which is all firstFlagged needs.

const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// load64 reads s[i:i+8], store64 and store16 write out[j:j+8] and
// out[j:j+2], little-endian. s[i:i+8] rather than s[i:]: a slice of known
// non-zero length spares the instructions that keep s[i:]'s pointer in
// bounds, and these run for every word.
func load64(s []byte, i int) uint64       { return binary.LittleEndian.Uint64(s[i : i+8]) }
func store64(out []byte, j int, w uint64) { binary.LittleEndian.PutUint64(out[j:j+8], w) }
func store16(out []byte, j int, v uint16) { binary.LittleEndian.PutUint16(out[j:j+2], v) }

// stringStops flags the bytes that end a plain run inside a JSON string:
// `"`, `\` and control characters. Each test is the classic "has a byte
// below n" (w - n*ones) &^ w, on w itself for n = 0x20 and, for n = 1 (a
// zero byte), on w xor a byte repeated for the others. Written out flat
// so that it inlines into the scanning loops.
func stringStops(w uint64) uint64 {
	q := w ^ (swarOnes * '"')
	b := w ^ (swarOnes * '\\')
	return ((w-swarOnes*0x20)&^w | (q-swarOnes)&^q | (b-swarOnes)&^b) & swarHigh
}

// textStops flags the bytes of valid UTF-8 that a JSON string cannot hold
// as they are: stringStops's and 0xE2, the lead byte of U+2028 and U+2029
// (the other bytes >= 0x80 of valid UTF-8 are copied).
func textStops(w uint64) uint64 {
	q := w ^ (swarOnes * '"')
	b := w ^ (swarOnes * '\\')
	e := w ^ (swarOnes * 0xE2)
	return ((w-swarOnes*0x20)&^w | (q-swarOnes)&^q | (b-swarOnes)&^b | (e-swarOnes)&^e) & swarHigh
}

// atMostFour reports whether m flags at most four bytes.
func atMostFour(m uint64) bool {
	m &= m - 1
	m &= m - 1
	m &= m - 1
	m &= m - 1
	return m == 0
}

// firstFlagged is the index (0-7) of the first flagged byte of a non-zero mask.
func firstFlagged(m uint64) int { return bits.TrailingZeros64(m) >> 3 }

// plainASCIIPrefix is the length of the longest prefix of s that a JSON
// string holds as it is and that is ASCII: no `"`, `\`, control character
// or byte >= 0x80. Eight bytes at a time; the last word is the last eight
// bytes, overlapping the one before (whose bytes are plain, so the first
// flagged byte of the last word is past them).
func plainASCIIPrefix(s string) int {
	if len(s) < 8 {
		i := 0
		for i < len(s) && plainASCIIByte[s[i]] {
			i++
		}
		return i
	}
	for i := 0; ; i += 8 {
		i = min(i, len(s)-8)
		if m := stringStops(load64String(s, i)) | load64String(s, i)&swarHigh; m != 0 {
			return i + firstFlagged(m)
		}
		if i == len(s)-8 {
			return len(s)
		}
	}
}

// load64String is load64 for a string; the compiler makes it one load.
func load64String(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plainASCIIByte[c] is true for the bytes plainASCIIPrefix accepts.
var plainASCIIByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()
