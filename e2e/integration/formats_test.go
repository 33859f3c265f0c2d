//go:build integration

package integration_test

// What records carry, read back from the real broker: record headers,
// every format, a large JSON body; and route configs that inherit the
// listener's, CONNECT.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
)

// TestRecordHeaders: request headers forwarded as native record headers,
// by Kong's headers.* rules: allowlist (names case-insensitive, renamed by
// name_mappings) under each repeated-header policy, and blocklist. Each
// name comes once, at its first appearance; pseudo-headers never.
func TestRecordHeaders(t *testing.T) {
	t.Parallel()
	bootstrap := kafkatest.Bootstrap(t)
	request := []string{
		":method", "POST", ":path", "/h?a=1", ":authority", authority, ":scheme", "http",
		"x-multi", "1", "x-tenant", "acme", "x-request-id", "rid-7", "x-other", "o",
		"x-multi", "2", "content-type", "application/json", "content-length", "2",
		"user-agent", "it/1", "x-multi", "3",
	}
	allow := func(extra map[string]any) map[string]any {
		h := map[string]any{
			"forward_http_headers_as_record_headers": true,
			"include_headers":                        []any{"X-Request-Id", "x-tenant", "X-MULTI", "content-type"},
			"name_mappings":                          map[string]any{"X-Tenant": "tenant"},
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	for _, tc := range []struct {
		name    string
		headers map[string]any
		want    []string
	}{
		{"allowlist default concatenates", allow(nil),
			[]string{"x-multi", "1,2,3", "tenant", "acme", "x-request-id", "rid-7", "content-type", "application/json"}},
		{"allowlist concatenate_by_comma", allow(map[string]any{"repeated_headers_behavior": "concatenate_by_comma"}),
			[]string{"x-multi", "1,2,3", "tenant", "acme", "x-request-id", "rid-7", "content-type", "application/json"}},
		{"allowlist take_first", allow(map[string]any{"repeated_headers_behavior": "take_first"}),
			[]string{"x-multi", "1", "tenant", "acme", "x-request-id", "rid-7", "content-type", "application/json"}},
		{"allowlist retain_duplicates", allow(map[string]any{"repeated_headers_behavior": "retain_duplicates"}),
			[]string{"x-multi", "1", "x-multi", "2", "x-multi", "3", "tenant", "acme", "x-request-id", "rid-7", "content-type", "application/json"}},
		{"blocklist", map[string]any{
			"forward_http_headers_as_record_headers": true, "forward_all_by_default": true,
			"exclude_headers": []any{"X-Other", "content-length"},
			"name_mappings":   map[string]any{"x-tenant": "tenant", "user-agent": "agent"},
		}, []string{"x-multi", "1,2,3", "tenant", "acme", "x-request-id", "rid-7", "content-type", "application/json", "agent", "it/1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := newTopic(t, bootstrap)
			cfg, _ := parse(t, kafkaConfig(bootstrap, topic, map[string]any{"forward_method": true, "forward_body": false, "headers": tc.headers}))
			before := kafkatest.Snapshot(t, bootstrap, map[string]int{topic: 1})
			reply := roundTrip(t, cfg, request, []byte(`{}`))
			expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(topic, 0, before[topic][0])), sentDetails)
			kafkatest.ExpectRecord(t, kafkatest.FetchOne(t, bootstrap, topic, 0, before[topic][0]), kafkatest.Record{
				Topic: topic, Offset: before[topic][0], Value: []byte(`{"method":"POST"}`), Headers: kafkatest.Headers(tc.want...),
			})
			kafkatest.ExpectGrowth(t, bootstrap, before, map[string]int{topic + "/0": 1})
		})
	}
}

// binaryBody is every byte value, invalid UTF-8 included.
func binaryBody() []byte {
	b := make([]byte, 0, 256)
	for i := 255; i >= 0; i-- {
		b = append(b, byte(i))
	}
	return append(b, 0, 0, '\r', '\n')
}

