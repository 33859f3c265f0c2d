package encoder

// Benchmarks of the per-request encoding (issue 9): every message format
// against 1 KiB and 64 KiB bodies of each body type. They run only with
// -bench:
//
//	go test -run '^$' -bench . -benchmem ./encoder/
//
// Names read BenchmarkEncode/<format>/<body>/<size>; SetBytes is the
// request body's length, so MB/s is body throughput.

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// benchFormats are the encoder configurations measured: Kong's envelope
// with every forward_* flag (the `make run` default route) and with the
// default flags (forward_body only), raw, and CloudEvents written as a
// binary-mode and as a structured-mode record. No record headers are
// forwarded and the trace context is propagated (benchHeaders), the
// defaults; the bench request has no trace header.
var benchFormats = []struct {
	name string
	msg  config.Message
}{
	{"kong-all", config.Message{Format: config.FormatKong, Forward: config.Forward{Method: true, URI: true, Headers: true, Body: true}}},
	{"kong-default", config.Message{Format: config.FormatKong, Forward: config.Forward{Body: true}}},
	{"raw", config.Message{Format: config.FormatRaw}},
	{"cloudevents-binary", config.Message{Format: config.FormatCloudEvents}},
	{"cloudevents-structured", config.Message{Format: config.FormatCloudEvents, CloudEvents: config.CloudEventOptions{Structured: true}}},
}

// benchHeaders is the default headers config: nothing forwarded,
// propagate_trace_context on.
var benchHeaders = config.Headers{TraceContext: true}

var benchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

// benchBodies are the body types: a content type and a body of about n
// bytes (never less, at most one element more).
var benchBodies = []struct {
	name        string
	contentType string
	body        func(n int) []byte
}{
	{"json", "application/json", benchJSON},
	{"form", "application/x-www-form-urlencoded", benchForm},
	{"multipart", "multipart/form-data; boundary=" + benchBoundary, benchMultipart},
	{"binary", "application/octet-stream", benchBinary},
}

// benchJSON is an order-like JSON object: nested objects, numbers,
// strings with escapes, arrays.
func benchJSON(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"id":42,"customer":{"name":"Ada \"the\" Countess","email":"ada@example.com"},"items":[`)
	for i := 0; b.Len() < n-2; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%06d","qty":%d,"price":%d.%02d,"note":"fragile <glass> & co"}`, i, i%7+1, i*3%1000, i%100)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// benchForm is a urlencoded form with %-escapes and '+' spaces.
func benchForm(n int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte('&')
		}
		fmt.Fprintf(&b, "field%d=value+number+%d%%21&tag=t%d", i, i, i%5)
	}
	return []byte(b.String())
}

const benchBoundary = "----bench7MA4YWxkTrZu0gW"

// benchMultipart is a multipart/form-data body of text fields.
func benchMultipart(n int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"field%d\"\r\n\r\nvalue number %d, some text to fill the part\r\n", benchBoundary, i, i)
	}
	fmt.Fprintf(&b, "--%s--\r\n", benchBoundary)
	return []byte(b.String())
}

// benchBinary is n pseudo-random bytes (not UTF-8), the same every run.
func benchBinary(n int) []byte {
	r := rand.New(rand.NewPCG(9, 9))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// benchRequest is a request as an adapter hands it over: pseudo-headers,
// a browser-like set of headers, and for CloudEvents the binary-mode ce-*
// attributes.
func benchRequest(contentType string, body []byte, cloudEvent bool) *message.Request {
	hs := []message.Header{
		{Name: ":method", Value: "POST"},
		{Name: ":path", Value: "/orders?key=order-42&source=web&tag=a&tag=b"},
		{Name: ":authority", Value: "ingest.example.com"},
		{Name: ":scheme", Value: "https"},
		{Name: "content-type", Value: contentType},
		{Name: "content-length", Value: fmt.Sprint(len(body))},
		{Name: "user-agent", Value: "bench/1.0"},
		{Name: "accept", Value: "application/json"},
		{Name: "x-request-id", Value: "5c1f2a9e-8d1b-4c7e-9a3f-0b6d2e4f8a11"},
		{Name: "x-tenant", Value: "acme"},
	}
	if cloudEvent {
		hs = append(hs,
			message.Header{Name: "ce-specversion", Value: "1.0"},
			message.Header{Name: "ce-id", Value: "order-42-created"},
			message.Header{Name: "ce-source", Value: "/shop/orders"},
			message.Header{Name: "ce-type", Value: "com.example.order.created"},
			message.Header{Name: "ce-time", Value: "2026-12-01T10:00:00Z"},
		)
	}
	return &message.Request{Headers: hs, Body: body}
}

func BenchmarkEncode(b *testing.B) {
	for _, f := range benchFormats {
		b.Run(f.name, func(b *testing.B) {
			e := New(f.msg, benchHeaders)
			for _, body := range benchBodies {
				b.Run(body.name, func(b *testing.B) {
					for _, size := range benchSizes {
						b.Run(size.name, func(b *testing.B) {
							r := benchRequest(body.contentType, body.body(size.n), f.msg.Format == config.FormatCloudEvents)
							if _, err := e.Encode(r); err != nil {
								b.Fatalf("Encode: %v", err)
							}
							b.SetBytes(int64(len(r.Body)))
							b.ReportAllocs()
							for b.Loop() {
								if _, err := e.Encode(r); err != nil {
									b.Fatal(err)
								}
							}
						})
					}
				})
			}
		})
	}
}

// BenchmarkEncodeStructuredInput is the other CloudEvents HTTP mode: a
// structured (application/cloudevents+json) request, 1 KiB JSON data,
// written as each record mode.
func BenchmarkEncodeStructuredInput(b *testing.B) {
	data := benchJSON(1 << 10)
	body := []byte(`{"specversion":"1.0","id":"order-42-created","source":"/shop/orders","type":"com.example.order.created",` +
		`"time":"2026-12-01T10:00:00Z","datacontenttype":"application/json","data":` + string(data) + `}`)
	for _, f := range benchFormats[3:] {
		b.Run(f.name, func(b *testing.B) {
			e := New(f.msg, benchHeaders)
			r := benchRequest("application/cloudevents+json", body, false)
			if _, err := e.Encode(r); err != nil {
				b.Fatalf("Encode: %v", err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Encode(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTraceContext is the cost of propagate_trace_context on the
// request path (issue 11), raw format (the cheapest, so the difference
// shows) with the bench request's ten headers: "none" carries no trace
// header (the common case: no allocation may be added), "w3c" a
// traceparent, a tracestate and a baggage header.
func BenchmarkTraceContext(b *testing.B) {
	trace := []message.Header{
		{Name: "traceparent", Value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{Name: "tracestate", Value: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"},
		{Name: "baggage", Value: "userId=alice,serverNode=DF%2028"},
	}
	for _, on := range []bool{false, true} {
		for _, req := range []struct {
			name  string
			extra []message.Header
		}{{"none", nil}, {"w3c", trace}} {
			name := "off/" + req.name
			if on {
				name = "on/" + req.name
			}
			b.Run(name, func(b *testing.B) {
				e := New(config.Message{Format: config.FormatRaw}, config.Headers{TraceContext: on})
				r := benchRequest("application/octet-stream", benchBinary(1<<10), false)
				r.Headers = append(r.Headers, req.extra...)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.Encode(r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
