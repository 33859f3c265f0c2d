package encoder

// The rest of the JSON grammar appendJSONText (jsontext.go) checks, and
// the compaction of a valid body for body_args: json.Marshal's compaction of
// a json.RawMessage, which with SetEscapeHTML(false) only drops whitespace
// (strings, numbers and literals are kept byte for byte).

// maxJSONDepth is encoding/json's maxNestingDepth.
const maxJSONDepth = 10000

// jsonSpace[c] is true for JSON's four whitespace bytes.
var jsonSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

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

// isHexDigit[c] is true for hex digits, either case.
var isHexDigit = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

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