// TestFormats publishes through each format and reads each record back
// whole: kong's envelope, raw bytes, CloudEvents in every combination of
// HTTP and Kafka binding modes.
func TestFormats(t *testing.T) {
	t.Parallel()
	bootstrap := kafkatest.Bootstrap(t)
	base := []string{":authority", authority, ":scheme", "http", "user-agent", "it/1"}
	req := func(method, path string, kv ...string) []string {
		return append(append([]string{":method", method, ":path", path}, base...), kv...)
	}
	ceHeaders := []string{
		"ce-specversion", "1.0", "ce-type", "com.example.order.created", "ce-source", "/orders",
		"ce-id", "evt-1", "ce-time", "2026-11-30T10:00:00Z", "ce-subject", "caf%C3%A9 42",
		"ce-myext", "v", "content-type", "application/json", "x-tenant", "acme",
	}
	for _, tc := range []struct {
		name     string
		fields   map[string]any
		request  []string
		body     []byte
		key      []byte
		value    []byte
		recordHs []string
	}{
		{"kong", map[string]any{"format": "kong", "forward_method": true, "forward_uri": true, "forward_headers": true, "forward_body": true},
			req("POST", "/k?x=1", "content-type", "application/json"), []byte(`{"a": [1, 2]}`), nil,
			[]byte(`{"method":"POST","uri":"/k?x=1","uri_args":{"x":"1"},"headers":{"content-length":"13","content-type":"application/json","host":"example.com","user-agent":"it/1"},"body":"{\"a\": [1, 2]}","body_args":{"a":[1,2]}}`),
			nil},
		{"raw binary", map[string]any{"format": "raw", "headers": map[string]any{
			"forward_http_headers_as_record_headers": true, "include_headers": []any{"x-tenant", "content-type"}}},
			req("POST", "/r", "content-type", "application/octet-stream", "x-tenant", "acme"), binaryBody(), nil,
			binaryBody(), []string{"content-type", "application/octet-stream", "x-tenant", "acme"}},
		{"raw text with parameters", map[string]any{"format": "raw"},
			req("PUT", "/r", "content-type", "Text/Plain; charset=UTF-8"), []byte("héllo\r\n\t{not json"), nil,
			[]byte("héllo\r\n\t{not json"), []string{"content-type", "Text/Plain; charset=UTF-8"}},
		{"raw bodyless, no content-type", map[string]any{"format": "raw"},
			req("GET", "/r?x=1"), nil, nil, []byte{}, nil},
		{"cloudevents binary to binary", map[string]any{"format": "cloudevents", "headers": map[string]any{
			"forward_http_headers_as_record_headers": true, "include_headers": []any{"x-tenant", "ce-id", "content-type"}}},
			req("POST", "/ce", ceHeaders...), []byte(`{"order": 42, "note": "<&>"}`), nil,
			[]byte(`{"order": 42, "note": "<&>"}`),
			[]string{"ce_specversion", "1.0", "ce_id", "evt-1", "ce_source", "/orders", "ce_type", "com.example.order.created",
				"ce_myext", "v", "ce_subject", "café 42", "ce_time", "2026-11-30T10:00:00Z",
				"content-type", "application/json", "x-tenant", "acme"}},
		{"cloudevents partitionkey is the key", map[string]any{"format": "cloudevents"},
			req("POST", "/ce", "ce-specversion", "1.0", "ce-id", "evt-2", "ce-source", "/s", "ce-type", "t", "ce-partitionkey", "pk-9",
				"content-type", "text/plain"), []byte("data"), []byte("pk-9"),
			[]byte("data"),
			[]string{"ce_specversion", "1.0", "ce_id", "evt-2", "ce_source", "/s", "ce_type", "t", "ce_partitionkey", "pk-9", "content-type", "text/plain"}},
		{"cloudevents route key over partitionkey", map[string]any{"format": "cloudevents", "key_query_arg": "key"},
			req("POST", "/ce?key=route-key", "ce-specversion", "1.0", "ce-id", "evt-6", "ce-source", "/s", "ce-type", "t", "ce-partitionkey", "pk-9"),
			nil, []byte("route-key"),
			[]byte{},
			[]string{"ce_specversion", "1.0", "ce_id", "evt-6", "ce_source", "/s", "ce_type", "t", "ce_partitionkey", "pk-9"}},
		{"cloudevents structured to binary", map[string]any{"format": "cloudevents", "cloudevents": map[string]any{"mode": "binary"}},
			req("POST", "/ce", "content-type", "application/cloudevents+json; charset=utf-8"),
			[]byte(`{"specversion": "1.0", "type": "t.x", "source": "urn:s", "id": "evt-3", "datacontenttype": "application/json",
			  "ext1": 5, "flag": true, "data": {"a": [1, 2], "b": "é"}}`), nil,
			[]byte(`{"a":[1,2],"b":"é"}`),
			[]string{"ce_specversion", "1.0", "ce_id", "evt-3", "ce_source", "urn:s", "ce_type", "t.x",
				"ce_ext1", "5", "ce_flag", "true", "content-type", "application/json"}},
		{"cloudevents structured data_base64 to binary", map[string]any{"format": "cloudevents"},
			req("POST", "/ce", "content-type", "application/cloudevents+json"),
			[]byte(`{"specversion":"1.0","type":"t","source":"s","id":"evt-4","datacontenttype":"application/octet-stream","data_base64":"AAH/"}`), nil,
			[]byte{0, 1, 0xff},
			[]string{"ce_specversion", "1.0", "ce_id", "evt-4", "ce_source", "s", "ce_type", "t", "content-type", "application/octet-stream"}},
		{"cloudevents binary to structured", map[string]any{"format": "cloudevents", "cloudevents": map[string]any{"mode": "structured"}},
			req("POST", "/ce", ceHeaders...), []byte(`{"order": 42, "note": "<&>"}`), nil,
			[]byte(`{"specversion":"1.0","id":"evt-1","source":"/orders","type":"com.example.order.created",` +
				`"datacontenttype":"application/json","myext":"v","subject":"café 42","time":"2026-11-30T10:00:00Z",` +
				`"data":{"order":42,"note":"<&>"}}`),
			[]string{"content-type", "application/cloudevents+json; charset=UTF-8"}},
		{"cloudevents binary text to structured", map[string]any{"format": "cloudevents", "cloudevents": map[string]any{"mode": "structured"}},
			req("POST", "/ce", "ce-specversion", "1.0", "ce-id", "evt-5", "ce-source", "/s", "ce-type", "t", "content-type", "text/plain"),
			[]byte("line \"1\"\n"), nil,
			[]byte(`{"specversion":"1.0","id":"evt-5","source":"/s","type":"t","datacontenttype":"text/plain","data":"line \"1\"\n"}`),
			[]string{"content-type", "application/cloudevents+json; charset=UTF-8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := newTopic(t, bootstrap)
			cfg, logs := parse(t, kafkaConfig(bootstrap, topic, tc.fields))
			before := kafkatest.Snapshot(t, bootstrap, map[string]int{topic: 1})
			hs := tc.request
			if tc.body != nil {
				hs = append(append([]string(nil), hs...), "content-length", fmt.Sprint(len(tc.body)))
			}
			reply := roundTrip(t, cfg, hs, tc.body)
			expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(topic, 0, before[topic][0])), sentDetails)
			kafkatest.ExpectRecord(t, kafkatest.FetchOne(t, bootstrap, topic, 0, before[topic][0]), kafkatest.Record{
				Topic: topic, Offset: before[topic][0], Key: tc.key, Value: tc.value, Headers: kafkatest.Headers(tc.recordHs...),
			})
			kafkatest.ExpectGrowth(t, bootstrap, before, map[string]int{topic + "/0": 1})
			if l := logs.Lines(); len(l) != 0 {
				t.Errorf("pipeline log = %q, want nothing", l)
			}
		})
	}

	t.Run("not a CloudEvent", func(t *testing.T) {
		topic := newTopic(t, bootstrap)
		cfg, _ := parse(t, kafkaConfig(bootstrap, topic, map[string]any{"format": "cloudevents"}))
		for _, tc := range []struct {
			name    string
			request []string
			body    string
			status  int
			err     string
			details string
		}{
			{"missing id", req("POST", "/ce", "ce-specversion", "1.0", "ce-source", "/s", "ce-type", "t", "content-type", "application/json"),
				`{}`, 400, `not a CloudEvent: missing required attribute "id"`, "kafka_upstream_bad_event"},
			{"plain JSON", req("POST", "/ce", "content-type", "application/json"),
				`{"id":"x"}`, 400, `not a CloudEvent: missing required attribute "id"`, "kafka_upstream_bad_event"},
			{"batch", req("POST", "/ce", "content-type", "application/cloudevents-batch+json"),
				`[]`, 415, "batched CloudEvents (application/cloudevents-batch+json) are not supported; send one event per request", "kafka_upstream_unsupported_event"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := kafkatest.Snapshot(t, bootstrap, map[string]int{topic: 1})
				reply := roundTrip(t, cfg, tc.request, []byte(tc.body))
				expectReply(t, reply, tc.status, kafkatest.ErrorBody(statusText(tc.status), tc.err), tc.details)
				kafkatest.ExpectNothingWritten(t, bootstrap, before)
			})
		}
	})
}

