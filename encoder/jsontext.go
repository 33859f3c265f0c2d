package encoder

import (
	"slices"
)

// appendJSONText validates src as one JSON value and appends it to dst as
// a JSON string, in one pass: what json.Valid and then appendText did in
// two. It also reports whether src holds whitespace between tokens (then
// body_args needs appendWithoutSpace; otherwise it is src as it is).
//
// It must accept exactly what json.Valid accepts:
//
//   - whitespace is space, \t, \n and \r, between tokens only;
//   - strings hold no byte below 0x20, and escapes are \" \\ \/ \b \f \n
//     \r \t or \u and four hex digits (surrogates are not paired up; the
//     bytes are not checked for UTF-8 here, the caller does that);
//   - numbers are -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, of any
//     magnitude (1e400 is fine);
//   - objects and arrays nest at most maxJSONDepth deep, encoding/json's
//     limit;
//   - duplicate object keys are fine.
//
// The text is appendText's (src must be valid UTF-8 for it to be right):
// in valid JSON the only bytes it escapes are the quotes, the backslashes
// of escapes, \t \n \r between tokens and U+2028/U+2029 in strings, all of
// which the validator stops at anyway. Everything between them is copied
// as one run when the next escape is written, so the text costs a few
// stores per string rather than a table look-up per byte. The text of
// valid JSON (or of invalid JSON, up to where it is found so) is at most
// twice as long (an escape makes one byte two, \" or \\ two bytes four,
// U+2028's three six), so the buffer is grown once, up front, and never
// checked again.
//
// Nesting is tracked on an explicit stack, not by recursion, so a deep
// document costs no goroutine stack; the state lives in local variables.
//
// On invalid input ok is false and dst holds something unspecified; the
// caller asks encoding/json for the error message.
func appendJSONText(dst, src []byte) (_ []byte, spaced, ok bool) {
	dst = slices.Grow(dst, 2*len(src)+jsonTextSlack)
	out := dst[:cap(dst)]
	j := len(dst)
	out[j] = '"'
	j++
	start := 0 // src[start:i] is still to be written, as it is
	var stackBuf [64]byte
	stack := stackBuf[:0] // '{' or '[' per open container
	key := false          // an object member's name comes next
	i := 0
	for {
		// A value, or an object member's name, colon and value.
		if i < len(src) && src[i] <= ' ' {
			i, j, start = spaceText(out, j, src, start, i)
			spaced = true // or a control character: invalid anyway
		}
		if key {
			if i >= len(src) || src[i] != '"' {
				return dst, spaced, false
			}
			if i, j, ok = stringText(out, j, src, start, i); !ok {
				return dst, spaced, false
			}
			start = i
			if i < len(src) && src[i] <= ' ' {
				i, j, start = spaceText(out, j, src, start, i)
				spaced = true
			}
			if i >= len(src) || src[i] != ':' {
				return dst, spaced, false
			}
			i++
			if i < len(src) && src[i] <= ' ' {
				i, j, start = spaceText(out, j, src, start, i)
				spaced = true
			}
			key = false
		}
		if i >= len(src) {
			return dst, spaced, false
		}
		switch c := src[i]; c {
		case '{', '[':
			i++
			if stack = append(stack, c); len(stack) > maxJSONDepth {
				return dst, spaced, false
			}
			if i < len(src) && src[i] <= ' ' {
				i, j, start = spaceText(out, j, src, start, i)
				spaced = true
			}
			if i < len(src) && src[i] == c+2 { // '}' or ']'
				i++
				stack = stack[:len(stack)-1]
				ok = true
				break // the value is complete
			}
			key = c == '{'
			continue
		case '"':
			i, j, ok = stringText(out, j, src, start, i)
			start = i
		case 't':
			i, ok = scanJSONLiteral(src, i, "true")
		case 'f':
			i, ok = scanJSONLiteral(src, i, "false")
		case 'n':
			i, ok = scanJSONLiteral(src, i, "null")
		default:
			i, ok = scanJSONNumber(src, i)
		}
		if !ok {
			return dst, spaced, false
		}
		// After a value: close containers, or a comma and the next member.
		for {
			if i < len(src) && src[i] <= ' ' {
				i, j, start = spaceText(out, j, src, start, i)
				spaced = true
			}
			if len(stack) == 0 {
				if i != len(src) {
					return dst, spaced, false
				}
				j += copy(out[j:], src[start:])
				out[j] = '"'
				return out[:j+1], spaced, true
			}
			if i >= len(src) {
				return dst, spaced, false
			}
			top, c := stack[len(stack)-1], src[i]
			i++
			if c == top+2 {
				stack = stack[:len(stack)-1]
				continue
			}
			if c != ',' {
				return dst, spaced, false
			}
			key = top == '{'
			break
		}
	}
}

