package encoder

// Property fuzzing of Encode, one target per format. Unlike FuzzKong (the
// hand-written envelope against the encoding/json one), these check what a
// consumer relies on, from first principles:
//
//   - Encode never panics, and its only errors are the documented
//     *BodyError (kong) and *EventError (cloudevents); raw never fails;
//   - kong: the value is valid JSON with the keys of the forward_* flags,
//     in order, each once; method, uri and headers say what the request
//     said; body round-trips (as text, or base64 with body_base64), and a
//     JSON body is accepted exactly when it is valid JSON, with body_args
//     its compacted text;
//   - raw: the value is the body, byte for byte;
//   - cloudevents: the record carries the four required attributes, each
//     once, and the data round-trips in both modes;
//   - record headers, in every format: no pseudo-header, no excluded
//     header, nothing in allowlist mode but the allowed headers (and the
//     format's own and the trace context), one content-type at most.
//
//	go test -run '^$' -fuzz '^FuzzEncodeKong$' -fuzztime 60s ./encoder/
//
// Each target takes the same arguments: path, content type ("" for none),
// more headers (one per line, "name:value"; a name may be a pseudo-header,
// ":authority:h"), the body, and sel, whose bits pick the config: 0-3 the
// forward_* flags (kong; 0 is all four), 4-5 the headers section (off,
// blocklist, allowlist, blocklist with a rename), 6-7 the repeated-header
// policy.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// fuzzRequest builds the request the arguments describe: :method POST and
// :path, the content type when not "", then the header lines, names
// lower-cased as the adapters do (A-Z only).
func fuzzRequest(path, ct, headers string, body []byte) *message.Request {
	hs := []message.Header{{Name: ":method", Value: "POST"}, {Name: ":path", Value: path}}
	if ct != "" {
		hs = append(hs, message.Header{Name: "content-type", Value: ct})
	}
	if headers != "" {
		for _, line := range strings.Split(headers, "\n") {
			name, value := line, ""
			if len(line) > 0 {
				if i := strings.IndexByte(line[1:], ':'); i >= 0 {
					name, value = line[:i+1], line[i+2:]
				}
			}
			hs = append(hs, message.Header{Name: asciiLower(name), Value: value})
		}
	}
	return &message.Request{Headers: hs, Body: body}
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// fuzzHeaderModes are the headers sections sel picks from.
const (
	modeOff = iota
	modeBlock
	modeAllow
	modeBlockRenamed
)

// fuzzHeaders is the headers section of sel's bits 4-7, resolved by
// config.Resolve from a config with mixed-case names, as an operator may
// write them.
func fuzzHeaders(tb testing.TB, sel uint8) config.Headers {
	tb.Helper()
	policy := []string{config.RepeatedConcatenate, config.RepeatedTakeFirst, config.RepeatedRetain, ""}[sel>>6&3]
	var h *config.RecordHeaders
	switch sel >> 4 & 3 {
	case modeBlock:
		h = &config.RecordHeaders{ForwardAllByDefault: true, ExcludeHeaders: []string{"X-Secret", "authorization", "Cookie"}}
	case modeAllow:
		h = &config.RecordHeaders{IncludeHeaders: []string{"X-Tenant", "content-type", "x-request-id"},
			NameMappings: map[string]string{"X-Tenant": "tenant"}}
	case modeBlockRenamed:
		h = &config.RecordHeaders{ForwardAllByDefault: true, ExcludeHeaders: []string{"x-secret"},
			NameMappings: map[string]string{"x-tenant": "tenant", "Authorization": "auth"}}
	}
	cfg := &config.Config{BootstrapServers: []string{"k:9092"}, Topic: "t"}
	if h != nil {
		h.ForwardHttpHeadersAsRecordHeaders = true
		h.RepeatedHeadersBehavior = policy
		cfg.Headers = h
	}
	s, err := config.Resolve(cfg)
	if err != nil {
		tb.Fatalf("headers section for sel %#x: %v", sel, err)
	}
	return s.Headers
}

// headerConfigs are fuzzHeaders for every value of sel's bits 4-7, by
// sel>>4.
func headerConfigs(tb testing.TB) (hc [16]config.Headers) {
	for i := range hc {
		hc[i] = fuzzHeaders(tb, uint8(i<<4))
	}
	return hc
}

var traceKeys = map[string]bool{"traceparent": true, "tracestate": true, "baggage": true}

// checkRecordHeaders checks what any record's headers may carry under h:
// own(key) reports the keys the format adds itself (content-type, ce_*),
// which the headers rules do not produce.
func checkRecordHeaders(t *testing.T, sel uint8, h config.Headers, r *message.Request, hs []message.RecordHeader, own func(string) bool) {
	t.Helper()
	mode := int(sel >> 4 & 3)
	for _, rh := range hs {
		k := rh.Key
		switch {
		case strings.HasPrefix(k, ":"):
			t.Fatalf("pseudo-header %q forwarded as a record header: %s", k, showHeaders(hs))
		case own(k), traceKeys[k] && h.TraceContext:
			continue
		}
		switch mode {
		case modeOff:
			t.Fatalf("record header %q with forwarding off: %s", k, showHeaders(hs))
		case modeAllow:
			if k != "tenant" && k != "content-type" && k != "x-request-id" {
				t.Fatalf("record header %q in allowlist mode (x-tenant as tenant, content-type, x-request-id): %s", k, showHeaders(hs))
			}
		case modeBlock, modeBlockRenamed:
			if k == "x-secret" || mode == modeBlock && (k == "authorization" || k == "cookie") {
				t.Fatalf("excluded header %q forwarded: %s", k, showHeaders(hs))
			}
		}
		// Forwarded: it names a header of the request, or is its rename.
		_, named := r.Get(k)
		_, tenant := r.Get("x-tenant")
		_, auth := r.Get("authorization")
		renamed := k == "tenant" && mode != modeBlock && tenant || k == "auth" && mode == modeBlockRenamed && auth
		if !named && !renamed {
			t.Fatalf("record header %q is no header of the request: %s", k, showHeaders(hs))
		}
	}
}

// count is how many of hs have key k.
func count(hs []message.RecordHeader, k string) int {
	n := 0
	for _, h := range hs {
		if h.Key == k {
			n++
		}
	}
	return n
}

// mediaName is the content type's media type as the documentation says it
// is compared: without parameters, trimmed, case-insensitively.
func mediaName(r *message.Request) (string, bool) {
	v, ok := r.Get("content-type")
	name, _, _ := strings.Cut(v, ";")
	return strings.ToLower(strings.TrimSpace(name)), ok
}

func isJSONName(name string) bool {
	return name == "application/json" || strings.HasSuffix(name, "+json")
}

// jsonStringOf is what s reads as once written as a JSON string: each byte
// of invalid UTF-8 becomes U+FFFD (ranging over a string does the same).
func jsonStringOf(s string) string { return string([]rune(s)) }

// latin1 is a header value as the envelope reads it: UTF-8 as it is,
// anything else one character per byte.
func latin1(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// members reads a JSON object's members in order, repeated keys included.
func members(t *testing.T, raw []byte) (keys []string, values []json.RawMessage) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", raw)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("object %s: %v", raw, err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("object %s: %v", raw, err)
		}
		keys, values = append(keys, tok.(string)), append(values, v)
	}
	return keys, values
}