func compactJSON(t *testing.T, body []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func statusText(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 415:
		return "Unsupported Media Type"
	}
	return fmt.Sprint(status)
}

// TestLargeJSONBody: a 512 KiB JSON body under the kong format with every
// forward flag makes a record of over 1 MiB (the body once as text, once
// as body_args). With batching.bytes 4 MiB and a topic allowing 5 MiB it
// is published intact; with the default batching.bytes (1 MiB) it is 413
// before anything is written.
func TestLargeJSONBody(t *testing.T) {
	t.Parallel()
	bootstrap := kafkatest.Bootstrap(t)
	topic := newTopicN(t, "big", 1, "max.message.bytes=5242880")
	body := kafkatest.BigJSON(512 << 10)
	if len(body) != 512<<10 {
		t.Fatalf("BigJSON made %d bytes", len(body))
	}
	path := "/big?n=1"
	hs := []string{":method", "POST", ":path", path, ":authority", authority, ":scheme", "http",
		"content-type", "application/json", "content-length", fmt.Sprint(len(body))}
	all := forward{method: true, uri: true, headers: true, body: true}
	r := request{headers: hs, body: body, bodyArgs: compactJSON(t, body)}
	want := expectedEnvelope(all, r)
	if len(want) <= 1<<20 {
		t.Fatalf("the envelope is %d bytes, not over 1 MiB: the test proves nothing", len(want))
	}

	t.Run("batching.bytes 4 MiB", func(t *testing.T) {
		fields := all.fields()
		fields["batching"] = map[string]any{"bytes": 4194304}
		cfg, logs := parse(t, kafkaConfig(bootstrap, topic, fields))
		before := kafkatest.Snapshot(t, bootstrap, map[string]int{topic: 1})
		reply := roundTrip(t, cfg, hs, body)
		expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(topic, 0, before[topic][0])), sentDetails)
		kafkatest.ExpectRecord(t, kafkatest.FetchOne(t, bootstrap, topic, 0, before[topic][0]), kafkatest.Record{
			Topic: topic, Offset: before[topic][0], Value: []byte(want),
		})
		kafkatest.ExpectGrowth(t, bootstrap, before, map[string]int{topic + "/0": 1})
		if l := logs.Lines(); len(l) != 0 {
			t.Errorf("pipeline log = %q, want nothing", l)
		}
	})

	t.Run("default batching.bytes", func(t *testing.T) {
		cfg, _ := parse(t, kafkaConfig(bootstrap, topic, all.fields()))
		before := kafkatest.Snapshot(t, bootstrap, map[string]int{topic: 1})
		reply := roundTrip(t, cfg, hs, body)
		// kafka-go's count: 22 bytes of framing + the value + 1 for the
		// (empty) header count.
		size := len(want) + 23
		expectReply(t, reply, 413, kafkatest.ErrorBody("Request Entity Too Large",
			fmt.Sprintf("the Kafka record is %d bytes, more than the 1048576 allowed (batching.bytes)", size)),
			"kafka_upstream_record_too_large")
		kafkatest.ExpectNothingWritten(t, bootstrap, before)
	})
}