// jsonTextSlack is the room appendJSONText needs beyond twice the input:
// the opening and closing quotes, and the eight-byte store of writeRun.
const jsonTextSlack = 16

// writeRun writes src[start:i] at out[j:] and returns the index after it.
// The runs between escapes outside strings are short (a colon, a number
// and its comma), too short for copy's call to pay: up to eight bytes go
// as one unaligned eight-byte store, out having room past the run
// (jsonTextSlack) for the bytes after it, which later writes overwrite.
// Small enough to be inlined.
func writeRun(out []byte, j int, src []byte, start, i int) int {
	if i-start <= 8 && start+8 <= len(src) {
		store64(out, j, load64(src, start))
		return j + i - start
	}
	return j + copy(out[j:], src[start:i])
}

// writeEscape writes src[start:i] and then two bytes, e1 and e2.
func writeEscape(out []byte, j int, src []byte, start, i int, e1, e2 byte) int {
	j = writeRun(out, j, src, start, i)
	out[j], out[j+1] = e1, e2
	return j + 2
}

// spaceText skips the whitespace at i, writing \t, \n and \r as their
// escapes (a space is written as it is), and returns the new i, j and start.
func spaceText(out []byte, j int, src []byte, start, i int) (int, int, int) {
	for ; i < len(src); i++ {
		switch c := src[i]; c {
		case ' ':
		case '\t', '\n', '\r':
			j = writeEscape(out, j, src, start, i, '\\', shortEscape[c])
			start = i + 1
		default:
			return i, j, start
		}
	}
	return i, j, start
}

// stringText reads a string whose opening quote is at i (see
// appendJSONText), src[start:i] being still to write, and returns the index
// after its closing quote (where nothing is left to write) and the new j.
//
// The contents go eight bytes at a time while there are eight: each word
// is tested for stops (textStops) and stored to where it goes in the text
// (src[k] goes to out[k+d]) in the same step, so a string's plain run costs
// no copy of its own; only at a stop are the escape's bytes written. The
// stops other than the closing quote are rare, and left to stringEscape so
// that this loop stays small.
func stringText(out []byte, j int, src []byte, start, i int) (_, _ int, ok bool) {
	j = writeRun(out, j, src, start, i)
	store16(out, j, '\\'|'"'<<8)
	j, i = j+2, i+1
	for {
		d := j - i // the run from i goes to out[i+d:]
		for {
			if i+8 > len(src) { // the last few bytes of the body, one by one
				for i < len(src) && !isTextStop[src[i]] {
					out[i+d] = src[i]
					i++
				}
				break
			}
			w := load64(src, i)
			store64(out, i+d, w)
			if m := textStops(w); m != 0 {
				i += firstFlagged(m)
				break
			}
			i += 8
		}
		if i >= len(src) {
			return i, j, false
		}
		j = i + d // src[:i] is written
		if src[i] == '"' {
			store16(out, j, '\\'|'"'<<8)
			return i + 1, j + 2, true
		}
		if i, j, ok = stringEscape(out, j, src, i); !ok {
			return i, j, false
		}
	}
}

// stringEscape handles a stop of stringText other than the closing quote,
// at src[i], whose text goes at out[j:]: a backslash's escape (validated,
// and itself escaped), U+2028 or U+2029, or another character with lead
// byte 0xE2 (written as it is); a control character is invalid. It returns
// the indexes after it.
func stringEscape(out []byte, j int, src []byte, i int) (_, _ int, ok bool) {
	switch c := src[i]; {
	case c == '\\':
		if i+1 >= len(src) {
			return i, j, false
		}
		switch e := src[i+1]; e {
		case '"', '\\':
			// Escaped in turn: \" becomes \\\" and \\ becomes \\\\.
			out[j], out[j+1], out[j+2], out[j+3] = '\\', '\\', '\\', e
			return i + 2, j + 4, true
		case '/', 'b', 'f', 'n', 'r', 't':
			out[j], out[j+1], out[j+2] = '\\', '\\', e
			return i + 2, j + 3, true
		case 'u':
			if i+6 > len(src) || !isHexDigit[src[i+2]] || !isHexDigit[src[i+3]] || !isHexDigit[src[i+4]] || !isHexDigit[src[i+5]] {
				return i, j, false
			}
			out[j], out[j+1] = '\\', '\\'
			return i + 6, writeRun(out, j+2, src, i+1, i+6), true // u and the digits
		default:
			return i, j, false
		}
	case c < 0x20:
		return i, j, false
	case isLineSep(src, i):
		return i + 3, appendRareEscape(out, j, src, i), true
	default: // 0xE2 of another character
		out[j] = c
		return i + 1, j + 1, true
	}
}

// isTextStop[c] is true for the bytes textStops flags.
var isTextStop = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c == 0xE2
	}
	return t
}()
