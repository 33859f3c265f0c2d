//go:build e2e

package envoy_test

// The issue 6 features through the real Envoy: fan-out, the allowlist,
// unknown topics, keys, record headers, the raw and CloudEvents configs
// the /raw and /cloudevents routes select, and CONNECT.

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
)

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestFanOut: ?topics=a,b publishes the record on each topic; the reply
// lists both with their offsets.
func TestFanOut(t *testing.T) {
	ensureTopics(t)
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			prior := before(t)
			path := "/fan?topics=" + ordersTopic + "," + auditTopic
			code, body, ct := do(t, client.c, "POST", path, "application/json", []byte(`{"id":1}`), "X-Tenant", "acme")
			recs := expectSent(t, code, body, ct, prior, target{ordersTopic, -1}, target{auditTopic, -1})
			want := fmt.Sprintf(`{"method":"POST","uri":%q,"uri_args":{"topics":%q},"headers":%s,"body":"{\"id\":1}","body_args":{"id":1}}`,
				path, ordersTopic+","+auditTopic, headersJSON("application/json", 8, `"x-tenant":"acme"`))
			for _, rec := range recs {
				envelopeRecord(t, rec, nil, "acme", want)
			}
			if string(recs[0].Value) != string(recs[1].Value) {
				t.Errorf("the two records differ:\n%s\n%s", recs[0], recs[1])
			}
		})
	}
}

// TestTopicNotAllowed: a topic outside allowed_topics is 403, and nothing
// is published anywhere, not even on the allowed topics of the request.
func TestTopicNotAllowed(t *testing.T) {
	ensureTopics(t)
	const forbidden = `{"message":"Forbidden","error":"one or more target topics are not in the allowed topics list"}`
	for _, client := range clients {
		for _, query := range []string{"topics=" + secretTopic, "topics=" + ordersTopic + "," + secretTopic} {
			t.Run(client.name+"/"+query, func(t *testing.T) {
				prior := before(t)
				code, body, ct := do(t, client.c, "POST", "/fan?"+query, "application/json", []byte(`{}`))
				expectRefused(t, code, body, ct, prior, 403, forbidden)
			})
		}
	}
}

// TestUnknownTopic: an allowed topic that does not exist is 404 at once,
// not after produce_timeout, and the other topics of the request get
// nothing.
func TestUnknownTopic(t *testing.T) {
	ensureTopics(t)
	timeout, _ := time.ParseDuration(produceTimeout)
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			prior := before(t)
			began := time.Now()
			code, body, ct := do(t, client.c, "POST", "/fan?topics="+ordersTopic+","+missingTopic, "application/json", []byte(`{}`))
			took := time.Since(began)
			expectRefused(t, code, body, ct, prior, 404, kafkatest.ErrorBody("Not Found", fmt.Sprintf("topic %q does not exist", missingTopic)))
			if took > timeout/3 {
				t.Errorf("the unknown topic took %s to refuse (produce_timeout %s): want it at once", took, timeout)
			}
		})
	}
}

// TestKeys: ?key=K is the record key, on the partition the Java client's
// murmur2 gives for 3 partitions (kafka-go's Murmur2Balancer, Consistent,
// computes the same).
func TestKeys(t *testing.T) {
	ensureTopics(t)
	all := make([]int, partitions)
	for i := range all {
		all[i] = i
	}
	for _, key := range []string{"k", "order-42", "", "ключ-é"} {
		want := kafka.Murmur2Balancer{Consistent: true}.Balance(kafka.Message{Key: []byte(key)}, all...)
		for _, client := range clients {
			t.Run(fmt.Sprintf("%q/%s", key, client.name), func(t *testing.T) {
				prior := before(t)
				path := "/keyed?key=" + url.QueryEscape(key)
				code, body, ct := do(t, client.c, "POST", path, "text/plain", []byte("v"))
				rec := expectSent(t, code, body, ct, prior, target{topic, want})[0]
				envelopeRecord(t, rec, []byte(key), "",
					fmt.Sprintf(`{"method":"POST","uri":%q,"uri_args":{"key":%q},"headers":%s,"body":"v","body_args":{}}`,
						path, key, headersJSON("text/plain", 1, "")))
			})
		}
	}
}

// TestRecordHeaders: the default config forwards x-request-id (Envoy's,
// the same as in the envelope) and x-tenant as "tenant"; nothing else.
func TestRecordHeaders(t *testing.T) {
	ensureTopics(t)
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			prior := before(t)
			code, body, ct := do(t, client.c, "POST", "/h", "text/plain", []byte("h"),
				"X-Tenant", "acme", "X-Other", "no", "X-Tenant", "beta")
			rec := expectSent(t, code, body, ct, prior, target{topic, -1})[0]
			// A repeated x-tenant is one record header, the values joined
			// with "," (concatenate_by_comma, the default); the envelope
			// has both.
			tenant := "acme,beta"
			xTenant := `"x-tenant":["acme","beta"]`
			envelopeRecord(t, rec, nil, tenant, fmt.Sprintf(`{"method":"POST","uri":"/h","uri_args":{},"headers":%s,"body":"h","body_args":{}}`,
				headersJSON("text/plain", 1, `"x-other":"no",`+xTenant)))
		})
	}
}