// TestRouteConfigInherits: a route config with only topic and format
// (parsed with nil callbacks, as Envoy parses per-route configs) is laid
// over the listener's config by Merge: the listener's producer, its key
// and record header settings, its own topic and format. Closing the
// listener's config closes the producer the route shares.
func TestRouteConfigInherits(t *testing.T) {
	t.Parallel()
	bootstrap := kafkatest.Bootstrap(t)
	listenerTopic, routeTopic := newTopicN(t, "listener", 1), newTopicN(t, "route", 1)
	filtertest.InstallLogger()
	_, log := logtest.New()
	parser := &filter.Parser{NewLogger: func() *slog.Logger { return log }}

	listenerFields := kafkaConfig(bootstrap, listenerTopic, map[string]any{
		"forward_method": true, "forward_uri": true, "forward_body": false, "key_query_arg": "key",
		"headers": map[string]any{"forward_http_headers_as_record_headers": true, "include_headers": []any{"x-tenant"}},
	})
	parentCfg, err := parser.Parse(kfaketest.TypedStruct(t, configTypeURL, listenerFields), &filtertest.ConfigCallbacks{})
	if err != nil {
		t.Fatalf("Parse(listener config): %v", err)
	}
	parent := parentCfg.(api.Config)
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			parent.Destroy()
		}
	})
	childCfg, err := parser.Parse(kfaketest.TypedStruct(t, configTypeURL, map[string]any{"topic": routeTopic, "format": "raw"}), nil)
	if err != nil {
		t.Fatalf("Parse(route config): %v", err)
	}
	t.Cleanup(childCfg.(api.Config).Destroy)
	merged := parser.Merge(parentCfg, childCfg)
	t.Cleanup(func() {
		if c, ok := merged.(api.Config); ok {
			c.Destroy()
		}
	})
	sizes := map[string]int{listenerTopic: 1, routeTopic: 1}
	hs := []string{":method", "POST", ":path", "/route?key=k-1", ":authority", authority, ":scheme", "http",
		"content-type", "text/plain", "x-tenant", "acme"}

	t.Run("route", func(t *testing.T) {
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		reply := roundTrip(t, merged, hs, []byte("raw body"))
		expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(routeTopic, 0, before[routeTopic][0])), sentDetails)
		kafkatest.ExpectRecord(t, kafkatest.FetchOne(t, bootstrap, routeTopic, 0, before[routeTopic][0]), kafkatest.Record{
			Topic: routeTopic, Offset: before[routeTopic][0], Key: []byte("k-1"), Value: []byte("raw body"),
			Headers: kafkatest.Headers("content-type", "text/plain", "x-tenant", "acme"),
		})
		kafkatest.ExpectGrowth(t, bootstrap, before, map[string]int{routeTopic + "/0": 1})
	})

	t.Run("listener", func(t *testing.T) {
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		reply := roundTrip(t, parentCfg, hs, []byte("raw body"))
		expectReply(t, reply, 200, kafkatest.SentReply(kafkatest.At(listenerTopic, 0, before[listenerTopic][0])), sentDetails)
		kafkatest.ExpectRecord(t, kafkatest.FetchOne(t, bootstrap, listenerTopic, 0, before[listenerTopic][0]), kafkatest.Record{
			Topic: listenerTopic, Offset: before[listenerTopic][0], Key: []byte("k-1"),
			Value:   []byte(`{"method":"POST","uri":"/route?key=k-1","uri_args":{"key":"k-1"}}`),
			Headers: kafkatest.Headers("x-tenant", "acme"),
		})
		kafkatest.ExpectGrowth(t, bootstrap, before, map[string]int{listenerTopic + "/0": 1})
	})

	t.Run("no parent", func(t *testing.T) {
		orphan := parser.Merge(nil, childCfg)
		s := newStream(orphan)
		if got := s.f.DecodeHeaders(filtertest.NewHeaders(hs...), false); got != api.LocalReply {
			t.Fatalf("DecodeHeaders = %d, want LocalReply (%d)", got, api.LocalReply)
		}
		reply := s.cb.WaitReply(t, time.Second)
		expectReply(t, reply, 500, kafkatest.ErrorBody("Internal Server Error",
			"the route's kafka-upstream config has no bootstrap_servers, and the config above it, to inherit them from, is missing or invalid"),
			"kafka_upstream_misconfigured")
		filtertest.DestroyStream(s.f, s.cb, api.Normal)
	})

	t.Run("the producer is the listener's", func(t *testing.T) {
		// Destroying the merged view and the route config leaves the
		// producer open; destroying the listener's config closes it for
		// the route too.
		parser.Merge(parentCfg, childCfg).(api.Config).Destroy()
		before := kafkatest.Snapshot(t, bootstrap, sizes)
		expectReply(t, roundTrip(t, merged, hs, []byte("x")), 200, kafkatest.SentReply(kafkatest.At(routeTopic, 0, before[routeTopic][0])), sentDetails)

		parent.Destroy()
		destroyed = true
		closed := kafkatest.ErrorBody("Service Unavailable", "the Kafka producer of this configuration is closed (config update or shutdown); retry")
		deadline := time.Now().Add(10 * time.Second)
		var reply filtertest.LocalReply
		for {
			reply = roundTrip(t, merged, hs, []byte("x"))
			if reply.Status != 200 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		expectReply(t, reply, 503, closed, "kafka_upstream_closed")
	})
}

