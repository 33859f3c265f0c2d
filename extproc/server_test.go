package extproc_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/extproc"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

func TestBodylessGETIsAnsweredFromRequestHeaders(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, auditTopic)
	e := start(t, kafkaConfig(c, topic, allFlags))

	stream := e.open(t)
	req := requestHeaders(true,
		":authority", "example.com", ":path", "/x?a=1&b=2", ":method", "GET", ":scheme", "http",
		"user-agent", "curl/8.5.0", "accept", "*/*", "x-forwarded-proto", "http",
		"x-request-id", "6f1c2a9e-0b3d-4e7f-9a21-5c8d7e6f4a3b")
	// A header in the older value field, as an older Envoy would send it.
	req.GetRequestHeaders().Headers.Headers = append(req.GetRequestHeaders().Headers.Headers,
		&corev3.HeaderValue{Key: "x-legacy", Value: "v"})
	send(t, stream, req)
	expectResponse(t, stream, immediate(200, sent(topic, 0, 0), "kafka_upstream_sent"))
	e.expectEnd(t, stream)

	// No content type: the (empty) body counts as binary, as in Kong.
	want := `{"method":"GET","uri":"/x?a=1&b=2","uri_args":{"a":"1","b":"2"},` +
		`"headers":{"accept":"*/*","host":"example.com","user-agent":"curl/8.5.0","x-forwarded-proto":"http",` +
		`"x-legacy":"v","x-request-id":"6f1c2a9e-0b3d-4e7f-9a21-5c8d7e6f4a3b"},` +
		`"body":"","body_args":{},"body_base64":true}`
	if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != want {
		t.Errorf("record value =\n%s\nwant\n%s", got[0], want)
	}
	if sent := e.rec.sends(); len(sent) != 1 {
		t.Errorf("the server sent %d responses, want 1", len(sent))
	}
	if l := e.logs.OwnLines(); len(l) != 0 {
		t.Errorf("log = %q, want nothing", l)
	}
}

func TestPOSTWithBody(t *testing.T) {
	postHeaders := []string{":authority", "example.com", ":path", "/orders", ":method", "POST", ":scheme", "https",
		"content-type", "application/json", "content-length", "22"}
	const body = `{"id": 7, "qty": 2.50}`
	const want = `{"body":"{\"id\": 7, \"qty\": 2.50}","body_args":{"id":7,"qty":2.50}}`

	t.Run("one buffered body message", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic, auditTopic)
		e := start(t, kafkaConfig(c, topic, nil))

		stream := e.open(t)
		send(t, stream, requestHeaders(false, postHeaders...))
		// The server asks for the body before Envoy sends it.
		expectResponse(t, stream, continueHeaders)
		send(t, stream, requestBody(body, true))
		expectResponse(t, stream, immediate(200, sent(topic, 0, 0), "kafka_upstream_sent"))
		e.expectEnd(t, stream)

		if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != want {
			t.Errorf("record value =\n%s\nwant\n%s", got[0], want)
		}
	})

	// Only an Envoy that does not state its body mode (before 1.33) may
	// split a body: then the server waits for end_of_stream.
	t.Run("body in two chunks, no protocol_config", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic, auditTopic)
		e := start(t, kafkaConfig(c, topic, nil))

		stream := e.open(t)
		first := requestHeaders(false, postHeaders...)
		first.ProtocolConfig = nil
		send(t, stream, first)
		expectResponse(t, stream, continueHeaders)
		send(t, stream, requestBody(body[:9], false))
		send(t, stream, requestBody(body[9:], true))
		expectResponse(t, stream, immediate(200, sent(topic, 0, 0), "kafka_upstream_sent"))
		e.expectEnd(t, stream)

		if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != want {
			t.Errorf("record value =\n%s\nwant\n%s", got[0], want)
		}
		if sent := e.rec.sends(); len(sent) != 2 {
			t.Errorf("the server sent %d responses, want 2 (headers, then the answer)", len(sent))
		}
	})

	t.Run("body then request_trailers", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic, auditTopic)
		e := start(t, kafkaConfig(c, topic, nil))

		stream := e.open(t)
		send(t, stream, requestHeaders(false, postHeaders...))
		expectResponse(t, stream, continueHeaders)
		send(t, stream, requestBody(body, false))
		send(t, stream, &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestTrailers{
			RequestTrailers: &extprocv3.HttpTrailers{Trailers: headerMap("x-checksum", "0")},
		}})
		expectResponse(t, stream, immediate(200, sent(topic, 0, 0), "kafka_upstream_sent"))
		e.expectEnd(t, stream)

		if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != want {
			t.Errorf("record value =\n%s\nwant\n%s", got[0], want)
		}
	})

	t.Run("chunked request with an empty body", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic, auditTopic)
		e := start(t, kafkaConfig(c, topic, nil))

		stream := e.open(t)
		send(t, stream, requestHeaders(false, ":path", "/", ":method", "POST", "content-type", "text/plain",
			"transfer-encoding", "chunked"))
		expectResponse(t, stream, continueHeaders)
		send(t, stream, requestBody("", true))
		expectResponse(t, stream, immediate(200, sent(topic, 0, 0), "kafka_upstream_sent"))
		e.expectEnd(t, stream)

		if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != `{"body":"","body_args":{}}` {
			t.Errorf("record value = %s", got[0])
		}
	})
}

