package extproc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/extproc"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
)

const (
	topic      = "events"
	auditTopic = "audit"
	// wait bounds every wait on the server or on Kafka; the tests normally
	// finish far sooner.
	wait = 10 * time.Second

	sentBody = `{"message":"message sent"}`
)

var _ extprocv3.ExternalProcessorServer = (*extproc.Server)(nil)

// ownLines returns the lines the server logged itself, leaving out
// kafka-go's retry warnings ("WARN kafka: …").
func ownLines(logs *logtest.Recorder) []string {
	var out []string
	for _, line := range logs.Lines() {
		if !strings.HasPrefix(line, "WARN kafka: ") {
			out = append(out, line)
		}
	}
	return out
}

// kafkaConfig is a Config for cluster c as a JSON object, with topic and
// extra fields.
func kafkaConfig(c *kfake.Cluster, topic string, extra map[string]any) map[string]any {
	cfg := map[string]any{"bootstrap_servers": c.ListenAddrs(), "topic": topic}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

// recorder wraps the server under test as the gRPC service: it records what
// Process sends on each stream and reports each return of Process.
type recorder struct {
	extprocv3.UnimplementedExternalProcessorServer
	inner    *extproc.Server
	returned chan error // buffered: Process must not wait for the test

	mu   sync.Mutex
	sent []*extprocv3.ProcessingResponse
}

func (r *recorder) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	err := r.inner.Process(&recordingStream{stream, r})
	r.returned <- err
	return err
}

func (r *recorder) sends() []*extprocv3.ProcessingResponse {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*extprocv3.ProcessingResponse(nil), r.sent...)
}

type recordingStream struct {
	extprocv3.ExternalProcessor_ProcessServer
	r *recorder
}

func (s *recordingStream) Send(m *extprocv3.ProcessingResponse) error {
	s.r.mu.Lock()
	s.r.sent = append(s.r.sent, m)
	s.r.mu.Unlock()
	return s.ExternalProcessor_ProcessServer.Send(m)
}

// env is one extproc.Server behind a real gRPC server on an in-memory
// listener, with a client connected to it.
type env struct {
	server *extproc.Server
	rec    *recorder
	client extprocv3.ExternalProcessorClient
	logs   *logtest.Recorder
}

// start loads the config file contents cfg (a JSON object) as the command
// does, and serves extproc.New of it. Everything is stopped when the test
// ends.
func start(t *testing.T, cfg map[string]any) *env {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	settings, err := config.ServerFromYAML(data)
	if err != nil {
		t.Fatalf("ServerFromYAML(%s): %v", data, err)
	}
	logs, log := logtest.New()
	server := extproc.New(settings, log)
	t.Cleanup(func() {
		if err := server.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	rec := &recorder{inner: server, returned: make(chan error, 1024)}

	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(gs, rec)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	t.Cleanup(func() {
		gs.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &env{server: server, rec: rec, client: extprocv3.NewExternalProcessorClient(conn), logs: logs}
}

// open starts one ext_proc stream, as Envoy does for each HTTP request; md
// is the route's grpc_initial_metadata (key, value, …).
func (e *env) open(t *testing.T, md ...string) extprocv3.ExternalProcessor_ProcessClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return e.openCtx(t, metadata.AppendToOutgoingContext(ctx, md...))
}

func (e *env) openCtx(t *testing.T, ctx context.Context) extprocv3.ExternalProcessor_ProcessClient {
	t.Helper()
	stream, err := e.client.Process(ctx)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	return stream
}

// processReturned awaits the next return of the server's Process.
func (e *env) processReturned(t *testing.T) error {
	t.Helper()
	select {
	case err := <-e.rec.returned:
		return err
	case <-time.After(wait):
		t.Fatalf("the server's Process did not return within %s", wait)
		return nil
	}
}

// headerMap builds a HeaderMap as Envoy sends it: values in raw_value,
// value empty.
func headerMap(kv ...string) *corev3.HeaderMap {
	hm := &corev3.HeaderMap{}
	for i := 0; i+1 < len(kv); i += 2 {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return hm
}

// buffered is the protocol_config Envoy puts in the first message of each
// stream for the e2e config (request_body_mode: BUFFERED, response_body_mode:
// NONE).
func buffered() *extprocv3.ProtocolConfiguration {
	return &extprocv3.ProtocolConfiguration{
		RequestBodyMode:  filterv3.ProcessingMode_BUFFERED,
		ResponseBodyMode: filterv3.ProcessingMode_NONE,
	}
}

// requestHeaders is the first message of a stream.
func requestHeaders(endOfStream bool, kv ...string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
			Headers:     headerMap(kv...),
			EndOfStream: endOfStream,
		}},
		ProtocolConfig: buffered(),
	}
}

func requestBody(body string, endOfStream bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{
			Body:        []byte(body),
			EndOfStream: endOfStream,
		}},
	}
}

