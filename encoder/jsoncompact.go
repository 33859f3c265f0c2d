package encoder

// appendCompactJSON validates src as one JSON value and appends it to dst
// without its insignificant whitespace: one validating pass, then one copy
// (a second pass only if there is whitespace to drop). It stands for what the
// envelope did before with encoding/json: json.Valid, then the compaction
// json.Marshal applies to a json.RawMessage (with SetEscapeHTML(false) that
// compaction only drops whitespace: strings, numbers and literals are kept
// byte for byte). It must accept exactly what json.Valid accepts:
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
// On invalid input it returns ok false and dst in an unspecified state;
// the caller asks encoding/json for the error message.
func appendCompactJSON(dst, src []byte) (_ []byte, ok bool) {
	spaced, ok := validJSON(src)
	switch {
	case !ok:
		return dst, false
	case !spaced:
		return append(dst, src...), true // already compact: one copy
	default:
		return appendWithoutSpace(dst, src), true
	}
}

// maxJSONDepth is encoding/json's maxNestingDepth.
const maxJSONDepth = 10000

// jsonSpace[c] is true for JSON's four whitespace bytes.
var jsonSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// skipSpace returns the index of the first byte at or after i that is not
// whitespace.
func skipSpace(src []byte, i int) int {
	for i < len(src) && jsonSpace[src[i]] {
		i++
	}
	return i
}

// validJSON reports whether src is one JSON value (and nothing but
// whitespace around it), and whether it holds whitespace between tokens.
// Nesting is tracked on an explicit stack, not by recursion, so a deep
// document costs no goroutine stack. The state lives in local variables:
// this loop is the hot path of every JSON request.
func validJSON(src []byte) (spaced, ok bool) {
	var stackBuf [64]byte
	stack := stackBuf[:0] // '{' or '[' per open container
	i, j := 0, 0
	for {
		// A value.
		if j = skipSpace(src, i); j != i {
			spaced, i = true, j
		}
		if i >= len(src) {
			return spaced, false
		}
		switch c := src[i]; c {
		case '{', '[':
			i++
			if stack = append(stack, c); len(stack) > maxJSONDepth {
				return spaced, false
			}
			if j = skipSpace(src, i); j != i {
				spaced, i = true, j
			}
			if i < len(src) && src[i] == c+2 { // '}' or ']'
				i++
				stack = stack[:len(stack)-1]
				ok = true
				break // the value is complete
			}
			if c == '{' {
				if i, ok = objectKey(src, i, &spaced); !ok {
					return spaced, false
				}
			}
			continue
		case '"':
			i, ok = scanJSONString(src, i)
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
			return spaced, false
		}
		// After a value: close containers, or a comma and the next member.
		for {
			if j = skipSpace(src, i); j != i {
				spaced, i = true, j
			}
			if len(stack) == 0 {
				return spaced, i == len(src)
			}
			if i >= len(src) {
				return spaced, false
			}
			top, c := stack[len(stack)-1], src[i]
			i++
			if c == top+2 {
				stack = stack[:len(stack)-1]
				continue
			}
			if c != ',' {
				return spaced, false
			}
			if top == '{' {
				if i, ok = objectKey(src, i, &spaced); !ok {
					return spaced, false
				}
			}
			break
		}
	}
}

// objectKey reads an object member's name and its colon, with the
// whitespace around them, from i; it sets *spaced if it skips any.
func objectKey(src []byte, i int, spaced *bool) (int, bool) {
	if j := skipSpace(src, i); j != i {
		*spaced, i = true, j
	}
	if i >= len(src) || src[i] != '"' {
		return i, false
	}
	i, ok := scanJSONString(src, i)
	if !ok {
		return i, false
	}
	if j := skipSpace(src, i); j != i {
		*spaced, i = true, j
	}
	if i >= len(src) || src[i] != ':' {
		return i, false
	}
	return i + 1, true
}

// appendWithoutSpace appends valid JSON without the whitespace between its
// tokens: outside strings every space, tab, CR and LF goes.
func appendWithoutSpace(dst, src []byte) []byte {
	start, inString := 0, false
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case inString && c == '\\':
			i++ // the escaped byte cannot end the string
		case c == '"':
			inString = !inString
		case !inString && jsonSpace[c]:
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}

// plainStringByte[c] is true for the bytes a string holds unescaped
// without a second look: all but control characters, `"` and `\`.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// isHexDigit[c] is true for hex digits, either case.
var isHexDigit = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

// scanJSONString reads a string whose opening quote is at i and returns the
// index after its closing quote.
func scanJSONString(src []byte, i int) (int, bool) {
	i++
	for {
		for i < len(src) && plainStringByte[src[i]] {
			i++
		}
		if i >= len(src) {
			return i, false
		}
		switch src[i] {
		case '"':
			return i + 1, true
		case '\\':
			if i+1 >= len(src) {
				return i, false
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(src) || !isHexDigit[src[i+2]] || !isHexDigit[src[i+3]] || !isHexDigit[src[i+4]] || !isHexDigit[src[i+5]] {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		default: // a control character
			return i, false
		}
	}
}

// scanJSONLiteral reads true, false or null at i.
func scanJSONLiteral(src []byte, i int, word string) (int, bool) {
	if len(src)-i < len(word) || string(src[i:i+len(word)]) != word {
		return i, false
	}
	return i + len(word), true
}

// scanJSONNumber reads a number at i; what follows it is the caller's to check.
func scanJSONNumber(src []byte, i int) (int, bool) {
	if i < len(src) && src[i] == '-' {
		i++
	}
	switch {
	case i < len(src) && src[i] == '0':
		i++
	case i < len(src) && src[i] >= '1' && src[i] <= '9':
		i = skipDigits(src, i)
	default:
		return i, false
	}
	if i < len(src) && src[i] == '.' {
		if j := skipDigits(src, i+1); j > i+1 {
			i = j
		} else {
			return i, false
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if j := skipDigits(src, i); j > i {
			i = j
		} else {
			return i, false
		}
	}
	return i, true
}

func skipDigits(src []byte, i int) int {
	for i < len(src) && src[i] >= '0' && src[i] <= '9' {
		i++
	}
	return i
}
