package encoder

import (
	"slices"
	"unicode/utf8"
)

// The envelope is written by hand (kong.go) but must stay byte for byte
// what encoding/json wrote with SetEscapeHTML(false); this file holds its
// string rules, copied from encoding/json's appendString (Go 1.26):
//
//   - `"` and `\` are escaped with a backslash, and so are the control
//     characters that have a short form: \b \f \n \r \t;
//   - the other bytes below 0x20 become \u00XX (lower-case hex);
//   - <, > and & stay as they are (no HTML escaping);
//   - U+2028 and U+2029 become \u2028 and \u2029 (always, in encoding/json);
//   - each byte of invalid UTF-8 becomes \ufffd.

const hexDigits = "0123456789abcdef"

// plainASCII[c] is true for the ASCII bytes written as they are.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Header names and values, the
// path and the query's pieces are mostly printable ASCII: their plain
// prefix is found eight bytes at a time (plainASCIIPrefix) and appended in
// one go, and only the rest goes byte by byte.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	plain := plainASCIIPrefix(s)
	if plain == len(s) {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i := plain; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// textCode describes, for appendText, how each byte of valid UTF-8 is
// written: its low 16 bits are the one or two bytes written (little-endian),
// the rest is how many of them count (1: the byte itself; 2: a backslash
// and a letter, for `"`, `\`, \b \f \n \r \t; 0: the slow path, for the
// other control characters and 0xE2, the lead byte of U+2028 and U+2029).
// One table load per byte, and no branch but the rare slow path's.
var textCode = func() (t [256]uint32) {
	for c := range 256 {
		switch {
		case c == '"' || c == '\\':
			t[c] = 2<<16 | uint32(c)<<8 | '\\'
		case shortEscape[c] != 0:
			t[c] = 2<<16 | uint32(shortEscape[c])<<8 | '\\'
		case c < 0x20 || c == 0xE2:
			t[c] = 0
		default:
			t[c] = 1<<16 | uint32(c)
		}
	}
	return t
}()

// isLineSep reports whether s[i:] starts with U+2028 or U+2029
// (E2 80 A8, E2 80 A9).
func isLineSep(s []byte, i int) bool {
	return i+2 < len(s) && s[i] == 0xE2 && s[i+1] == 0x80 && s[i+2]&^1 == 0xA8
}

// textRoom is the room appendText keeps in its buffer beyond one byte per
// input byte left: enough for a word of eight six-byte escapes and a store
// of eight bytes past them.
const textRoom = 8*6 + 8

// appendText appends s, which must be valid UTF-8, as a JSON string: the
// same bytes as appendString, faster for a body of kilobytes. It writes
// text bodies (forms, multipart, text/plain, XML); a JSON body's string is
// appendJSONText's.
//
// Eight bytes at a time: the word is stored whole, then each byte
// textStops flags (a superset of those to escape) is written as its
// textCode bytes and the rest of the word stored again after it, shifted;
// a word without any costs one test. The input index never depends on the
// data, so the loads run ahead of the stores. A word dense with escapes
// (more than four), or with a six-byte one (rare), goes byte by byte
// instead. Room is checked once per word, and before the last few bytes.
func appendText(dst, s []byte) []byte {
	dst = slices.Grow(dst, len(s)+textRoom)
	j := len(dst)
	out := dst[:cap(dst)]
	out[j] = '"'
	j++
	i := 0
words:
	for i+8 <= len(s) {
		if len(out)-j < len(s)-i+textRoom {
			out = slices.Grow(out[:j], 2*(len(s)-i)+textRoom)
			out = out[:cap(out)]
		}
		w := load64(s, i)
		m := textStops(w)
		store64(out, j, w)
		if m == 0 {
			i, j = i+8, j+8
			continue
		}
		if !atMostFour(m) {
			// Text dense with escapes (quotes, controls): a byte at a time
			// costs less than a step per escape.
			i, j = appendTextBytes(out, j, s, i, i+8)
			continue
		}
		done := 0 // bytes of w written
		for ; m != 0; m &= m - 1 {
			p := firstFlagged(m)
			j += p - done // those bytes are in place
			code := textCode[byte(w>>(8*p))]
			if code>>16 == 0 {
				i, j = appendTextBytes(out, j, s, i+p, i+8)
				continue words
			}
			store16(out, j, uint16(code))
			j += int(code >> 16)
			done = p + 1
			store64(out, j, w>>(8*done))
		}
		i, j = i+8, j+8-done
	}
	// Fewer than eight bytes left, at up to six bytes each, and the quote.
	if need := 6*(len(s)-i) + 1; len(out)-j < need {
		out = slices.Grow(out[:j], need)
		out = out[:cap(out)]
	}
	_, j = appendTextBytes(out, j, s, i, len(s))
	out[j] = '"'
	return out[:j+1]
}

// appendTextBytes writes s[i:end] at out[j:] byte by byte, each as its
// textCode bytes or a six-byte escape, and returns the indexes after them
// (past end if U+2028 or U+2029 straddles it); out has room for six bytes
// per byte.
func appendTextBytes(out []byte, j int, s []byte, i, end int) (int, int) {
	for ; i < end; i++ {
		code := textCode[s[i]]
		if code>>16 == 0 {
			j = appendRareEscape(out, j, s, i)
			if isLineSep(s, i) {
				i += 2
			}
			continue
		}
		store16(out, j, uint16(code))
		j += int(code >> 16)
	}
	return i, j
}

// appendRareEscape writes s[i], a control character without a short escape
// or 0xE2, at out[j] and returns the new j; out has room for six bytes.
func appendRareEscape(out []byte, j int, s []byte, i int) int {
	c := s[i]
	switch {
	case c == 0xE2 && isLineSep(s, i):
		copy(out[j:], `\u202`)
		out[j+5] = hexDigits[s[i+2]&0xF]
		return j + 6
	case c == 0xE2:
		out[j] = c
		return j + 1
	default:
		copy(out[j:], `\u00`)
		out[j+4], out[j+5] = hexDigits[c>>4], hexDigits[c&0xF]
		return j + 6
	}
}

// shortEscape maps the control characters with a one-letter escape to it.
var shortEscape = [256]byte{'\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't'}

// latin1IfNotUTF8 keeps text that JSON cannot hold as it is: HTTP allows
// bytes 0x80-0xFF in header values (obs-text), and %-escapes may decode to
// them; encoding/json would replace each with U+FFFD. Read as Latin-1, the
// historical charset of HTTP headers, every byte survives as one character.
// Valid UTF-8, the usual case, is returned without a copy.
func latin1IfNotUTF8(s string) string {
	if plainASCIIPrefix(s) == len(s) || utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = utf8.AppendRune(b, rune(s[i]))
	}
	return string(b)
}