// Envoy's ext_proc filter, in BUFFERED mode, sends a request that has
// trailers as request_headers, then the whole body in ONE request_body with
// end_of_stream=false (the trailers follow), and with request_trailer_mode
// SKIP (e2e/envoy-extproc.yaml) no trailers message: it waits for the answer
// to the body message (Filter::onTrailers in Envoy's ext_proc.cc).
func TestBufferedBodyWithSkippedTrailersIsAnswered(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, auditTopic)
	e := start(t, kafkaConfig(c, topic, nil))

	stream := e.open(t)
	send(t, stream, requestHeaders(false, ":path", "/", ":method", "POST", "content-type", "text/plain"))
	expectResponse(t, stream, continueHeaders)
	send(t, stream, requestBody("hello", false))
	expectResponse(t, stream, immediate(200, sent(topic, 0, 0), "kafka_upstream_sent"))
	e.expectEnd(t, stream)
	if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != `{"body":"hello","body_args":{}}` {
		t.Errorf("record value = %s", got[0])
	}
}

func TestInvalidJSONIsRejectedWith400AndNotPublished(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, auditTopic)
	e := start(t, kafkaConfig(c, topic, nil))

	stream := e.open(t)
	send(t, stream, requestHeaders(false, ":path", "/", ":method", "POST", ":authority", "example.com", ":scheme", "http",
		"content-type", "application/json"))
	expectResponse(t, stream, continueHeaders)
	send(t, stream, requestBody(`{"a":`, true))
	expectResponse(t, stream, immediate(400,
		`{"message":"Bad Request","error":"body is not valid application/json: unexpected end of JSON input"}`,
		"kafka_upstream_bad_body"))
	e.expectEnd(t, stream)

	// The encoder refused it before anything was handed to Kafka.
	if hw := kfaketest.HighWatermark(t, c, topic); hw != 0 {
		t.Errorf("high watermark = %d, want 0: nothing may be published", hw)
	}
	if l := e.logs.OwnLines(); len(l) != 0 {
		t.Errorf("log = %q, want nothing: a client error is not the server's", l)
	}
}

// For a body over Envoy's buffer limit, Envoy answers 413 itself: the server
// sees request_headers, then the stream just closes.
func TestStreamClosedAfterHeadersPublishesNothing(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, auditTopic)
	e := start(t, kafkaConfig(c, topic, nil))

	stream := e.open(t)
	send(t, stream, requestHeaders(false, ":path", "/", ":method", "POST", "content-type", "text/plain"))
	expectResponse(t, stream, continueHeaders)
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("CloseSend: %v", err)
	}
	e.expectEnd(t, stream)
	if hw := kfaketest.HighWatermark(t, c, topic); hw != 0 {
		t.Errorf("high watermark = %d, want 0", hw)
	}
}