// TestRawFormat: /raw/... (config raw, base default) publishes the body
// byte for byte, its content-type the first record header, the default's
// record headers after it and its key argument.
func TestRawFormat(t *testing.T) {
	ensureTopics(t)
	data := make([]byte, 0, 300)
	for i := 255; i >= 0; i-- {
		data = append(data, byte(i))
	}
	data = append(data, "\r\n\x00{}"...)
	all := []int{0, 1, 2}
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			prior := before(t)
			code, body, ct := do(t, client.c, "POST", "/raw/x", "application/octet-stream", data, "X-Tenant", "acme")
			rec := expectSent(t, code, body, ct, prior, target{rawTopic, -1})[0]
			id := recordHeader(rec, "x-request-id")
			if !requestID.MatchString(id) {
				t.Errorf("record header x-request-id %q is not Envoy's UUID", id)
			}
			kafkatest.ExpectRecord(t, rec, kafkatest.Record{Topic: rawTopic, Partition: rec.Partition, Offset: rec.Offset, Value: data,
				Headers: kafkatest.Headers("content-type", "application/octet-stream", "tenant", "acme", "x-request-id", id)})
		})
		t.Run(client.name+"/key and text", func(t *testing.T) {
			prior := before(t)
			p := kafka.Murmur2Balancer{Consistent: true}.Balance(kafka.Message{Key: []byte("blob-1")}, all...)
			// ?topics= is off for /raw (topics_query_arg ""): it is just an argument.
			code, body, ct := do(t, client.c, "PUT", "/raw/log?key=blob-1&topics="+ordersTopic, "text/plain; charset=utf-8", []byte("hello, raw\n"))
			rec := expectSent(t, code, body, ct, prior, target{rawTopic, p})[0]
			id := recordHeader(rec, "x-request-id")
			kafkatest.ExpectRecord(t, rec, kafkatest.Record{Topic: rawTopic, Partition: p, Offset: rec.Offset, Key: []byte("blob-1"), Value: []byte("hello, raw\n"),
				Headers: kafkatest.Headers("content-type", "text/plain; charset=utf-8", "x-request-id", id)})
		})
	}
}

func recordHeader(r kafkatest.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestCloudEvents: /cloudevents/... (config cloudevents, binary mode)
// turns a binary-mode CloudEvents request into a binary-mode record: ce_*
// headers, content-type, the data as the value. A request that is no
// CloudEvent is 400 and publishes nothing.
func TestCloudEvents(t *testing.T) {
	ensureTopics(t)
	data := []byte(`{"id": 42, "note": "<&>"}`)
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			prior := before(t)
			code, body, ct := do(t, client.c, "POST", "/cloudevents/orders", "application/json", data,
				"Ce-Specversion", "1.0", "Ce-Id", "order-42-created", "Ce-Source", "/shop",
				"Ce-Type", "com.example.order.created", "Ce-Time", "2026-11-30T10:00:00Z", "Ce-Subject", "caf%C3%A9",
				"X-Tenant", "acme")
			rec := expectSent(t, code, body, ct, prior, target{ceTopic, -1})[0]
			id := recordHeader(rec, "x-request-id")
			if !requestID.MatchString(id) {
				t.Errorf("record header x-request-id %q is not Envoy's UUID", id)
			}
			kafkatest.ExpectRecord(t, rec, kafkatest.Record{Topic: ceTopic, Partition: rec.Partition, Offset: rec.Offset, Value: data,
				Headers: kafkatest.Headers("ce_specversion", "1.0", "ce_id", "order-42-created", "ce_source", "/shop",
					"ce_type", "com.example.order.created", "ce_subject", "café", "ce_time", "2026-11-30T10:00:00Z",
					"content-type", "application/json", "tenant", "acme", "x-request-id", id)})
		})
		t.Run(client.name+"/not a CloudEvent", func(t *testing.T) {
			prior := before(t)
			code, body, ct := do(t, client.c, "POST", "/cloudevents/orders", "application/json", data)
			expectRefused(t, code, body, ct, prior, 400,
				`{"message":"Bad Request","error":"not a CloudEvent: missing required attribute \"id\""}`)
		})
	}
}

// TestConnect: a CONNECT request is answered 405 from its headers, with
// an allow header and the JSON body, within a few seconds (its body, a
// tunnel, never ends: waiting for it would hang).
func TestConnect(t *testing.T) {
	t.Run("http1", connectHTTP1)
	t.Run("h2c", connectH2C)
}

