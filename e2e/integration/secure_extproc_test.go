//go:build integration

package integration_test

// The ext_proc adapter shares the producer with the golang filter: one
// request through extproc.Server, over a real gRPC stream on 127.0.0.1, to
// the secured SASL_SSL listener with SCRAM-SHA-512 and zstd.

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/securetest"
	"github.com/kafka-upstream/envoy-kafka-upstream/extproc"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
)

func TestSecuredExtProc(t *testing.T) {
	t.Parallel()
	m := securetest.Load(t)
	bootstrap := kafkatest.Bootstrap(t)
	c := capture(t)
	topic := newTopic(t, bootstrap)
	password := secret(m.Password)

	// The server's config file, as the command loads it.
	file, err := json.Marshal(secureFields(m.SASLSSL, topic, map[string]any{
		"tls":               tlsOn(m, nil),
		"sasl":              map[string]any{"mechanism": "SCRAM-SHA-512", "username": m.User, "password": password},
		"compression":       "zstd",
		"compression_level": zstdLevel,
	}))
	if err != nil {
		t.Fatal(err)
	}
	settings, err := config.ServerFromYAML(file)
	if err != nil {
		t.Fatalf("ServerFromYAML: %v", err)
	}
	rec, log := logtest.New()
	c.mu.Lock()
	c.recs = append(c.recs, rec)
	c.mu.Unlock()
	server := extproc.New(settings, log, nil)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(gs, server)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	t.Cleanup(func() {
		gs.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := server.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := extprocv3.NewExternalProcessorClient(conn).Process(ctx)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	hm := &corev3.HeaderMap{}
	kv := securedRequest("k-extproc")
	for i := 0; i < len(kv); i += 2 {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	const body = `{"adapter":"ext_proc"}`
	recv := func() *extprocv3.ProcessingResponse {
		t.Helper()
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		return r
	}
	if err := stream.Send(&extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: hm}},
		ProtocolConfig: &extprocv3.ProtocolConfiguration{
			RequestBodyMode: filterv3.ProcessingMode_BUFFERED, ResponseBodyMode: filterv3.ProcessingMode_NONE,
		},
	}); err != nil {
		t.Fatal(err)
	}
	if r := recv(); r.GetRequestHeaders() == nil {
		t.Fatalf("answer to request_headers =\n%s\nwant a request_headers response (continue, send the body)", prototext.Format(r))
	}
	start := time.Now()
	if err := stream.Send(&extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: true}},
	}); err != nil {
		t.Fatal(err)
	}
	r := recv()
	t.Logf("answered in %s", time.Since(start))
	ir := r.GetImmediateResponse()
	if ir == nil {
		t.Fatalf("answer to request_body =\n%s\nwant an immediate response", prototext.Format(r))
	}
	c.add("ext_proc reply", string(ir.GetBody()))
	if got, want := ir.GetStatus().GetCode(), 200; int(got) != want || string(ir.GetBody()) != sentBody(topic, 0) || ir.GetDetails() != sentDetails {
		t.Errorf("immediate response = %d %s (details %q)\nwant 200 %s (details %q)", got, ir.GetBody(), ir.GetDetails(), sentBody(topic, 0), sentDetails)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("after the answer: Recv = %v, want io.EOF", err)
	}

	got := expectReadBack(t, reader{m.SASLSSL, m.TLS(t), securetest.ScramSHA512(m.User, m.Password)}, topic, 0, "k-extproc", body)
	if a := got.Attrs.CompressionType(); a != 4 {
		t.Errorf("the record's batch has compression type %d, want 4 (zstd)", a)
	}
	expectEndOffset(t, bootstrap, topic, 1)
	if l := ownLines(rec); len(l) != 0 {
		t.Errorf("log = %q, want nothing", l)
	}
}
