package encoder

import (
	"errors"
	"strings"
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

var all = config.Forward{Method: true, URI: true, Headers: true, Body: true}
var bodyOnly = config.Forward{Body: true}

func request(method, path, contentType, body string, extra ...string) *message.Request {
	hs := []message.Header{{Name: ":method", Value: method}, {Name: ":path", Value: path}, {Name: ":authority", Value: "example.com"}, {Name: ":scheme", Value: "http"}}
	if contentType != "" {
		hs = append(hs, message.Header{Name: "content-type", Value: contentType})
	}
	for i := 0; i+1 < len(extra); i += 2 {
		hs = append(hs, message.Header{Name: extra[i], Value: extra[i+1]})
	}
	return &message.Request{Headers: hs, Body: []byte(body)}
}

// encodeValue encodes r with e, requiring no error and the value want (a
// nil value would make the record a tombstone); it returns the encoding for
// the checks of key and headers.
func encodeValue(t *testing.T, e *Encoder, r *message.Request, want string) Encoded {
	t.Helper()
	enc, err := e.Encode(r)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if enc.Value == nil {
		t.Errorf("nil value: the record would be a tombstone")
	}
	if string(enc.Value) != want {
		t.Errorf("value\n got %q\nwant %q", enc.Value, want)
	}
	return enc
}

func encode(t *testing.T, fwd config.Forward, r *message.Request) string {
	t.Helper()
	e := New(config.Message{Format: config.FormatKong, Forward: fwd}, config.Headers{})
	enc, err := e.Encode(r)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if enc.Key != nil || enc.Headers != nil {
		t.Fatalf("encoded %+v, want no key and no headers", enc)
	}
	return string(enc.Value)
}

const multipartBody = "--XyZ\r\n" +
	"Content-Disposition: form-data; name=\"name\"\r\n\r\n" +
	"Ada\r\n" +
	"--XyZ\r\n" +
	"Content-Disposition: form-data; name=\"tag\"\r\n\r\n" +
	"a\r\n" +
	"--XyZ\r\n" +
	"Content-Disposition: form-data; name=\"tag\"\r\n\r\n" +
	"b\r\n" +
	"--XyZ--\r\n"

func TestEnvelope(t *testing.T) {
	tests := []struct {
		name string
		fwd  config.Forward
		req  *message.Request
		want string
	}{
		{"bodyless GET, default flags: Kong's empty base64 body",
			bodyOnly, request("GET", "/", "", ""),
			`{"body":"","body_args":{},"body_base64":true}`},
		{"JSON body with every flag",
			all, request("POST", "/orders?a=1&a=2&flag&e=&sp=x+y%21", "application/json", `{"id": 7, "big": 12345678901234567890}`,
				"x-trace", "t1", "accept", "a/b", "accept", "c/d"),
			`{"method":"POST","uri":"/orders?a=1&a=2&flag&e=&sp=x+y%21","uri_args":{"a":["1","2"],"e":"","flag":true,"sp":"x y!"},` +
				`"headers":{"accept":["a/b","c/d"],"content-type":"application/json","host":"example.com","x-trace":"t1"},` +
				`"body":"{\"id\": 7, \"big\": 12345678901234567890}","body_args":{"id":7,"big":12345678901234567890}}`},
		{"JSON array and charset parameter",
			bodyOnly, request("POST", "/", "Application/JSON; charset=utf-8", `[1, "<&>"]`),
			`{"body":"[1, \"<&>\"]","body_args":[1,"<&>"]}`},
		{"structured +json suffix is JSON",
			bodyOnly, request("POST", "/", "application/cloudevents+json", `{"specversion":"1.0"}`),
			`{"body":"{\"specversion\":\"1.0\"}","body_args":{"specversion":"1.0"}}`},
		{"form body with bad escapes keeps them as written, like uri_args",
			bodyOnly, request("POST", "/", "application/x-www-form-urlencoded", "comment=100%&n=1&a=%ZZ&b=%41"),
			`{"body":"comment=100%&n=1&a=%ZZ&b=%41","body_args":{"a":"%ZZ","b":"A","comment":"100%","n":"1"}}`},
		{"form body",
			bodyOnly, request("POST", "/", "application/x-www-form-urlencoded", "a=1&b=x+y&a=2&flag&e="),
			`{"body":"a=1&b=x+y&a=2&flag&e=","body_args":{"a":["1","2"],"b":"x y","e":"","flag":true}}`},
		{"multipart body",
			bodyOnly, request("POST", "/", "multipart/form-data; boundary=XyZ", multipartBody),
			`{"body":` + jsonString(multipartBody) + `,"body_args":{"name":"Ada","tag":["a","b"]}}`},
		{"multipart with a binary part keeps it out of body_args and base64s the body",
			bodyOnly, request("POST", "/", "multipart/form-data; boundary=B",
				"--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n\r\n\xff\xfe\r\n--B\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\nok\r\n--B--\r\n"),
			`{"body":"LS1CDQpDb250ZW50LURpc3Bvc2l0aW9uOiBmb3JtLWRhdGE7IG5hbWU9ImYiOyBmaWxlbmFtZT0ieC5iaW4iDQoNCv/+DQotLUINCkNvbnRlbnQtRGlzcG9zaXRpb246IGZvcm0tZGF0YTsgbmFtZT0idCINCg0Kb2sNCi0tQi0tDQo=","body_args":{"t":"ok"},"body_base64":true}`},
		{"empty JSON body is an empty body, not bad JSON",
			bodyOnly, request("GET", "/", "application/json", ""),
			`{"body":"","body_args":{}}`},
		{"empty multipart body without boundary",
			bodyOnly, request("POST", "/", "multipart/form-data", ""),
			`{"body":"","body_args":{}}`},
		{"empty multipart body is an empty form",
			bodyOnly, request("POST", "/", "multipart/form-data; boundary=B", ""),
			`{"body":"","body_args":{}}`},
		{"text/plain with charset stays text (Kong would base64 it)",
			bodyOnly, request("POST", "/", "text/plain; charset=utf-8", "héllo <b>"),
			`{"body":"héllo <b>","body_args":{}}`},
		{"each of Kong's raw text types",
			bodyOnly, request("POST", "/", "application/soap+xml", "<a/>"),
			`{"body":"<a/>","body_args":{}}`},
		{"text/html", bodyOnly, request("POST", "/", "text/html", "<p>"), `{"body":"<p>","body_args":{}}`},
		{"text/xml", bodyOnly, request("POST", "/", "TEXT/XML", "<x/>"), `{"body":"<x/>","body_args":{}}`},
		{"application/xml", bodyOnly, request("POST", "/", "application/xml", "<x/>"), `{"body":"<x/>","body_args":{}}`},
		{"binary type is base64",
			bodyOnly, request("POST", "/", "application/octet-stream", "\x00\x01\xff"),
			`{"body":"AAH/","body_args":{},"body_base64":true}`},
		{"other text types are base64 like in Kong",
			bodyOnly, request("POST", "/", "text/csv", "a,b"),
			`{"body":"YSxi","body_args":{},"body_base64":true}`},
		{"missing content type is base64",
			bodyOnly, request("PUT", "/", "", "hi"),
			`{"body":"aGk=","body_args":{},"body_base64":true}`},
		{"text/plain that is not UTF-8 is base64",
			bodyOnly, request("POST", "/", "text/plain", "\xff"),
			`{"body":"/w==","body_args":{},"body_base64":true}`},
		{"malformed content-type parameters still match the media type",
			bodyOnly, request("POST", "/", "text/plain; charset", "x"),
			`{"body":"x","body_args":{}}`},
		{"method only",
			config.Forward{Method: true}, request("DELETE", "/x", "application/json", "not json"),
			`{"method":"DELETE"}`},
		{"uri only, no query",
			config.Forward{URI: true}, request("GET", "/a/b", "", ""),
			`{"uri":"/a/b","uri_args":{}}`},
		{"uri with a bad escape keeps the raw text",
			config.Forward{URI: true}, request("GET", "/?q=%zz&%41=1", "", ""),
			`{"uri":"/?q=%zz&%41=1","uri_args":{"A":"1","q":"%zz"}}`},
		{"bytes that are not UTF-8 in headers and args are read as Latin-1",
			config.Forward{URI: true, Headers: true}, request("GET", "/?q=caf%E9&%FF", "", "", "x-bin", "caf\xe9"),
			`{"uri":"/?q=caf%E9&%FF","uri_args":{"q":"café","ÿ":true},"headers":{"host":"example.com","x-bin":"café"}}`},
		{"form values that are not UTF-8 are read as Latin-1",
			bodyOnly, request("POST", "/", "application/x-www-form-urlencoded", "n=%E9"),
			`{"body":"n=%E9","body_args":{"n":"é"}}`},
		{"headers: host header wins over :authority, three repeats",
			config.Forward{Headers: true}, request("GET", "/", "", "", "host", "h.example", "x-a", "1", "x-a", "2", "x-a", "3"),
			`{"headers":{"host":"h.example","x-a":["1","2","3"]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := encode(t, tt.fwd, tt.req); got != tt.want {
				t.Errorf("value\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func jsonString(s string) string {
	r := strings.NewReplacer("\r", `\r`, "\n", `\n`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

func TestBodyErrors(t *testing.T) {
	tests := []struct {
		name, contentType, body, want string
	}{
		{"truncated JSON", "application/json", `{"a":`, "body is not valid application/json: unexpected end of JSON input"},
		{"blank JSON", "application/json", " \n", "body is not valid application/json: unexpected end of JSON input"},
		{"two JSON values", "application/json", `{} {}`, "body is not valid application/json: invalid character '{' after top-level value"},
		{"JSON not UTF-8", "application/json", "\"\xff\"", "body is not valid application/json: not UTF-8"},
		{"bad JSON under +json", "application/problem+json", `nope`, "body is not valid application/problem+json: invalid character 'o' in literal null (expecting 'u')"},
		{"multipart without boundary", "multipart/form-data", "x", "body is not valid multipart/form-data: content-type has no boundary parameter"},
		{"multipart with a malformed parameter", `multipart/form-data; boundary="q q"; x=`, "x",
			"body is not valid multipart/form-data: content-type parameters do not parse (mime: invalid media parameter), so the boundary is unknown"},
		{"multipart that never ends", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx", "body is not valid multipart/form-data: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(config.Message{Format: config.FormatKong, Forward: all}, config.Headers{})
			enc, err := e.Encode(request("POST", "/", tt.contentType, tt.body))
			if enc.Value != nil {
				t.Errorf("a value returned with an error: %+v", enc)
			}
			var bodyErr *BodyError
			if !errors.As(err, &bodyErr) {
				t.Fatalf("error %v (%T), want *BodyError", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
}

// Bodies are not parsed when forward_body is off, so they cannot fail.
func TestBodyNotParsedWhenNotForwarded(t *testing.T) {
	got := encode(t, config.Forward{Method: true}, request("POST", "/", "application/json", "{"))
	if got != `{"method":"POST"}` {
		t.Errorf("got %s", got)
	}
}