func unquote(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s is not a JSON string: %v", raw, err)
	}
	return s
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return "invalid: " + err.Error()
	}
	return buf.String()
}

var kongKeys = []string{"method", "uri", "uri_args", "headers", "body", "body_args", "body_base64"}

var textTypes = map[string]bool{
	"application/x-www-form-urlencoded": true, "multipart/form-data": true,
	"text/plain": true, "text/html": true, "application/xml": true, "text/xml": true, "application/soap+xml": true,
}

// checkKong checks one kong encoding of r with the flags fwd.
func checkKong(t *testing.T, fwd config.Forward, r *message.Request, enc Encoded, err error) {
	t.Helper()
	name, _ := mediaName(r)
	jsonBody := fwd.Body && isJSONName(name) && len(r.Body) > 0
	validJSON := utf8.Valid(r.Body) && json.Valid(r.Body)
	if err != nil {
		var be *BodyError
		if !errors.As(err, &be) || err != error(be) {
			t.Fatalf("kong error %v is a %T, want *encoder.BodyError", err, err)
		}
		switch {
		case !fwd.Body:
			t.Fatalf("body error %v with forward_body off: the body is not read", err)
		case jsonBody && validJSON:
			t.Fatalf("valid JSON body %q refused: %v", r.Body, err)
		case !jsonBody && name != "multipart/form-data":
			t.Fatalf("body of type %q refused (only JSON and multipart are parsed): %v", name, err)
		}
		return
	}
	if jsonBody && !validJSON {
		t.Fatalf("invalid JSON body %q with content type %q accepted: %s", r.Body, name, enc.Value)
	}
	if !json.Valid(enc.Value) {
		t.Fatalf("envelope is not valid JSON: %q", enc.Value)
	}
	if enc.Key != nil {
		t.Fatalf("kong record with a format key %q", enc.Key)
	}
	keys, values := members(t, enc.Value)
	got := map[string]json.RawMessage{}
	for i, k := range keys {
		if _, dup := got[k]; dup {
			t.Fatalf("envelope key %q twice: %s", k, enc.Value)
		}
		got[k] = values[i]
	}
	// The keys of the flags, in Kong's order.
	var want []string
	method := pseudo(r.Headers, ":method")
	for _, k := range kongKeys {
		on := map[string]bool{
			"method": fwd.Method && method != "", "uri": fwd.URI, "uri_args": fwd.URI, "headers": fwd.Headers,
			"body": fwd.Body, "body_args": fwd.Body, "body_base64": fwd.Body,
		}[k]
		if _, ok := got[k]; on && (ok || k != "body_base64") {
			want = append(want, k)
		}
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("envelope keys %q, want %q for %+v: %s", keys, want, fwd, enc.Value)
	}
	if v, ok := got["method"]; ok && unquote(t, v) != jsonStringOf(method) {
		t.Fatalf("method %s, want %q", v, method)
	}
	if v, ok := got["uri"]; ok {
		if path := pseudo(r.Headers, ":path"); unquote(t, v) != jsonStringOf(path) {
			t.Fatalf("uri %s, want %q", v, path)
		}
		if v := got["uri_args"]; v[0] != '{' {
			t.Fatalf("uri_args %s is not an object", v)
		}
	}
	if v, ok := got["headers"]; ok {
		checkHeaderObject(t, r, v)
	}
	if !fwd.Body {
		return
	}
	body := got["body"]
	b64, isB64 := got["body_base64"]
	asText := (isJSONName(name) || textTypes[name]) && utf8.Valid(r.Body)
	switch {
	case isB64 && string(b64) != "true":
		t.Fatalf("body_base64 %s, want true", b64)
	case isB64 == asText:
		t.Fatalf("body_base64 %t for a body of type %q (UTF-8: %t)", isB64, name, utf8.Valid(r.Body))
	case isB64:
		decoded, err := base64.StdEncoding.DecodeString(unquote(t, body))
		if err != nil || !bytes.Equal(decoded, r.Body) {
			t.Fatalf("base64 body %s does not decode to the body %q (%v)", body, r.Body, err)
		}
	default:
		if s := unquote(t, body); s != string(r.Body) {
			t.Fatalf("body %q, want the body %q", s, r.Body)
		}
	}
	args := got["body_args"]
	switch {
	case jsonBody:
		if string(args) != compact(r.Body) {
			t.Fatalf("body_args %s, want the compacted body %s", args, compact(r.Body))
		}
	case args[0] != '{':
		t.Fatalf("body_args %s is not an object", args)
	}
}

