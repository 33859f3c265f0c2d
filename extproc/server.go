// Package extproc is the Envoy external processing (ext_proc) adapter, for
// stock Envoy and Envoy Gateway, which have no golang filter. Envoy streams
// each HTTP request's headers and buffered body over gRPC; the server runs
// them through the same ingest pipeline as the golang filter and answers
// with an ImmediateResponse carrying the same statuses and JSON bodies.
package extproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/encoder"
	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
)

// Server implements envoy.service.ext_proc.v3.ExternalProcessor.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer

	fallback *ingest.Pipeline // nil when the file has no default config
	named    map[string]*ingest.Pipeline
	log      *slog.Logger
}

// New builds one pipeline (one Kafka writer) per config in s.
func New(s *config.ServerSettings, log *slog.Logger) *Server {
	srv := &Server{named: make(map[string]*ingest.Pipeline, len(s.Named)), log: log}
	if s.Default != nil {
		srv.fallback = ingest.New(s.Default, log)
	}
	for name, settings := range s.Named {
		srv.named[name] = ingest.New(settings, log)
	}
	return srv
}

// Close waits for in-flight records and closes every producer. Call it
// after the gRPC server stopped.
func (s *Server) Close() error {
	var errs []error
	if s.fallback != nil {
		errs = append(errs, s.fallback.Close())
	}
	for _, p := range s.named {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// Process handles one HTTP request: one gRPC stream per request.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	ctx := stream.Context()
	pipeline, selectErr := s.pick(ctx)

	var headers []encoder.Header
	var body []byte
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// Envoy reset the stream (client gone, timeout): nobody to answer.
			return err
		}
		if mode := req.GetProtocolConfig().GetRequestBodyMode(); mode != filterv3.ProcessingMode_NONE && mode != filterv3.ProcessingMode_BUFFERED {
			return s.reply(stream, misconfigured(fmt.Sprintf("ext_proc request_body_mode must be BUFFERED, not %s", mode)))
		}

		switch r := req.GetRequest().(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			headers = convertHeaders(r.RequestHeaders.GetHeaders())
			if selectErr != nil {
				return s.reply(stream, misconfigured(selectErr.Error()))
			}
			if !r.RequestHeaders.GetEndOfStream() {
				// Ask for the body; Envoy buffers it whole (413 past its limit).
				if err := stream.Send(continueHeaders); err != nil {
					return err
				}
				continue
			}
		case *extprocv3.ProcessingRequest_RequestBody:
			body = append(body, r.RequestBody.GetBody()...)
			if !r.RequestBody.GetEndOfStream() {
				// Trailers follow (or the mode streams chunks): keep going.
				continue
			}
		case *extprocv3.ProcessingRequest_RequestTrailers:
			// The body, if any, came before; trailers are not forwarded.
		default:
			return status.Errorf(codes.InvalidArgument,
				"kafka-upstream handles requests only; set response_header_mode: SKIP (got %T)", r)
		}
		if headers == nil {
			return status.Error(codes.InvalidArgument, "request body before request headers")
		}

		reply := pipeline.Handle(ctx, &encoder.Request{Headers: headers, Body: body})
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		return s.reply(stream, reply)
	}
}

// pick returns the pipeline the request's route selected.
func (s *Server) pick(ctx context.Context) (*ingest.Pipeline, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if names := md.Get(config.SelectorHeader); len(names) > 0 {
		if p, ok := s.named[names[0]]; ok {
			return p, nil
		}
		return nil, fmt.Errorf("the route selects kafka-upstream config %q, which the server's config file does not define", names[0])
	}
	if s.fallback == nil {
		return nil, fmt.Errorf("the route selects no kafka-upstream config (%s) and the server's config file has no default", config.SelectorHeader)
	}
	return s.fallback, nil
}

var continueHeaders = &extprocv3.ProcessingResponse{
	Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{}},
}

// misconfigured is the reply when Envoy and the server disagree: the client
// can do nothing about it.
func misconfigured(why string) ingest.Reply {
	return ingest.ErrorReply(http.StatusInternalServerError, misconfiguredDetails, why)
}

const misconfiguredDetails = "kafka_upstream_misconfigured"

func (s *Server) reply(stream extprocv3.ExternalProcessor_ProcessServer, r ingest.Reply) error {
	if r.Details == misconfiguredDetails {
		s.log.Error("misconfigured", "reply", string(r.Body))
	}
	return stream.Send(&extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocv3.ImmediateResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(r.Status)},
			Headers: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
				Header: &corev3.HeaderValue{Key: "content-type", RawValue: []byte(ingest.ContentType)},
			}}},
			Body:    r.Body,
			Details: r.Details,
		}},
	})
}

// convertHeaders takes Envoy's header list as is, pseudo-headers included.
// Envoy sends values in raw_value (bytes); value is the older field.
func convertHeaders(hm *corev3.HeaderMap) []encoder.Header {
	out := make([]encoder.Header, 0, len(hm.GetHeaders()))
	for _, h := range hm.GetHeaders() {
		v := h.GetValue()
		if raw := h.GetRawValue(); len(raw) > 0 {
			v = string(raw)
		}
		out = append(out, encoder.Header{Name: h.GetKey(), Value: v})
	}
	return out
}
