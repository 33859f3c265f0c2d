package encoder

// Differential tests of Kong's envelope: the hand-written encoder (kong.go)
// against the encoding/json one it replaced (kongRef, kongref_test.go), on
// a table of awkward requests under every combination of forward_* flags,
// and fuzzed. Any byte of difference, or a different error, fails.
//
//	go test -run '^$' -fuzz FuzzKong -fuzztime 60s ./encoder/
//	go test -run '^$' -fuzz FuzzCompactJSON -fuzztime 60s ./encoder/

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// allForwards is every combination of the four forward_* flags.
func allForwards() []config.Forward {
	var out []config.Forward
	for m := 0; m < 16; m++ {
		out = append(out, config.Forward{Method: m&1 != 0, URI: m&2 != 0, Headers: m&4 != 0, Body: m&8 != 0})
	}
	return out
}

// sameAsRef fails t unless r encodes to the same bytes, or the same error,
// under both implementations, for every flag combination.
func sameAsRef(t testing.TB, r *message.Request) {
	t.Helper()
	for _, fwd := range allForwards() {
		e := New(config.Message{Format: config.FormatKong, Forward: fwd}, config.Headers{})
		want, wantErr := kongRef(e, r)
		got, gotErr := e.kong(r)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || fmt.Sprintf("%T", gotErr) != fmt.Sprintf("%T", wantErr) {
			t.Fatalf("forward %+v, request %q body %q:\nerror %v\n want %v", fwd, r.Headers, r.Body, gotErr, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("forward %+v, request %q body %q:\n got %q\nwant %q", fwd, r.Headers, r.Body, got, want)
		}
	}
}

// allBytes is every byte value once; allControls every control character.
var allBytes, allControls = func() (string, string) {
	var b, c []byte
	for i := 0; i < 256; i++ {
		b = append(b, byte(i))
		if i < 0x20 || i == 0x7f {
			c = append(c, byte(i))
		}
	}
	return string(b), string(c)
}()

// diffJSONBodies are JSON bodies, valid and not, for the JSON content types.
var diffJSONBodies = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1e400`, `-1.5E-7`, `1E+2`, `true`, `false`, `null`,
	` {"a" : 1 , "b":[ 1 , 2 ] } `, "\t\r\n[\n1,\r\n2\t]\n",
	`{"a":1,"a":2}`, `{"\u00e9\/\"\\\b\f\n\r\t":"\uD83D\uDE00 \ud800"}`,
	`{"s":"<p>&amp;</p>"}`, "{\"sep\":\"\u2028\u2029\"}", `"é ü 日本"`,
	`{"a":"x y"}`, `[1,[2,[3,[4]]]]`, `{"a":{"b":{"c":{}}}}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 3000) + "1" + strings.Repeat("}", 3000),
	// Invalid.
	` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a"}`, `{a:1}`, `01`, `1.`, `.5`, `-`, `1e`, `1e+`, `+1`,
	`tru`, `truex`, `nul`, `[true false]`, `{} {}`, `"abc`, `"\x"`, `"\u12"`, `"\u12g4"`,
	"\"a\x01b\"", "\"tab\there\"", `NaN`, `Infinity`, "\xff", `{"a":"` + "\xc3\x28" + `"}`,
	"\"\xe2\x80\xa8\"", `[1]]`, `[[1]`, `"a"b`, `{"a":1 "b":2}`, `[,1]`, `{,}`,
	"[" + allControls + "]", `"` + strings.Repeat(`\\`, 5) + `"`,
}

// diffTextBodies are bodies for the other content types.
var diffTextBodies = []string{
	"", "plain text", allControls, allBytes, "\u2028\u2029", "\xff\xfe", "é", "\xe9",
	"a=1&b=2&a=3&flag&=x&e=&sp=x+y%21&bad=%zz&pct=100%&x%ff=%e9&&", "q=%E2%80%A8&c=%01%1f",
	"<xml>&amp;</xml>", "\x00\x01\x02", strings.Repeat("ab\"\\", 100),
	strings.Repeat(allControls, 20), strings.Repeat("\u2028", 100), strings.Repeat("é\u2029\x01\"日", 50),
	strings.Repeat("x", 63) + "\u2028" + strings.Repeat("\n", 70),
	// More pairs than sortArgs sorts by insertion, with repeats: the order of
	// each name's values must survive both sorts.
	strings.Repeat("b=1&a=2&c=3&a=4&", 5) + "z=0", strings.Repeat("k=v&", 16) + "j=1&k=last",
}

const diffBoundary = "XyZ"