// checkHeaderObject checks the envelope's headers object against the
// request: every header but the pseudo-headers, once per name, repeated
// values as an array in request order, :authority as host when the request
// has no host header.
func checkHeaderObject(t *testing.T, r *message.Request, raw json.RawMessage) {
	t.Helper()
	type member struct {
		name   string
		values []string
	}
	var want []member
	hasHost, authority := false, ""
	for _, h := range r.Headers {
		if strings.HasPrefix(h.Name, ":") {
			if h.Name == ":authority" {
				authority = h.Value
			}
			continue
		}
		hasHost = hasHost || h.Name == "host"
		i := slices.IndexFunc(want, func(m member) bool { return m.name == h.Name })
		if i < 0 {
			want = append(want, member{name: h.Name})
			i = len(want) - 1
		}
		want[i].values = append(want[i].values, latin1(h.Value))
	}
	if !hasHost && authority != "" {
		want = append(want, member{name: "host", values: []string{authority}})
	}
	var got []member
	keys, values := members(t, raw)
	for i, k := range keys {
		m := member{name: k}
		if values[i][0] == '[' {
			if err := json.Unmarshal(values[i], &m.values); err != nil {
				t.Fatalf("headers.%s: %s: %v", k, values[i], err)
			}
		} else {
			m.values = []string{unquote(t, values[i])}
		}
		got = append(got, m)
	}
	show := func(ms []member) string {
		var lines []string
		for _, m := range ms {
			lines = append(lines, fmt.Sprintf("%q=%q", jsonStringOf(m.name), m.values))
		}
		sort.Strings(lines)
		return strings.Join(lines, " ")
	}
	// Names are compared as JSON writes them (two names of invalid UTF-8
	// can become the same key, each with its own values).
	for i := range want {
		want[i].name = jsonStringOf(want[i].name)
		for j, v := range want[i].values {
			want[i].values[j] = jsonStringOf(v)
		}
	}
	if show(got) != show(want) {
		t.Fatalf("headers object\n got %s\nwant %s", show(got), show(want))
	}
}