// TestConnectIsRefused: a CONNECT request (a tunnel, whose body never
// ends) is answered 405 from its headers, synchronously, with an allow
// header; nothing is published.
func TestConnectIsRefused(t *testing.T) {
	t.Parallel()
	bootstrap := kafkatest.Bootstrap(t)
	topic := newTopic(t, bootstrap)
	cfg, _ := parse(t, kafkaConfig(bootstrap, topic, nil))
	before := kafkatest.Snapshot(t, bootstrap, map[string]int{topic: 1})
	for _, endStream := range []bool{false, true} {
		t.Run(fmt.Sprintf("endStream=%v", endStream), func(t *testing.T) {
			s := newStream(cfg)
			got := s.f.DecodeHeaders(filtertest.NewHeaders(":method", "CONNECT", ":authority", "example.com:443"), endStream)
			if got != api.LocalReply {
				t.Errorf("DecodeHeaders = %d, want LocalReply (%d)", got, api.LocalReply)
			}
			// Synchronous: the reply is there when DecodeHeaders returns.
			calls := s.cb.Calls()
			if len(calls) != 1 || calls[0].Reply == nil {
				t.Fatalf("terminal calls when DecodeHeaders returned: %v, want one local reply", calls)
			}
			reply := *calls[0].Reply
			expectReply(t, reply, 405,
				`{"message":"Method Not Allowed","error":"CONNECT is not supported: kafka-upstream publishes requests, it opens no tunnels"}`,
				"kafka_upstream_method_not_allowed")
			wantHs := map[string][]string{"content-type": {"application/json"}, "allow": {"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"}}
			if fmt.Sprint(reply.Headers) != fmt.Sprint(wantHs) {
				t.Errorf("reply headers = %v, want %v", reply.Headers, wantHs)
			}
			s.cb.RequireOneTerminal(t)
			filtertest.DestroyStream(s.f, s.cb, api.Normal)
		})
	}
	kafkatest.ExpectNothingWritten(t, bootstrap, before)
}
