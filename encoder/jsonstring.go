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

// appendString appends s as a JSON string. It is generic so that a body
// needs no string copy.
func appendString[S []byte | string](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
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
		// Converting at most 4 bytes to a string does not allocate.
		n := min(len(s)-i, utf8.UTFMax)
		r, size := utf8.DecodeRuneInString(string(s[i : i+n]))
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

// textEscape describes, for appendText, how each byte of valid UTF-8 is
// written: as itself (size 1), as a backslash and a letter (size 2: `"`,
// `\`, \b \f \n \r \t), or by the slow path (size 0: the other control
// characters, and 0xE2, the lead byte of U+2028 and U+2029).
var textFirst, textSecond, textSize = func() (first, second, size [256]byte) {
	for c := range 256 {
		first[c], size[c] = byte(c), 1
		switch {
		case c == '"' || c == '\\':
			first[c], second[c], size[c] = '\\', byte(c), 2
		case shortEscape[c] != 0:
			first[c], second[c], size[c] = '\\', shortEscape[c], 2
		case c < 0x20 || c == 0xE2:
			size[c] = 0
		}
	}
	return first, second, size
}()

// isLineSep reports whether s[i:] starts with U+2028 or U+2029
// (E2 80 A8, E2 80 A9).
func isLineSep(s []byte, i int) bool {
	return i+2 < len(s) && s[i] == 0xE2 && s[i+1] == 0x80 && s[i+2]&^1 == 0xA8
}

// textBlock is how many input bytes appendText handles per check of the
// buffer's room.
const textBlock = 64

// appendText appends s, which must be valid UTF-8, as a JSON string: the
// same bytes as appendString, faster for a body of kilobytes. A JSON body
// has a quote every few bytes, too often for a branch per escape to be
// predicted or for appending a run per escape: each byte is written as
// two table bytes and the output advanced by one or two, without a branch;
// only the rare six-byte escapes take one. Room is checked per block of
// input (twice the block, and the rest of s as it is) and per rare escape.
func appendText(dst, s []byte) []byte {
	dst = slices.Grow(dst, len(s)+2)
	j := len(dst)
	out := dst[:cap(dst)]
	out[j] = '"'
	j++
	for i := 0; i < len(s); {
		end := min(i+textBlock, len(s))
		if need := j + 2*(end-i) + 6 + len(s) - end + 1; need > len(out) {
			out = slices.Grow(out[:j], need-j)
			out = out[:cap(out)]
		}
		for ; i < end; i++ {
			c := s[i]
			size := textSize[c]
			if size == 0 {
				// Six bytes, then the block's rest at two and s's rest.
				if need := j + 6 + 2*(end-i) + len(s) - end + 1; need > len(out) {
					out = slices.Grow(out[:j], need-j)
					out = out[:cap(out)]
				}
				j = appendRareEscape(out, j, s, i)
				if c == 0xE2 && isLineSep(s, i) {
					i += 2
				}
				continue
			}
			out[j] = textFirst[c]
			out[j+1] = textSecond[c]
			j += int(size)
		}
	}
	out[j] = '"'
	return out[:j+1]
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
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = utf8.AppendRune(b, rune(s[i]))
	}
	return string(b)
}