// kongSeeds are requests worth starting from: every kind of body, pseudo-
// and repeated headers, excluded ones in every case.
func kongSeeds(f *testing.F) {
	headers := []string{
		"", ":authority:example.com\nx-tenant:acme\nx-secret:s1\nX-Secret:s2\nauthorization:Bearer t\ncookie:a=1",
		"host:h\n:authority:a\n:path:/other\n:scheme:https\nx-tenant:a\nx-tenant:b",
		"x-request-id:r1\ntraceparent:00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\ntracestate:a=b",
		"x-secret :trailing\nx-secret\t:tab\nx-l\xe9:caf\xe9\nx-u:\u2028\nempty:",
	}
	bodies := []struct{ ct, body string }{
		{"application/json", `{"id": 42, "a": [1, 2.5e3, "x\u2028"]}`}, {"application/json", `{"a":`}, {"application/json", ""},
		{"application/json; charset=utf-8", "\xff"}, {"Application/Problem+JSON", `"s"`}, {"application/json", `1e400`},
		{"application/x-www-form-urlencoded", "a=1&a=2&flag&bad=%zz"}, {"text/plain; charset=utf-8", "plain é"},
		{"multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n"},
		{"multipart/form-data; boundary=XyZ", "--XyZ\r\nno end"}, {"multipart/form-data", "x"},
		{"image/png", "\x89PNG\r\n\x1a\n\x00"}, {"", ""}, {"", "no type"}, {";;", "x"}, {"text/xml", "\xe9"},
	}
	for i, b := range bodies {
		for j, hs := range headers {
			if (i+j)%2 == 0 {
				f.Add("/p?a=1&a=2&flag&topics=events", b.ct, hs, []byte(b.body), uint8(i*37+j*11))
			}
		}
	}
	f.Add("/\xff?q=%e9&\xe9=\xff", "application/json", "x-a\xff:1\nx-a\xfe:2", []byte(`[]`), uint8(0x1f))
}