var diffMultipart = []string{
	"",
	"--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nAda\r\n--XyZ\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\na\r\n--XyZ\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\nb\r\n--XyZ--\r\n",
	"--XyZ\r\nContent-Disposition: form-data; name=\"bin\"\r\n\r\n\xff\xfe\r\n--XyZ\r\nContent-Disposition: form-data; name=\"ctl\"\r\n\r\n" + allControls + "\u2028\r\n--XyZ--\r\n",
	"--XyZ\r\nContent-Disposition: form-data; name=\"\xe9t\xe9\"\r\n\r\nv\r\n--XyZ--\r\n",
	"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
	"not multipart at all",
}

var diffContentTypes = []string{
	"", "application/json", "application/json; charset=utf-8", "Application/JSON", "application/cloudevents+json",
	"application/x-www-form-urlencoded", "multipart/form-data; boundary=" + diffBoundary, "multipart/form-data",
	"multipart/form-data; boundary=", "multipart/form-data; boundary=\"XyZ", "text/plain", "text/plain; charset=utf-8",
	"text/html", "application/xml", "text/xml", "application/soap+xml", "application/octet-stream", "image/png",
	"application/json; bad", ";;;",
}

// diffHeaderSets are header lists (after the pseudo-headers).
var diffHeaderSets = [][]message.Header{
	nil,
	{{Name: "accept", Value: "a/b"}, {Name: "accept", Value: "c/d"}, {Name: "accept", Value: "e/f"}, {Name: "x-trace", Value: "t1"}},
	{{Name: "x-latin1", Value: "caf\xe9"}, {Name: "x-utf8", Value: "café 日本"}, {Name: "x-ctl", Value: allControls}, {Name: "x-sep", Value: "\u2028"}},
	{{Name: "host", Value: "real-host"}, {Name: "Host", Value: "upper"}, {Name: "", Value: "empty name"}, {Name: "x-empty", Value: ""}},
	{{Name: "b", Value: "1"}, {Name: "a", Value: "2"}, {Name: "b", Value: "3"}, {Name: "a\xff", Value: "4"}, {Name: "a\xfe", Value: "\xff"}, {Name: "\"q\"", Value: "<&>"}},
	{{Name: "z", Value: allBytes}},
	func() (hs []message.Header) { // more than 16, repeats among them
		for i := range 20 {
			hs = append(hs, message.Header{Name: fmt.Sprintf("x-%d", (i*7)%5), Value: fmt.Sprint(i)})
		}
		return hs
	}(),
}

var diffPaths = []string{
	"", "/", "/orders", "/orders?", "/o?a=1&a=2&flag&e=&sp=x+y%21", "/o?bad=%zz&pct=100%&=v&&x", "/o?%e9=%ff&\xe9=\xff",
	"/o?a=1?b=2", "/\xff?q=\u2028", "/o?k=" + allControls, "/o?a&a&a=", "/o?%41=1&A=2&a=3",
	"/o?" + strings.Repeat("q=1&p=2&q=3&", 6),
}

// diffRequests is the table: every content type with its kind of bodies,
// then every header set and path with a few bodies.
func diffRequests() []*message.Request {
	req := func(method, path, authority, ct string, hs []message.Header, body string) *message.Request {
		all := []message.Header{{Name: ":method", Value: method}, {Name: ":path", Value: path}}
		if authority != "-" {
			all = append(all, message.Header{Name: ":authority", Value: authority})
		}
		if ct != "" {
			all = append(all, message.Header{Name: "content-type", Value: ct})
		}
		return &message.Request{Headers: append(all, hs...), Body: []byte(body)}
	}
	var out []*message.Request
	for _, ct := range diffContentTypes {
		bodies := diffTextBodies
		switch {
		case strings.Contains(strings.ToLower(ct), "json"):
			bodies = append(append([]string{}, diffJSONBodies...), diffTextBodies...)
		case strings.HasPrefix(ct, "multipart"):
			bodies = append(append([]string{}, diffMultipart...), diffTextBodies...)
		}
		for _, b := range bodies {
			out = append(out, req("POST", "/p?a=1", "example.com", ct, nil, b))
		}
	}
	for i, hs := range diffHeaderSets {
		for j, p := range diffPaths {
			authority := []string{"example.com", "", "-", "h\xe9"}[(i+j)%4]
			method := []string{"GET", "", "P\xffST", "<&>\u2028"}[(i+j)%4]
			for _, b := range []string{"", `{"a": 1}`, "a=1&a=2"} {
				for _, ct := range []string{"application/json", "application/x-www-form-urlencoded", ""} {
					out = append(out, req(method, p, authority, ct, hs, b))
				}
			}
		}
	}
	return out
}

