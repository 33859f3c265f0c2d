package encoder

import (
	"slices"
	"strings"
)

// arg is one name/value pair of the envelope's small objects (uri_args,
// headers, body_args of a form): the name and value exactly as they are
// written (after any Latin-1 reading), or the value true for a query
// argument without "=".
type arg struct {
	name, value string
	isTrue      bool
	seq         int // position in the request, set by sortArgs (for more than 16 pairs)
}

// appendArgObject appends args as the JSON object encoding/json made of the
// map[string]any the envelope used to hold: one key per distinct name,
// keys sorted by their bytes (encoding/json sorts map keys with
// strings.Compare), a repeated name's values as an array in their order in
// args. Sorting the slice costs less than a map; it reorders args. The sort
// is by name, then by position (sortArgs): stable, without the cost of a
// stable sort (slices.SortStableFunc moves the pairs about far more, which
// shows with a form of a few dozen fields).
func appendArgObject(dst []byte, args []arg) []byte {
	sortArgs(args)
	dst = append(dst, '{')
	for i := 0; i < len(args); {
		j := i + 1
		for j < len(args) && args[j].name == args[i].name {
			j++
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, args[i].name)
		dst = append(dst, ':')
		if j == i+1 {
			dst = appendArgValue(dst, args[i])
		} else {
			dst = append(dst, '[')
			for k := i; k < j; k++ {
				if k > i {
					dst = append(dst, ',')
				}
				dst = appendArgValue(dst, args[k])
			}
			dst = append(dst, ']')
		}
		i = j
	}
	return append(dst, '}')
}

// sortArgs sorts args by name, then by position. A request's headers and
// query are a dozen pairs or so: an insertion sort (stable, so the position
// needs no comparing) costs less there than the general sort's calls of
// its comparison function.
func sortArgs(args []arg) {
	if len(args) <= 16 {
		for i := 1; i < len(args); i++ {
			for k := i; k > 0 && args[k].name < args[k-1].name; k-- {
				args[k], args[k-1] = args[k-1], args[k]
			}
		}
		return
	}
	for i := range args {
		args[i].seq = i
	}
	slices.SortFunc(args, func(a, b arg) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
}

func appendArgValue(dst []byte, a arg) []byte {
	if a.isTrue {
		return append(dst, "true"...)
	}
	return appendString(dst, a.value)
}

// argsSize is about what appendArgObject writes for args, for sizing the
// output buffer up front (a little escaping is allowed for).
func argsSize(args []arg) int {
	n := 2
	for _, a := range args {
		n += len(a.name) + len(a.value) + 8
	}
	return n + n/8
}