func FuzzEncodeKong(f *testing.F) {
	kongSeeds(f)
	hc := headerConfigs(f)
	all := config.Forward{Method: true, URI: true, Headers: true, Body: true}
	f.Fuzz(func(t *testing.T, path, ct, headers string, body []byte, sel uint8) {
		r := fuzzRequest(path, ct, headers, body)
		h := hc[sel>>4]
		fwds := []config.Forward{all}
		if m := sel & 15; m != 0 && m != 15 {
			fwds = append(fwds, config.Forward{Method: m&1 != 0, URI: m&2 != 0, Headers: m&4 != 0, Body: m&8 != 0})
		}
		for _, fwd := range fwds {
			e := New(config.Message{Format: config.FormatKong, Forward: fwd}, h)
			enc, err := e.Encode(r)
			checkKong(t, fwd, r, enc, err)
			if err == nil {
				checkRecordHeaders(t, sel, h, r, enc.Headers, func(string) bool { return false })
			}
		}
	})
}

func FuzzEncodeRaw(f *testing.F) {
	kongSeeds(f)
	hc := headerConfigs(f)
	f.Fuzz(func(t *testing.T, path, ct, headers string, body []byte, sel uint8) {
		r := fuzzRequest(path, ct, headers, body)
		h := hc[sel>>4]
		enc, err := New(config.Message{Format: config.FormatRaw}, h).Encode(r)
		if err != nil {
			t.Fatalf("raw format failed (it cannot): %v", err)
		}
		if enc.Value == nil || !bytes.Equal(enc.Value, body) {
			t.Fatalf("raw value %q (nil: %t), want the body %q", enc.Value, enc.Value == nil, body)
		}
		if enc.Key != nil {
			t.Fatalf("raw record with a format key %q", enc.Key)
		}
		ctValue, hasCT := r.Get("content-type")
		if n := count(enc.Headers, "content-type"); n != map[bool]int{true: 1, false: 0}[hasCT] {
			t.Fatalf("%d content-type record headers, request has one: %t: %s", n, hasCT, showHeaders(enc.Headers))
		}
		if hasCT && (enc.Headers[0].Key != "content-type" || string(enc.Headers[0].Value) != ctValue) {
			t.Fatalf("first record header %s, want content-type %q as sent", showHeaders(enc.Headers[:1]), ctValue)
		}
		checkRecordHeaders(t, sel, h, r, enc.Headers, func(k string) bool { return k == "content-type" })
	})
}

// ceSeeds are binary- and structured-mode events, valid and not.
func ceSeeds(f *testing.F) {
	binary := "ce-specversion:1.0\nce-id:A-1\nce-source:/shop\nce-type:order.created"
	for i, s := range []struct{ ct, headers, body string }{
		{"application/json", binary, `{"id":42}`},
		{"text/plain", binary + "\nce-time:2026-01-02T03:04:05Z\nce-partitionkey:k%201\nce-subject:%E2%82%AC", "data"},
		{"", binary + "\nx-tenant:acme\nx-secret:s\nce_id:forged\nce_specversion:2.0", "\x00\xff"},
		{"application/json", "ce-specversion:1.0\nce-source:/s\nce-type:t\nx-request-id:rid", ""},
		{"application/json", binary + "\nce-id:again", "{}"},
		{"application/json", binary + "\nce-Bad_Name:x\nce-time:yesterday", "{}"},
		{"application/octet-stream", binary + "\nce-specversion:0.3", "x"},
		{"application/cloudevents+json", "x-tenant:t\n:authority:h",
			`{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/json","data":{"a":1},"ext":12.50}`},
		{"application/cloudevents+json; charset=utf-8", "",
			`{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"AP8=","partitionkey":""}`},
		{"application/cloudevents+json", "", `{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"text/plain","data":"x\u2028"}`},
		{"application/cloudevents+json", "", `{"specversion":"1.0","id":"1","data":1,"data":2}`},
		{"application/cloudevents+json", "", `[{"specversion":"1.0"}]`},
		{"application/cloudevents-batch+json", "", `[]`},
		{"application/cloudevents+avro", "", `x`},
	} {
		f.Add("/cloudevents", s.ct, s.headers, []byte(s.body), uint8(i*41))
	}
}

