package extproc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
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
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/extproctest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
)

const (
	topic      = "events"
	auditTopic = "audit"
	// wait bounds every wait on the server or on Kafka; the tests normally
	// finish far sooner.
	wait = 10 * time.Second
)

// sent is the 200 body for one record acknowledged at topic/partition,
// offset.
func sent(topic string, partition int, offset int64) string {
	return fmt.Sprintf(`{"message":"message sent","records":[{"topic":%q,"partition":%d,"offset":%d}]}`, topic, partition, offset)
}

var _ extprocv3.ExternalProcessorServer = (*extproc.Server)(nil)

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
	server := extproc.New(settings, log, nil)
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
		DynamicMetadata: extproctest.Metadata(body),
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