const connectRefused = `{"message":"Method Not Allowed","error":"CONNECT is not supported: kafka-upstream publishes requests, it opens no tunnels"}`

// connectH2C sends an HTTP/2 CONNECT (:method and :authority only; curl's
// adds :path and :scheme, which Envoy resets before any filter), its body
// a pipe that stays open.
func connectH2C(t *testing.T) {
	ensureTopics(t)
	prior := before(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "CONNECT", stack.url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "example.com:443"
	req.Header.Set("User-Agent", "e2e")
	began := time.Now()
	resp, err := h2c.Do(req)
	if err != nil {
		t.Fatalf("no reply to CONNECT within %s: %v", time.Since(began).Round(time.Millisecond), err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the CONNECT reply's body: %v (after %s)", err, time.Since(began).Round(time.Millisecond))
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("CONNECT answered after %s", took)
	}
	if resp.ProtoMajor != 2 || resp.StatusCode != 405 || string(body) != connectRefused {
		t.Errorf("reply %s %d %q\nwant  HTTP/2.0 405 %s", resp.Proto, resp.StatusCode, body, connectRefused)
	}
	if got := resp.Header.Get("Allow"); got != "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" {
		t.Errorf("allow header %q", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("content-type %q", got)
	}
	kafkatest.ExpectNothingWritten(t, stack.bootstrap, prior)
}

func connectHTTP1(t *testing.T) {
	ensureTopics(t)
	prior := before(t)
	conn, err := net.DialTimeout("tcp", host(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	began := time.Now()
	conn.SetDeadline(began.Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: e2e\r\n\r\n", host(), host()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "CONNECT"})
	if err != nil {
		t.Fatalf("no reply to CONNECT within %s: %v", time.Since(began).Round(time.Millisecond), err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the CONNECT reply's body: %v (after %s)", err, time.Since(began).Round(time.Millisecond))
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("CONNECT answered after %s", took)
	}
	if resp.Proto != "HTTP/1.1" || resp.StatusCode != 405 || string(body) != connectRefused {
		t.Errorf("reply %s %d %q\nwant  HTTP/1.1 405 %s", resp.Proto, resp.StatusCode, body, connectRefused)
	}
	if got := resp.Header.Get("Allow"); got != "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" {
		t.Errorf("allow header %q", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("content-type %q", got)
	}
	kafkatest.ExpectNothingWritten(t, stack.bootstrap, prior)
}

// TestPerRouteInheritance: a per-route config without bootstrap_servers
// (/raw's) is laid over the default config field by field: what it sets
// wins (topic, format, topics_query_arg "" turning ?topics= off), what it
// leaves out comes from the default (the cluster, key_query_arg, the
// record headers and their renaming). A complete one (/audit's) inherits
// nothing: no key argument, no record headers, its own forward_* flags.
// For ext_proc, raw is a named config with base: default; for the module,
// a per-route config in the route.
func TestPerRouteInheritance(t *testing.T) {
	ensureTopics(t)
	all := []int{0, 1, 2}
	p := kafka.Murmur2Balancer{Consistent: true}.Balance(kafka.Message{Key: []byte("inherited")}, all...)
	for _, client := range clients {
		t.Run(client.name+"/inheriting", func(t *testing.T) {
			prior := before(t)
			code, body, ct := do(t, client.c, "POST", "/raw/inherit?key=inherited&topics="+ordersTopic, "text/plain", []byte("laid over"),
				"X-Tenant", "acme", "X-Other", "not forwarded")
			// Its own: topic, format (the body as it came), no fan-out
			// to ?topics=. Inherited: the key from ?key= (on murmur2's
			// partition), tenant from x-tenant, x-request-id, and
			// nothing else.
			rec := expectSent(t, code, body, ct, prior, target{rawTopic, p})[0]
			id := recordHeader(rec, "x-request-id")
			if !requestID.MatchString(id) {
				t.Errorf("record header x-request-id %q is not Envoy's UUID", id)
			}
			kafkatest.ExpectRecord(t, rec, kafkatest.Record{Topic: rawTopic, Partition: p, Offset: rec.Offset, Key: []byte("inherited"), Value: []byte("laid over"),
				Headers: kafkatest.Headers("content-type", "text/plain", "tenant", "acme", "x-request-id", id)})
		})
		t.Run(client.name+"/complete", func(t *testing.T) {
			prior := before(t)
			code, body, ct := do(t, client.c, "POST", "/audit/inherit?key=inherited", "text/plain", []byte("own"), "X-Tenant", "acme")
			rec := expectSent(t, code, body, ct, prior, target{auditTopic, -1})[0]
			kafkatest.ExpectRecord(t, rec, kafkatest.Record{Topic: auditTopic, Partition: rec.Partition, Offset: rec.Offset, Value: []byte(`{"method":"POST"}`)})
		})
	}
}