// ceOptions are the cloudevents options of sel's bits 0-1: stand-ins for
// source and type, and the id from x-request-id.
func ceOptions(sel uint8, structured bool) config.CloudEventOptions {
	o := config.CloudEventOptions{Structured: structured, IDFromRequestID: sel&1 != 0}
	if sel&2 != 0 {
		o.Source, o.Type = "/default", "default.type"
	}
	return o
}

// checkCloudEvent checks one cloudevents encoding of r.
func checkCloudEvent(t *testing.T, sel uint8, h config.Headers, structured bool, r *message.Request, enc Encoded, err error) {
	t.Helper()
	if err != nil {
		var ee *EventError
		if !errors.As(err, &ee) || err != error(ee) {
			t.Fatalf("cloudevents error %v is a %T, want *encoder.EventError", err, err)
		}
		if ee.Msg == "" {
			t.Fatal("EventError without a message")
		}
		return
	}
	name, hasCT := mediaName(r)
	binaryRequest := name != "application/cloudevents+json"
	// The four required attributes, whichever the mode.
	attrs := map[string]string{}
	for _, hd := range enc.Headers {
		if a, ok := strings.CutPrefix(hd.Key, "ce_"); ok && !structured {
			if _, dup := attrs[a]; dup {
				t.Fatalf("record header %q twice: %s", hd.Key, showHeaders(enc.Headers))
			}
			if !validName(a) || !utf8.Valid(hd.Value) {
				t.Fatalf("record header %q %q: no valid attribute", hd.Key, hd.Value)
			}
			attrs[a] = string(hd.Value)
		}
	}
	if n := count(enc.Headers, "content-type"); n > 1 {
		t.Fatalf("%d content-type record headers: %s", n, showHeaders(enc.Headers))
	}
	var event map[string]json.RawMessage
	if structured {
		if !json.Valid(enc.Value) {
			t.Fatalf("structured event is not valid JSON: %q", enc.Value)
		}
		keys, values := members(t, enc.Value)
		event = map[string]json.RawMessage{}
		for i, k := range keys {
			if _, dup := event[k]; dup {
				t.Fatalf("structured event has %q twice: %s", k, enc.Value)
			}
			event[k] = values[i]
			if values[i][0] == '"' {
				attrs[k] = unquote(t, values[i])
			}
		}
		if len(enc.Headers) == 0 || enc.Headers[0].Key != "content-type" || string(enc.Headers[0].Value) != structuredContentType {
			t.Fatalf("structured record's first header %s, want content-type %q", showHeaders(enc.Headers), structuredContentType)
		}
	} else {
		for i, a := range required {
			if i >= len(enc.Headers) || enc.Headers[i].Key != "ce_"+a {
				t.Fatalf("record headers %s do not start with ce_specversion, ce_id, ce_source, ce_type", showHeaders(enc.Headers))
			}
		}
	}
	if attrs["specversion"] != "1.0" {
		t.Fatalf("specversion %q, want 1.0", attrs["specversion"])
	}
	for _, a := range required[1:] {
		if attrs[a] == "" {
			t.Fatalf("required attribute %q missing or empty: %s %s", a, showHeaders(enc.Headers), enc.Value)
		}
	}
	if binaryRequest {
		// A binary-mode request: the attributes are its ce-* headers,
		// percent-decoded, or the config's stand-ins.
		for _, a := range required {
			v, ok := r.Get("ce-" + a)
			v = percentDecode(v)
			if !ok || v == "" {
				continue
			}
			if attrs[a] != v {
				t.Fatalf("attribute %q is %q, the request says %q", a, attrs[a], v)
			}
		}
		if k, ok := r.Get("ce-partitionkey"); ok != (enc.Key != nil) || ok && string(enc.Key) != percentDecode(k) {
			t.Fatalf("key %q (nil: %t), ce-partitionkey %q (sent: %t)", enc.Key, enc.Key == nil, k, ok)
		}
		checkData(t, r, structured, hasCT, name, enc, event)
	}
	own := func(k string) bool { return k == "content-type" || !structured && strings.HasPrefix(k, "ce_") }
	checkRecordHeaders(t, sel, h, r, enc.Headers, own)
	for _, hd := range enc.Headers {
		if strings.HasPrefix(hd.Key, "ce-") {
			t.Fatalf("ce-* header %q forwarded as well as read as an attribute", hd.Key)
		}
		if structured && strings.HasPrefix(hd.Key, "ce_") {
			t.Fatalf("record header %q beside a structured event: a second, unchecked attribute", hd.Key)
		}
	}
}