func TestKongSameAsReference(t *testing.T) {
	reqs := diffRequests()
	for _, r := range reqs {
		sameAsRef(t, r)
	}
	t.Logf("%d requests × 16 flag combinations", len(reqs))
}

// TestCompactJSONSameAsEncodingJSON checks the validator and compactor on
// their own against json.Valid and json.Compact.
func TestCompactJSONSameAsEncodingJSON(t *testing.T) {
	for _, b := range append(append([]string{}, diffJSONBodies...), diffTextBodies...) {
		sameCompact(t, []byte(b))
	}
}

func sameCompact(t testing.TB, src []byte) {
	t.Helper()
	got, ok := appendCompactJSON([]byte("prefix"), src)
	if want := json.Valid(src); ok != want {
		t.Fatalf("%q: valid %v, encoding/json says %v", src, ok, want)
	}
	if !ok {
		return
	}
	var want bytes.Buffer
	want.WriteString("prefix")
	if err := json.Compact(&want, src); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("%q:\n got %q\nwant %q", src, got, want.Bytes())
	}
}

// FuzzKong builds a request from its arguments: method, path, authority,
// content type, two headers (the second reusing the first's name when
// sameName), the body.
func FuzzKong(f *testing.F) {
	for i, r := range diffRequests() {
		if i%7 != 0 { // the table runs in full above; a sample seeds the fuzzer
			continue
		}
		get := func(name string) string { v, _ := r.Get(name); return v }
		var hn, hv string
		for _, h := range r.Headers {
			if !strings.HasPrefix(h.Name, ":") && h.Name != "content-type" {
				hn, hv = h.Name, h.Value
				break
			}
		}
		f.Add(get(":method"), get(":path"), get(":authority"), get("content-type"), hn, hv, true, r.Body)
	}
	f.Fuzz(func(t *testing.T, method, path, authority, ct, hname, hvalue string, sameName bool, body []byte) {
		second := "x-other"
		if sameName {
			second = hname
		}
		r := &message.Request{Headers: []message.Header{
			{Name: ":method", Value: method}, {Name: ":path", Value: path}, {Name: ":authority", Value: authority},
			{Name: "content-type", Value: ct}, {Name: hname, Value: hvalue}, {Name: second, Value: hvalue + "2"},
		}, Body: body}
		sameAsRef(t, r)
	})
}

func FuzzCompactJSON(f *testing.F) {
	for _, b := range diffJSONBodies {
		if len(b) < 1000 { // the deep ones run in the tests above; they slow the fuzzer down
			f.Add([]byte(b))
		}
	}
	for i, b := range wordBoundaryBodies() { // a sample: they run in full in TestWordBoundaries
		if i%40 == 0 {
			f.Add([]byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		sameCompact(t, src)
		// As a body: the envelope and its errors too.
		r := &message.Request{Headers: []message.Header{{Name: "content-type", Value: "application/json"}}, Body: src}
		e := New(config.Message{Format: config.FormatKong, Forward: bodyOnly}, config.Headers{})
		want, wantErr := kongRef(e, r)
		got, gotErr := e.kong(r)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
			t.Fatalf("body %q:\n got %q, %v\nwant %q, %v", src, got, gotErr, want, wantErr)
		}
	})
}

// TestStringsSameAsEncodingJSON checks appendString, and appendText on
// valid UTF-8, against encoding/json v1 with SetEscapeHTML(false) (refQuote),
// from buffers
// of every small capacity (so that each growth path runs).
func TestStringsSameAsEncodingJSON(t *testing.T) {
	inputs := append(append([]string{allBytes, "\xe2\x80", "\xe2\x80\xa8\xe2", "a\xe2"}, diffTextBodies...), diffJSONBodies...)
	for _, in := range inputs {
		w := refQuote(nil, in)
		for capacity := 0; capacity < 8; capacity++ {
			dst := append(make([]byte, 0, capacity), 'p')
			if got := appendString(dst, in); !bytes.Equal(got[1:], w) {
				t.Fatalf("appendString(%q) = %q, want %q", in, got[1:], w)
			}
			if !utf8.ValidString(in) {
				continue
			}
			dst = append(make([]byte, 0, capacity), 'p')
			if got := appendText(dst, []byte(in)); !bytes.Equal(got[1:], w) {
				t.Fatalf("appendText(%q) = %q, want %q", in, got[1:], w)
			}
		}
	}
}