func send(t *testing.T, stream extprocv3.ExternalProcessor_ProcessClient, req *extprocv3.ProcessingRequest) {
	t.Helper()
	if err := stream.Send(req); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

// immediate is the whole response the server answers a request with.
func immediate(code int, body, details string) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocv3.ImmediateResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(code)},
			Headers: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
				Header: &corev3.HeaderValue{Key: "content-type", RawValue: []byte("application/json")},
			}}},
			Body:    []byte(body),
			Details: details,
		}},
	}
}

// continueHeaders is the answer to request_headers that announce a body.
var continueHeaders = &extprocv3.ProcessingResponse{
	Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{}},
}

// expectResponse receives one response and compares it with want as a whole.
func expectResponse(t *testing.T, stream extprocv3.ExternalProcessor_ProcessClient, want *extprocv3.ProcessingResponse) {
	t.Helper()
	got, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v, want\n%s", err, prototext.Format(want))
	}
	if !proto.Equal(got, want) {
		t.Fatalf("response =\n%s\nwant\n%s", prototext.Format(got), prototext.Format(want))
	}
}

// expectEnd checks that the server ended the stream with OK after its
// answer, and that its Process returned nil.
func (e *env) expectEnd(t *testing.T, stream extprocv3.ExternalProcessor_ProcessClient) {
	t.Helper()
	if m, err := stream.Recv(); err != io.EOF {
		t.Errorf("after the answer: Recv = %v, %v; want io.EOF (stream ended with OK)", prototext.Format(m), err)
	}
	if err := e.processReturned(t); err != nil {
		t.Errorf("Process returned %v, want nil", err)
	}
}

// expectStatus checks that the stream ended with a gRPC error of code
// want, sending nothing before.
func expectStatus(t *testing.T, stream extprocv3.ExternalProcessor_ProcessClient, want codes.Code, msg string) {
	t.Helper()
	m, err := stream.Recv()
	if m != nil {
		t.Errorf("Recv got a response, want none:\n%s", prototext.Format(m))
	}
	if st, _ := status.FromError(err); st.Code() != want || st.Message() != msg {
		t.Errorf("stream ended with %v, want code %v and message %q", err, want, msg)
	}
}

// allFlags forwards method, uri, headers and body.
var allFlags = map[string]any{
	"forward_method": true, "forward_uri": true, "forward_headers": true, "forward_body": true,
}

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
	expectResponse(t, stream, immediate(200, sentBody, "kafka_upstream_sent"))
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
	if l := ownLines(e.logs); len(l) != 0 {
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
		expectResponse(t, stream, immediate(200, sentBody, "kafka_upstream_sent"))
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
		expectResponse(t, stream, immediate(200, sentBody, "kafka_upstream_sent"))
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
		expectResponse(t, stream, immediate(200, sentBody, "kafka_upstream_sent"))
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
		expectResponse(t, stream, immediate(200, sentBody, "kafka_upstream_sent"))
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
	expectResponse(t, stream, immediate(200, sentBody, "kafka_upstream_sent"))
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
	if l := ownLines(e.logs); len(l) != 0 {
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
		expectResponse(t, stream, immediate(200, sentBody, "kafka_upstream_sent"))
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
		expectResponse(t, stream, immediate(200, sentBody, "kafka_upstream_sent"))
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
				if l := ownLines(e.logs); len(l) != 1 || l[0] != want {
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
			if l := ownLines(e.logs); len(l) != 1 || l[0] != "ERROR misconfigured reply="+body {
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
	expectResponse(t, stream, immediate(200, sentBody, "kafka_upstream_sent"))
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
	if l := ownLines(e.logs); len(l) != 0 {
		t.Errorf("log = %q, want nothing", l)
	}
}

func TestRequestAfterCloseGets503(t *testing.T) {
	c := kfaketest.NewCluster(t, topic, auditTopic)
	e := start(t, kafkaConfig(c, topic, nil))
	get := []string{":path", "/", ":method", "GET", ":authority", "example.com", ":scheme", "http"}

	stream := e.open(t)
	send(t, stream, requestHeaders(true, get...))
	expectResponse(t, stream, immediate(200, sentBody, "kafka_upstream_sent"))
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
			if want := immediate(200, sentBody, "kafka_upstream_sent"); !proto.Equal(got, want) {
				errs <- fmt.Errorf("stream %d: response =\n%s", i, prototext.Format(got))
				return
			}
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