// checkData checks that a binary-mode request's body survives: as the
// value in binary mode, as data or data_base64 in structured mode.
func checkData(t *testing.T, r *message.Request, structured, hasCT bool, name string, enc Encoded, event map[string]json.RawMessage) {
	t.Helper()
	if !structured {
		if enc.Value == nil || !bytes.Equal(enc.Value, r.Body) {
			t.Fatalf("binary value %q, want the body %q", enc.Value, r.Body)
		}
		return
	}
	data, hasData := event["data"]
	data64, hasData64 := event["data_base64"]
	jsonType := !hasCT || isJSONName(name)
	switch {
	case len(r.Body) == 0:
		if hasData || hasData64 {
			t.Fatalf("event without data has data: %s", enc.Value)
		}
	case hasData64:
		decoded, err := base64.StdEncoding.DecodeString(unquote(t, data64))
		if err != nil || !bytes.Equal(decoded, r.Body) || utf8.Valid(r.Body) {
			t.Fatalf("data_base64 %s for the body %q (%v): only non-UTF-8 data is base64", data64, r.Body, err)
		}
	case !hasData:
		t.Fatalf("body %q lost: %s", r.Body, enc.Value)
	case jsonType && json.Valid(r.Body) && utf8.Valid(r.Body):
		if string(data) != compact(r.Body) {
			t.Fatalf("data %s, want the compacted JSON body %s", data, compact(r.Body))
		}
	default:
		if s := unquote(t, data); s != string(r.Body) {
			t.Fatalf("data %q, want the body %q", s, r.Body)
		}
	}
}

func fuzzCloudEvents(f *testing.F, structured bool) {
	ceSeeds(f)
	hc := headerConfigs(f)
	f.Fuzz(func(t *testing.T, path, ct, headers string, body []byte, sel uint8) {
		r := fuzzRequest(path, ct, headers, body)
		h := hc[sel>>4]
		e := New(config.Message{Format: config.FormatCloudEvents, CloudEvents: ceOptions(sel, structured)}, h)
		enc, err := e.Encode(r)
		checkCloudEvent(t, sel, h, structured, r, enc, err)
		switch name, _ := mediaName(r); {
		case err != nil:
		case structured:
			sameStructuredAsRef(t, e, r, enc.Value)
		case name == "application/cloudevents+json":
			sameBinaryDataAsRef(t, e, r, enc.Value)
		}
	})
}

// sameStructuredAsRef requires a structured record's value to be the
// bytes structuredValueRef writes for the same event.
func sameStructuredAsRef(t testing.TB, e *Encoder, r *message.Request, got []byte) {
	t.Helper()
	ev, err := e.readEvent(r)
	if err != nil {
		t.Fatalf("readEvent: %v, after Encode succeeded", err)
	}
	if want := structuredValueRef(&ev); !bytes.Equal(got, want) {
		t.Fatalf("structured value for %q body %q:\n got %q\nwant %q", r.Headers, r.Body, got, want)
	}
}

func FuzzEncodeCloudEventsBinary(f *testing.F)     { fuzzCloudEvents(f, false) }
func FuzzEncodeCloudEventsStructured(f *testing.F) { fuzzCloudEvents(f, true) }
