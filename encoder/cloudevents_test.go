package encoder

import (
	"errors"
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// ceRequest is a POST with the given body and headers (name, value pairs).
func ceRequest(body string, kv ...string) *message.Request {
	hs := append(hdrs(":method", "POST", ":path", "/events", ":authority", "example.com"), hdrs(kv...)...)
	return &message.Request{Headers: hs, Body: []byte(body)}
}

// required ce-* headers of a binary-mode request.
func ceHeaders(kv ...string) []string {
	return append([]string{"ce-specversion", "1.0", "ce-id", "e1", "ce-source", "/src", "ce-type", "com.example.t"}, kv...)
}

// and the ce_* record headers they become.
func ceRecord(kv ...string) []message.RecordHeader {
	return rhs(append([]string{"ce_specversion", "1.0", "ce_id", "e1", "ce_source", "/src", "ce_type", "com.example.t"}, kv...)...)
}

const (
	structured = "application/cloudevents+json"
	ceStructCT = "application/cloudevents+json; charset=UTF-8"
	// sRequired are a structured event's required attributes, as sent and
	// as written.
	sRequired = `"specversion":"1.0","id":"s1","source":"/s","type":"t"`
)

var (
	binaryMode     = config.CloudEventOptions{}
	structuredMode = config.CloudEventOptions{Structured: true}
	noHeaders      = config.Headers{}
	allHeaders     = config.Headers{Enabled: true, AllByDefault: true, Repeated: config.RepeatedConcatenate}
)

func sRecord(kv ...string) []message.RecordHeader {
	return rhs(append([]string{"ce_specversion", "1.0", "ce_id", "s1", "ce_source", "/s", "ce_type", "t"}, kv...)...)
}

func TestCloudEvents(t *testing.T) {
	tests := []struct {
		name      string
		opts      config.CloudEventOptions
		h         config.Headers
		req       *message.Request
		wantValue string
		want      []message.RecordHeader
		wantKey   *string // nil: no key
	}{
		// binary → binary
		{"binary to binary: body as is, content-type last",
			binaryMode, noHeaders,
			ceRequest(`{"a": 1}`, ceHeaders("content-type", "application/json")...),
			`{"a": 1}`, ceRecord("content-type", "application/json"), nil},
		{"binary: required first, then the others by name; partitionkey is the key",
			binaryMode, noHeaders,
			ceRequest("x", "ce-zeta", "z", "ce-time", "2024-05-01T12:00:00.123456789+02:00", "ce-type", "com.example.t",
				"content-type", "text/plain", "ce-partitionkey", "k1", "ce-source", "/src", "ce-alpha", "a",
				"ce-id", "e1", "ce-subject", "sub", "ce-dataschema", "https://example.com/s", "ce-specversion", "1.0", "ce-alpha2", "a2"),
			"x", ceRecord("ce_alpha", "a", "ce_alpha2", "a2", "ce_dataschema", "https://example.com/s", "ce_partitionkey", "k1",
				"ce_subject", "sub", "ce_time", "2024-05-01T12:00:00.123456789+02:00", "ce_zeta", "z", "content-type", "text/plain"),
			ptr("k1")},
		{"binary: header values are percent-decoded, bad escapes kept",
			binaryMode, noHeaders,
			ceRequest("", "ce-specversion", "1.0", "ce-id", "a%2Fb", "ce-source", "%zz%4", "ce-type", "%e2%82%AC",
				"ce-subject", "caf%C3%A9%20%22x%22%20100%25+1%"),
			"", rhs("ce_specversion", "1.0", "ce_id", "a/b", "ce_source", "%zz%4", "ce_type", "€", "ce_subject", `café "x" 100%+1%`), nil},
		{"binary: forwarded headers follow, without ce-*, content-type or pseudo-headers",
			binaryMode, allHeaders,
			ceRequest("\x00\xff", ceHeaders("x-tenant", "t1", "content-type", "application/octet-stream", "x-tenant", "t2", "x-request-id", "r1")...),
			"\x00\xff", ceRecord("content-type", "application/octet-stream", "x-tenant", "t1,t2", "x-request-id", "r1"), nil},
		{"binary: no content-type and no body",
			binaryMode, noHeaders, ceRequest("", ceHeaders()...), "", ceRecord(), nil},
		{"binary: empty partitionkey is an empty key",
			binaryMode, noHeaders, ceRequest("", ceHeaders("ce-partitionkey", "")...), "", ceRecord("ce_partitionkey", ""), ptr("")},
		// binary → structured
		{"binary to structured: JSON data embedded, compacted",
			structuredMode, noHeaders,
			ceRequest("{\"a\": [1, 2.50],\n \"h\": \"<&>\"}", ceHeaders("content-type", "application/json", "ce-ext", "v")...),
			`{` + `"specversion":"1.0","id":"e1","source":"/src","type":"com.example.t","datacontenttype":"application/json","ext":"v","data":{"a":[1,2.50],"h":"<&>"}}`,
			rhs("content-type", ceStructCT), nil},
		{"binary to structured: +json with charset is JSON",
			structuredMode, noHeaders,
			ceRequest(`"s"`, ceHeaders("content-type", "Application/Problem+JSON; charset=utf-8")...),
			`{"specversion":"1.0","id":"e1","source":"/src","type":"com.example.t","datacontenttype":"Application/Problem+JSON; charset=utf-8","data":"s"}`,
			rhs("content-type", ceStructCT), nil},
		{"binary to structured: text as a string, no HTML escaping",
			structuredMode, noHeaders,
			ceRequest("héllo <b>&\n", ceHeaders("content-type", "text/plain", "ce-subject", "caf%C3%A9")...),
			`{"specversion":"1.0","id":"e1","source":"/src","type":"com.example.t","datacontenttype":"text/plain","subject":"café","data":"héllo <b>&\n"}`,
			rhs("content-type", ceStructCT), nil},
		{"binary to structured: JSON type with a body that is no JSON is text",
			structuredMode, noHeaders,
			ceRequest("not json", ceHeaders("content-type", "application/json")...),
			`{"specversion":"1.0","id":"e1","source":"/src","type":"com.example.t","datacontenttype":"application/json","data":"not json"}`,
			rhs("content-type", ceStructCT), nil},
		{"binary to structured: text/plain that looks like JSON stays a string",
			structuredMode, noHeaders,
			ceRequest("42", ceHeaders("content-type", "text/plain")...),
			`{"specversion":"1.0","id":"e1","source":"/src","type":"com.example.t","datacontenttype":"text/plain","data":"42"}`,
			rhs("content-type", ceStructCT), nil},
		{"binary to structured: no content-type, JSON body embedded",
			structuredMode, noHeaders,
			ceRequest("[1, 2]", ceHeaders()...),
			`{"specversion":"1.0","id":"e1","source":"/src","type":"com.example.t","data":[1,2]}`,
			rhs("content-type", ceStructCT), nil},
		{"binary to structured: bytes that are no UTF-8 are data_base64",
			structuredMode, noHeaders,
			ceRequest("\x00\xff", ceHeaders("content-type", "application/octet-stream")...),
			`{"specversion":"1.0","id":"e1","source":"/src","type":"com.example.t","datacontenttype":"application/octet-stream","data_base64":"AP8="}`,
			rhs("content-type", ceStructCT), nil},
		{"binary to structured: no body, no data member; key and forwarded headers",
			structuredMode, config.Headers{Enabled: true, Include: set("x-tenant", "ce-id", "content-type")},
			ceRequest("", ceHeaders("ce-partitionkey", "k", "x-tenant", "t1", "content-type", "text/plain")...),
			`{"specversion":"1.0","id":"e1","source":"/src","type":"com.example.t","datacontenttype":"text/plain","partitionkey":"k"}`,
			rhs("content-type", ceStructCT, "x-tenant", "t1"), ptr("k")},
		// structured → binary
		{"structured to binary: data object compacted as written; extension values as text",
			binaryMode, noHeaders,
			ceRequest(`{ "flag": true, "id": "s1", "type": "t", "source": "/s", "specversion": "1.0", "datacontenttype": "application/json",`+
				` "data": { "x" : 1.50, "y": "<a>", "n": null }, "comexampleext": 42, "neg": -1e3, "off": false, "subject": null }`,
				"content-type", "Application/CloudEvents+JSON; charset=utf-8"),
			`{"x":1.50,"y":"<a>","n":null}`,
			sRecord("ce_comexampleext", "42", "ce_flag", "true", "ce_neg", "-1e3", "ce_off", "false", "content-type", "application/json"), nil},
		{"structured to binary: data string with text/plain is the text",
			binaryMode, noHeaders,
			ceRequest(`{`+sRequired+`,"datacontenttype":"text/plain","data":"hello \"w\"\n\u00e9"}`, "content-type", structured),
			"hello \"w\"\né", sRecord("content-type", "text/plain"), nil},
		{"structured to binary: data string with a JSON type is its JSON text",
			binaryMode, noHeaders,
			ceRequest(`{`+sRequired+`,"datacontenttype":"application/json","data":"hi"}`, "content-type", structured),
			`"hi"`, sRecord("content-type", "application/json"), nil},
		{"structured to binary: data number with a non-JSON type is its JSON text",
			binaryMode, noHeaders,
			ceRequest(`{`+sRequired+`,"datacontenttype":"text/plain","data":7}`, "content-type", structured),
			`7`, sRecord("content-type", "text/plain"), nil},
		{"structured to binary: data without datacontenttype is application/json",
			binaryMode, noHeaders,
			ceRequest(`{"data": {"a": 1},`+sRequired+`}`, "content-type", structured),
			`{"a":1}`, sRecord("content-type", "application/json"), nil},
		{"structured to binary: data_base64 decoded",
			binaryMode, noHeaders,
			ceRequest(`{`+sRequired+`,"datacontenttype":"application/octet-stream","data_base64":"AAH/"}`, "content-type", structured),
			"\x00\x01\xff", sRecord("content-type", "application/octet-stream"), nil},
		{"structured to binary: no data, null data and data_base64 are absent",
			binaryMode, noHeaders,
			ceRequest(`{`+sRequired+`,"data":null,"data_base64":null}`, "content-type", structured),
			"", sRecord(), nil},
		{"structured to binary: ce-* headers of a structured request are ignored, not forwarded",
			binaryMode, allHeaders,
			ceRequest(`{`+sRequired+`,"partitionkey":"pk"}`, "content-type", structured, "ce-id", "header-id", "ce-bad_name", "x", "x-tenant", "t1"),
			"", sRecord("ce_partitionkey", "pk", "x-tenant", "t1"), ptr("pk")},
		{"structured to binary: a numeric partitionkey is its text",
			binaryMode, noHeaders,
			ceRequest(`{`+sRequired+`,"partitionkey":12}`, "content-type", structured),
			"", sRecord("ce_partitionkey", "12"), ptr("12")},
		// structured → structured
		{"structured to structured: order, non-string extensions kept, null dropped",
			structuredMode, noHeaders,
			ceRequest(`{"data": {"x": 1.50, "h": "<&>"}, "flag": true, "type": "t", "comexampleext": 42, "subject": null,`+
				` "datacontenttype": "application/json", "source": "/s", "id": "s1", "specversion": "1.0", "text": "<\u00e9>"}`,
				"content-type", structured),
			`{` + sRequired + `,"comexampleext":42,"datacontenttype":"application/json","flag":true,"text":"<é>","data":{"x":1.50,"h":"<&>"}}`,
			rhs("content-type", ceStructCT), nil},
		{"structured to structured: data string kept as a string",
			structuredMode, noHeaders,
			ceRequest(`{`+sRequired+`,"datacontenttype":"text/plain","data":"a\tb"}`, "content-type", structured),
			`{` + sRequired + `,"datacontenttype":"text/plain","data":"a\tb"}`,
			rhs("content-type", ceStructCT), nil},
		{"structured to structured: data_base64 of text becomes data",
			structuredMode, noHeaders,
			ceRequest(`{`+sRequired+`,"datacontenttype":"text/plain","data_base64":"aGk="}`, "content-type", structured),
			`{` + sRequired + `,"datacontenttype":"text/plain","data":"hi"}`,
			rhs("content-type", ceStructCT), nil},
		{"structured to structured: binary data_base64 stays data_base64",
			structuredMode, allHeaders,
			ceRequest(`{`+sRequired+`,"data_base64":"AP8="}`, "content-type", structured, "x-tenant", "t1"),
			`{` + sRequired + `,"data_base64":"AP8="}`,
			rhs("content-type", ceStructCT, "x-tenant", "t1"), nil},
		// config defaults
		{"defaults fill a missing source and type",
			config.CloudEventOptions{Source: "/default", Type: "default.type"}, noHeaders,
			ceRequest("", "ce-specversion", "1.0", "ce-id", "e1"),
			"", rhs("ce_specversion", "1.0", "ce_id", "e1", "ce_source", "/default", "ce_type", "default.type"), nil},
		{"defaults do not replace what the event has",
			config.CloudEventOptions{Source: "/default", Type: "default.type", IDFromRequestID: true}, noHeaders,
			ceRequest("", ceHeaders("x-request-id", "r1")...),
			"", ceRecord(), nil},
		{"defaults fill an empty attribute",
			config.CloudEventOptions{Source: "/default"}, noHeaders,
			ceRequest("", "ce-specversion", "1.0", "ce-id", "e1", "ce-source", "", "ce-type", "com.example.t"),
			"", rhs("ce_specversion", "1.0", "ce_id", "e1", "ce_source", "/default", "ce_type", "com.example.t"), nil},
		{"id from x-request-id",
			config.CloudEventOptions{IDFromRequestID: true}, noHeaders,
			ceRequest("", "ce-specversion", "1.0", "ce-source", "/src", "ce-type", "com.example.t", "x-request-id", "req-7"),
			"", rhs("ce_specversion", "1.0", "ce_id", "req-7", "ce_source", "/src", "ce_type", "com.example.t"), nil},
		{"an id given: an x-request-id that is not UTF-8 is not needed",
			config.CloudEventOptions{IDFromRequestID: true}, noHeaders,
			ceRequest("", "ce-specversion", "1.0", "ce-id", "e1", "ce-source", "/src", "ce-type", "com.example.t", "x-request-id", "\xda"),
			"", rhs("ce_specversion", "1.0", "ce_id", "e1", "ce_source", "/src", "ce_type", "com.example.t"), nil},
		{"defaults in a structured event, written structured",
			config.CloudEventOptions{Structured: true, Source: "/default", Type: "default.type", IDFromRequestID: true}, noHeaders,
			ceRequest(`{"specversion":"1.0","data":1}`, "content-type", structured, "x-request-id", "req-7"),
			`{"specversion":"1.0","id":"req-7","source":"/default","type":"default.type","data":1}`,
			rhs("content-type", ceStructCT), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(config.Message{Format: config.FormatCloudEvents, CloudEvents: tt.opts}, tt.h)
			enc := encodeValue(t, e, tt.req, tt.wantValue)
			checkHeaders(t, enc.Headers, tt.want)
			switch {
			case tt.wantKey == nil && enc.Key != nil:
				t.Errorf("key %q, want none", enc.Key)
			case tt.wantKey != nil && (enc.Key == nil || string(enc.Key) != *tt.wantKey):
				t.Errorf("key %q (nil: %t), want %q", enc.Key, enc.Key == nil, *tt.wantKey)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestCloudEventErrors(t *testing.T) {
	tests := []struct {
		name        string
		opts        config.CloudEventOptions
		req         *message.Request
		want        string
		unsupported bool
	}{
		{"nothing CloudEvents-like", binaryMode, ceRequest(`{}`, "content-type", "application/json"),
			`not a CloudEvent: missing required attribute "id"`, false},
		{"missing id", binaryMode, ceRequest("", "ce-specversion", "1.0", "ce-source", "/s", "ce-type", "t"),
			`not a CloudEvent: missing required attribute "id"`, false},
		{"empty id", binaryMode, ceRequest("", "ce-specversion", "1.0", "ce-id", "", "ce-source", "/s", "ce-type", "t"),
			`not a CloudEvent: missing required attribute "id"`, false},
		{"missing source", binaryMode, ceRequest("", "ce-specversion", "1.0", "ce-id", "1", "ce-type", "t"),
			`not a CloudEvent: missing required attribute "source"`, false},
		{"missing type", binaryMode, ceRequest("", "ce-specversion", "1.0", "ce-id", "1", "ce-source", "/s"),
			`not a CloudEvent: missing required attribute "type"`, false},
		{"missing specversion", binaryMode, ceRequest("", "ce-id", "1", "ce-source", "/s", "ce-type", "t"),
			`not a CloudEvent: missing required attribute "specversion"`, false},
		{"id from x-request-id without one", config.CloudEventOptions{IDFromRequestID: true},
			ceRequest("", "ce-specversion", "1.0", "ce-source", "/s", "ce-type", "t"),
			`not a CloudEvent: missing required attribute "id"`, false},
		{"id from an x-request-id that is not UTF-8", config.CloudEventOptions{IDFromRequestID: true},
			ceRequest("", "ce-specversion", "1.0", "ce-source", "/s", "ce-type", "t", "x-request-id", "\xda"),
			"not a CloudEvent: no id, and x-request-id is not UTF-8, so it cannot stand in", false},
		{"an id given, x-request-id not UTF-8 is not used", config.CloudEventOptions{IDFromRequestID: true},
			ceRequest("", "ce-specversion", "1.0", "ce-id", "1", "ce-type", "t", "x-request-id", "\xda"),
			`not a CloudEvent: missing required attribute "source"`, false},
		{"defaults for id and type, not source", config.CloudEventOptions{IDFromRequestID: true, Type: "t"},
			ceRequest("", "ce-specversion", "1.0", "x-request-id", "r1"),
			`not a CloudEvent: missing required attribute "source"`, false},
		{"structured, missing type", binaryMode, ceRequest(`{"specversion":"1.0","id":"1","source":"/s","type":null}`, "content-type", structured),
			`not a CloudEvent: missing required attribute "type"`, false},
		{"specversion 0.3", binaryMode, ceRequest("", "ce-specversion", "0.3", "ce-id", "1", "ce-source", "/s", "ce-type", "t"),
			`unsupported CloudEvents specversion "0.3" (only 1.0)`, false},
		{"structured specversion 1", binaryMode, ceRequest(`{"specversion":"1","id":"1","source":"/s","type":"t"}`, "content-type", structured),
			`unsupported CloudEvents specversion "1" (only 1.0)`, false},
		{"batch", binaryMode, ceRequest(`[]`, "content-type", "Application/CloudEvents-Batch+JSON; charset=utf-8"),
			"batched CloudEvents (application/cloudevents-batch+json) are not supported; send one event per request", true},
		{"another event format", binaryMode, ceRequest(`<e/>`, "content-type", "application/cloudevents+xml"),
			`CloudEvents event format "application/cloudevents+xml" is not supported; send application/cloudevents+json or binary mode`, true},
		{"structured, truncated JSON", binaryMode, ceRequest(`{"id":`, "content-type", structured),
			"structured CloudEvent is not a JSON object: unexpected end of JSON input", false},
		{"structured, empty body", binaryMode, ceRequest(``, "content-type", structured),
			"structured CloudEvent is not a JSON object: unexpected end of JSON input", false},
		{"structured, trailing data", binaryMode, ceRequest(`{} x`, "content-type", structured),
			"structured CloudEvent is not a JSON object: invalid character 'x' after top-level value", false},
		{"structured, an array", binaryMode, ceRequest(` [{}]`, "content-type", structured),
			"structured CloudEvent is not a JSON object: got an array", false},
		{"structured, a string", binaryMode, ceRequest(`"x"`, "content-type", structured),
			"structured CloudEvent is not a JSON object: got a string", false},
		{"structured, not UTF-8", binaryMode, ceRequest("{\"id\":\"\xff\"}", "content-type", structured),
			"structured CloudEvent is not a JSON object: not UTF-8", false},
		{"structured, data and data_base64", binaryMode, ceRequest(`{`+sRequired+`,"data":1,"data_base64":"AA=="}`, "content-type", structured),
			"structured CloudEvent has both data and data_base64", false},
		{"structured, bad base64", binaryMode, ceRequest(`{`+sRequired+`,"data_base64":"A!=="}`, "content-type", structured),
			"structured CloudEvent's data_base64 is not valid base64: illegal base64 data at input byte 1", false},
		{"structured, data_base64 not a string", binaryMode, ceRequest(`{`+sRequired+`,"data_base64":[1]}`, "content-type", structured),
			"structured CloudEvent's data_base64 must be a string", false},
		{"structured, upper-case attribute name", binaryMode, ceRequest(`{`+sRequired+`,"Foo":"x"}`, "content-type", structured),
			`invalid CloudEvents attribute name "Foo"`, false},
		{"structured, attribute name with a dash", binaryMode, ceRequest(`{`+sRequired+`,"my-ext":"x"}`, "content-type", structured),
			`invalid CloudEvents attribute name "my-ext"`, false},
		{"binary, attribute name with a dash", binaryMode, ceRequest("", ceHeaders("ce-my-ext", "x")...),
			`invalid CloudEvents attribute name "my-ext"`, false},
		{"binary, empty attribute name", binaryMode, ceRequest("", ceHeaders("ce-", "x")...),
			`invalid CloudEvents attribute name ""`, false},
		{"binary, ce-data", binaryMode, ceRequest("", ceHeaders("ce-data", "x")...),
			`invalid CloudEvents attribute name "data" (reserved for the event's data)`, false},
		{"binary, ce-datacontenttype", binaryMode, ceRequest("", ceHeaders("ce-datacontenttype", "text/plain")...),
			`CloudEvents attribute "datacontenttype" goes in the content-type header in binary mode, not in ce-datacontenttype`, false},
		{"binary, repeated attribute", binaryMode, ceRequest("", ceHeaders("ce-id", "e2")...),
			`CloudEvents attribute "id" is given more than once`, false},
		{"structured, repeated attribute", binaryMode, ceRequest(`{`+sRequired+`,"id":"s2"}`, "content-type", structured),
			`CloudEvents attribute "id" is given more than once`, false},
		{"structured, repeated data", binaryMode, ceRequest(`{`+sRequired+`,"data":1,"data":2}`, "content-type", structured),
			`structured CloudEvent has "data" more than once`, false},
		{"binary, percent-decoded value not UTF-8", binaryMode, ceRequest("", ceHeaders("ce-subject", "caf%E9")...),
			`CloudEvents attribute "subject" is not UTF-8`, false},
		{"structured, object attribute", binaryMode, ceRequest(`{`+sRequired+`,"ext":{"a":1}}`, "content-type", structured),
			`CloudEvents attribute "ext" must be a string, number or boolean`, false},
		{"structured, array attribute", binaryMode, ceRequest(`{`+sRequired+`,"ext":[]}`, "content-type", structured),
			`CloudEvents attribute "ext" must be a string, number or boolean`, false},
		{"structured, numeric id", binaryMode, ceRequest(`{"specversion":"1.0","id":5,"source":"/s","type":"t"}`, "content-type", structured),
			`CloudEvents attribute "id" must be a string`, false},
		{"binary, bad time", binaryMode, ceRequest("", ceHeaders("ce-time", "yesterday")...),
			`CloudEvents attribute "time" is not an RFC 3339 timestamp: "yesterday"`, false},
		{"structured, time without a zone", binaryMode, ceRequest(`{`+sRequired+`,"time":"2024-05-01T12:00:00"}`, "content-type", structured),
			`CloudEvents attribute "time" is not an RFC 3339 timestamp: "2024-05-01T12:00:00"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []bool{false, true} {
				opts := tt.opts
				opts.Structured = mode
				e := New(config.Message{Format: config.FormatCloudEvents, CloudEvents: opts}, allHeaders)
				enc, err := e.Encode(tt.req)
				if enc.Value != nil || enc.Headers != nil || enc.Key != nil {
					t.Errorf("structured=%t: something returned with an error: %+v", mode, enc)
				}
				var evErr *EventError
				if !errors.As(err, &evErr) {
					t.Fatalf("structured=%t: error %v (%T), want *EventError", mode, err, err)
				}
				if err.Error() != tt.want {
					t.Errorf("structured=%t: error\n got %q\nwant %q", mode, err.Error(), tt.want)
				}
				if evErr.Unsupported != tt.unsupported {
					t.Errorf("structured=%t: Unsupported %t, want %t", mode, evErr.Unsupported, tt.unsupported)
				}
			}
		})
	}
}