func TestNamedConfigSelection(t *testing.T) {
	get := []string{":authority", "example.com", ":path", "/audit", ":method", "GET", ":scheme", "http"}

	t.Run("the route's name selects the config", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic, auditTopic)
		e := start(t, map[string]any{
			"default": kafkaConfig(c, topic, nil),
			"configs": map[string]any{"audit": kafkaConfig(c, auditTopic, map[string]any{"forward_method": true})},
		})

		stream := e.open(t, config.SelectorHeader, "audit")
		send(t, stream, requestHeaders(true, get...))
		expectResponse(t, stream, immediate(200, sent(auditTopic, 0, 0), "kafka_upstream_sent"))
		e.expectEnd(t, stream)

		want := `{"method":"GET","body":"","body_args":{},"body_base64":true}`
		if got := kfaketest.ReadValues(t, c, auditTopic, 1); got[0] != want {
			t.Errorf("record value =\n%s\nwant\n%s", got[0], want)
		}
		if hw := kfaketest.HighWatermark(t, c, topic); hw != 0 {
			t.Errorf("%s high watermark = %d, want 0: the default config was not selected", topic, hw)
		}

		// Without the metadata, the default config serves.
		stream = e.open(t)
		send(t, stream, requestHeaders(true, get...))
		expectResponse(t, stream, immediate(200, sent(topic, 0, 0), "kafka_upstream_sent"))
		e.expectEnd(t, stream)
		if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != `{"body":"","body_args":{},"body_base64":true}` {
			t.Errorf("default record value = %s", got[0])
		}
	})

	misconfigured := []struct {
		name    string
		cfg     func(c *kfake.Cluster) map[string]any
		md      []string
		message string
	}{
		{
			name: "unknown name",
			cfg: func(c *kfake.Cluster) map[string]any {
				return map[string]any{
					"default": kafkaConfig(c, topic, nil),
					"configs": map[string]any{"audit": kafkaConfig(c, auditTopic, nil)},
				}
			},
			md:      []string{config.SelectorHeader, "nope"},
			message: `the route selects kafka-upstream config \"nope\", which the server's config file does not define`,
		},
		{
			name: "no name and no default",
			cfg: func(c *kfake.Cluster) map[string]any {
				return map[string]any{"configs": map[string]any{"audit": kafkaConfig(c, auditTopic, nil)}}
			},
			message: `the route selects no kafka-upstream config (x-kafka-upstream-config) and the server's config file has no default`,
		},
	}
	for _, tt := range misconfigured {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"message":"Internal Server Error","error":"` + tt.message + `"}`
			for _, withBody := range []bool{false, true} {
				c := kfaketest.NewCluster(t, topic, auditTopic)
				e := start(t, tt.cfg(c))

				stream := e.open(t, tt.md...)
				// Answered from the headers, whether a body follows or not.
				send(t, stream, requestHeaders(!withBody, get...))
				expectResponse(t, stream, immediate(500, body, "kafka_upstream_misconfigured"))
				e.expectEnd(t, stream)

				if hw := kfaketest.HighWatermark(t, c, topic) + kfaketest.HighWatermark(t, c, auditTopic); hw != 0 {
					t.Errorf("%d records published, want none", hw)
				}
				want := "ERROR misconfigured reply=" + body
				if l := e.logs.OwnLines(); len(l) != 1 || l[0] != want {
					t.Errorf("log = %q, want [%q]", l, want)
				}
			}
		})
	}
}

func TestStreamedBodyModeIsMisconfigured(t *testing.T) {
	for _, mode := range []filterv3.ProcessingMode_BodySendMode{
		filterv3.ProcessingMode_STREAMED,
		filterv3.ProcessingMode_BUFFERED_PARTIAL,
		filterv3.ProcessingMode_FULL_DUPLEX_STREAMED,
	} {
		t.Run(mode.String(), func(t *testing.T) {
			c := kfaketest.NewCluster(t, topic, auditTopic)
			e := start(t, kafkaConfig(c, topic, nil))

			stream := e.open(t)
			req := requestHeaders(false, ":path", "/", ":method", "POST", "content-type", "text/plain")
			req.ProtocolConfig.RequestBodyMode = mode
			send(t, stream, req)
			body := `{"message":"Internal Server Error","error":"ext_proc request_body_mode must be BUFFERED, not ` + mode.String() + `"}`
			expectResponse(t, stream, immediate(500, body, "kafka_upstream_misconfigured"))
			e.expectEnd(t, stream)

			if hw := kfaketest.HighWatermark(t, c, topic); hw != 0 {
				t.Errorf("high watermark = %d, want 0", hw)
			}
			if l := e.logs.OwnLines(); len(l) != 1 || l[0] != "ERROR misconfigured reply="+body {
				t.Errorf("log = %q", l)
			}
		})
	}
}

// request_body_mode NONE is Envoy's default: bodyless requests are served,
// a request with a body is refused instead of going on to the route
// unpublished.
func TestBodyModeNone(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, auditTopic)
	e := start(t, kafkaConfig(c, topic, nil))

	stream := e.open(t)
	req := requestHeaders(true, ":path", "/", ":method", "GET")
	req.ProtocolConfig.RequestBodyMode = filterv3.ProcessingMode_NONE
	send(t, stream, req)
	expectResponse(t, stream, immediate(200, sent(topic, 0, 0), "kafka_upstream_sent"))
	e.expectEnd(t, stream)

	stream = e.open(t)
	req = requestHeaders(false, ":path", "/", ":method", "POST", "content-type", "text/plain")
	req.ProtocolConfig.RequestBodyMode = filterv3.ProcessingMode_NONE
	send(t, stream, req)
	body := `{"message":"Internal Server Error","error":"ext_proc request_body_mode must be BUFFERED, not NONE: the request has a body"}`
	expectResponse(t, stream, immediate(500, body, "kafka_upstream_misconfigured"))
	e.expectEnd(t, stream)

	if hw := kfaketest.HighWatermark(t, c, topic); hw != 1 {
		t.Errorf("high watermark = %d, want 1 (the GET only)", hw)
	}
}

func TestProtocolViolationsEndTheStreamWithInvalidArgument(t *testing.T) {
	t.Run("response_headers", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic, auditTopic)
		e := start(t, kafkaConfig(c, topic, nil))

		stream := e.open(t)
		send(t, stream, requestHeaders(false, ":path", "/", ":method", "POST", "content-type", "text/plain"))
		expectResponse(t, stream, continueHeaders)
		send(t, stream, &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{
			ResponseHeaders: &extprocv3.HttpHeaders{Headers: headerMap(":status", "200")},
		}})
		expectStatus(t, stream, codes.InvalidArgument,
			"kafka-upstream answers requests itself and handles no response_headers; set the response modes to SKIP/NONE")
		if err := e.processReturned(t); status.Code(err) != codes.InvalidArgument {
			t.Errorf("Process returned %v, want InvalidArgument", err)
		}
		if hw := kfaketest.HighWatermark(t, c, topic); hw != 0 {
			t.Errorf("high watermark = %d, want 0", hw)
		}
	})

	t.Run("body before headers", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic, auditTopic)
		e := start(t, kafkaConfig(c, topic, nil))

		stream := e.open(t)
		send(t, stream, requestBody("x", true))
		expectStatus(t, stream, codes.InvalidArgument, "request body before request headers")
		if err := e.processReturned(t); status.Code(err) != codes.InvalidArgument {
			t.Errorf("Process returned %v, want InvalidArgument", err)
		}
		if hw := kfaketest.HighWatermark(t, c, topic); hw != 0 {
			t.Errorf("high watermark = %d, want 0", hw)
		}
	})
}

// stacksContaining returns the stacks of the goroutines whose stack
// mentions any of fns.
func stacksContaining(fns ...string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, fn := range fns {
			if strings.Contains(g, fn) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

func TestClientCancelWhileProducingSendsNothingAndLeaksNothing(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, auditTopic)
	e := start(t, kafkaConfig(c, topic, nil)) // produce_timeout 10s
	arrived, _ := kfaketest.HoldProduce(t, c)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := e.openCtx(t, ctx)
	send(t, stream, requestHeaders(true, ":path", "/", ":method", "GET", ":authority", "example.com", ":scheme", "http"))
	select {
	case <-arrived:
	case <-time.After(wait):
		t.Fatal("the produce request never reached the broker")
	}

	// Envoy resets the stream (the HTTP client went away).
	cancel()
	if m, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Recv = %v, %v; want the cancellation", m, err)
	}
	if err := e.processReturned(t); status.Code(err) != codes.Canceled {
		t.Errorf("Process returned %v, want a Canceled status", err)
	}
	if sent := e.rec.sends(); len(sent) != 0 {
		t.Errorf("the server sent %d responses to a cancelled stream, want none: %v", len(sent), sent)
	}

	// Nothing of the request is left running (kafka-go's own writer
	// goroutines, which outlive requests by design, are not counted).
	fns := []string{"extproc.(*Server).Process", "ingest.(*Pipeline).Handle", "producer.(*Producer).Publish"}
	deadline := time.Now().Add(wait)
	for {
		left := stacksContaining(fns...)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines still serve the cancelled request after %s:\n%s", wait, strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if l := e.logs.OwnLines(); len(l) != 0 {
		t.Errorf("log = %q, want nothing", l)
	}
}

func TestRequestAfterCloseGets503(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, auditTopic)
	e := start(t, kafkaConfig(c, topic, nil))
	get := []string{":path", "/", ":method", "GET", ":authority", "example.com", ":scheme", "http"}

	stream := e.open(t)
	send(t, stream, requestHeaders(true, get...))
	expectResponse(t, stream, immediate(200, sent(topic, 0, 0), "kafka_upstream_sent"))
	e.expectEnd(t, stream)

	if err := e.server.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}

	stream = e.open(t)
	send(t, stream, requestHeaders(true, get...))
	expectResponse(t, stream, immediate(503,
		`{"message":"Service Unavailable","error":"the Kafka producer of this configuration is closed (config update or shutdown); retry"}`,
		"kafka_upstream_closed"))
	e.expectEnd(t, stream)

	if got := kfaketest.ReadValues(t, c, topic, 1); len(got) != 1 {
		t.Errorf("records = %q, want only the one sent before Close", got)
	}
}

// Many streams at once share one pipeline; each gets its own answer.
func TestConcurrentStreams(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, auditTopic)
	e := start(t, kafkaConfig(c, topic, map[string]any{"forward_uri": true}))

	const n = 20
	errs := make(chan error, n)
	offsets := make(chan int64, n)
	for i := range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			stream, err := e.client.Process(ctx)
			if err != nil {
				errs <- err
				return
			}
			if err := stream.Send(requestHeaders(true, ":path", fmt.Sprintf("/%d", i), ":method", "GET")); err != nil {
				errs <- err
				return
			}
			got, err := stream.Recv()
			if err != nil {
				errs <- err
				return
			}
			// The streams race: each gets an offset of its own, in any order.
			var offset int64
			if _, err := fmt.Sscanf(string(got.GetImmediateResponse().GetBody()),
				`{"message":"message sent","records":[{"topic":"events","partition":0,"offset":%d}]}`, &offset); err != nil {
				errs <- fmt.Errorf("stream %d: response =\n%s", i, prototext.Format(got))
				return
			}
			if want := immediate(200, sent(topic, 0, offset), "kafka_upstream_sent"); !proto.Equal(got, want) {
				errs <- fmt.Errorf("stream %d: response =\n%s", i, prototext.Format(got))
				return
			}
			offsets <- offset
			if _, err := stream.Recv(); err != io.EOF {
				errs <- fmt.Errorf("stream %d: after the answer: %v", i, err)
				return
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(offsets)
	seenOffset := map[int64]bool{}
	for o := range offsets {
		if o < 0 || o >= n || seenOffset[o] {
			t.Errorf("offset %d replied twice or out of 0..%d", o, n-1)
		}
		seenOffset[o] = true
	}
	values := kfaketest.ReadValues(t, c, topic, n)
	seen := map[string]bool{}
	for _, v := range values {
		seen[v] = true
	}
	for i := range n {
		if v := fmt.Sprintf(`{"uri":"/%d","uri_args":{},"body":"","body_args":{},"body_base64":true}`, i); !seen[v] {
			t.Errorf("no record %s in %q", v, values)
		}
	}
}

// A panic inside the pipeline is the JSON 500, logged with its cause, and
// the server goes on serving (it has no Envoy behind it to recover).
func TestPanicInThePipelineAnswers500(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, auditTopic)
	e := start(t, kafkaConfig(c, topic, nil))
	extproc.BreakFallback(e.server)
	for range 2 {
		stream := e.open(t)
		send(t, stream, requestHeaders(true, ":path", "/", ":method", "GET", ":authority", "example.com", ":scheme", "http"))
		expectResponse(t, stream, immediate(500,
			`{"message":"Internal Server Error","error":"internal error in the kafka-upstream filter"}`,
			"kafka_upstream_internal_error"))
		e.expectEnd(t, stream)
	}
	logged := strings.Join(e.logs.OwnLines(), "\n")
	if strings.Count(logged, "panic while publishing") != 2 || !strings.Contains(logged, "nil pointer dereference") {
		t.Errorf("the panics were not logged with their cause:\n%s", logged)
	}
}
