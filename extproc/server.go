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
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
	"github.com/kafka-upstream/envoy-kafka-upstream/metrics"
)

// Server implements envoy.service.ext_proc.v3.ExternalProcessor.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer

	fallback *ingest.Pipeline // nil when the file has no default config
	named    map[string]*ingest.Pipeline
	// owners are the pipelines with a producer of their own: one per
	// cluster the file names (health checks).
	owners   []*ingest.Pipeline
	metrics  *metrics.Set
	log      *slog.Logger
	inFlight atomic.Int64 // Process calls running
}

// WaitIdle returns once no request is being processed, or with ctx's error.
// Shutdown uses it: grpc's GracefulStop would also wait for every other RPC,
// health Watch streams included, which never end by themselves.
func (s *Server) WaitIdle(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.inFlight.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// New builds one pipeline per config in s: one Kafka writer per config
// with its own bootstrap_servers, shared by the configs that inherit from
// it through `base`. The pipelines count into m (NewMetrics), which may be
// nil.
func New(s *config.ServerSettings, log *slog.Logger, m *metrics.Set) *Server {
	srv := &Server{named: make(map[string]*ingest.Pipeline, len(s.Named)), log: log, metrics: m}
	all := map[string]*config.Settings{}
	for name, settings := range s.Named {
		all[name] = settings
	}
	if s.Default != nil {
		all[config.DefaultName] = s.Default
	}
	built := map[string]*ingest.Pipeline{}
	for name, settings := range all {
		if _, inherits := s.ProducerOf[name]; !inherits {
			built[name] = ingest.New(settings, log, m)
			srv.owners = append(srv.owners, built[name])
		}
	}
	for name, root := range s.ProducerOf {
		built[name] = built[root].Derive(all[name])
	}
	srv.fallback = built[config.DefaultName]
	for name := range s.Named {
		srv.named[name] = built[name]
	}
	return srv
}

// Close waits for records already handed to Kafka and closes every
// producer, or gives up when ctx ends (a hung broker would otherwise hold it
// for up to 3 × produce_timeout). Call it after the gRPC server stopped: no
// record is abandoned whose client was told 200.
func (s *Server) Close(ctx context.Context) error {
	pipelines := make([]*ingest.Pipeline, 0, len(s.named)+1)
	if s.fallback != nil {
		pipelines = append(pipelines, s.fallback)
	}
	for _, p := range s.named {
		pipelines = append(pipelines, p)
	}
	errs := make(chan error, len(pipelines))
	for _, p := range pipelines {
		go func() { errs <- p.Close() }()
	}
	var all []error
	for range pipelines {
		select {
		case err := <-errs:
			all = append(all, err)
		case <-ctx.Done():
			return fmt.Errorf("records still unacknowledged: %w", ctx.Err())
		}
	}
	return errors.Join(all...)
}

// Process handles one HTTP request: one gRPC stream per request.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	ctx := stream.Context()
	pipeline, selectErr := s.pick(ctx)

	var headers []message.Header
	var body []byte
	// Envoy (1.33+) states its body mode on the first message. In BUFFERED
	// mode the whole body comes in one message, with end_of_stream false
	// when trailers follow (and, with request_trailer_mode SKIP, no
	// trailers message ever comes): that one message completes the request.
	buffered, noBody := false, false
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// Envoy reset the stream (client gone, timeout): nobody to answer.
			return err
		}
		if pc := req.GetProtocolConfig(); pc != nil {
			switch mode := pc.GetRequestBodyMode(); mode {
			case filterv3.ProcessingMode_BUFFERED:
				buffered = true
			case filterv3.ProcessingMode_NONE:
				// Envoy's default: no body will come. Bodyless requests
				// still work; one with a body is refused below, or Envoy
				// would send it on to the route unpublished.
				noBody = true
			default:
				return s.refuse(stream, misconfigured(fmt.Sprintf("ext_proc request_body_mode must be BUFFERED, not %s", mode)))
			}
		}

		switch r := req.GetRequest().(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			headers = convertHeaders(r.RequestHeaders.GetHeaders())
			if refusal := ingest.CheckHeaders(headers); refusal != nil {
				return s.refuse(stream, *refusal)
			}
			if selectErr != nil {
				return s.refuse(stream, misconfigured(selectErr.Error()))
			}
			if !r.RequestHeaders.GetEndOfStream() {
				if noBody {
					return s.refuse(stream, misconfigured("ext_proc request_body_mode must be BUFFERED, not NONE: the request has a body"))
				}
				// Ask for the body; Envoy buffers it whole (413 past its limit).
				if err := stream.Send(continueHeaders); err != nil {
					return err
				}
				continue
			}
		case *extprocv3.ProcessingRequest_RequestBody:
			body = append(body, r.RequestBody.GetBody()...)
			if !buffered && !r.RequestBody.GetEndOfStream() {
				// An Envoy that did not state its mode: wait for the end.
				continue
			}
		case *extprocv3.ProcessingRequest_RequestTrailers:
			// The body, if any, came before; trailers are not forwarded.
		default:
			return status.Errorf(codes.InvalidArgument,
				"kafka-upstream answers requests itself and handles no %s; set the response modes to SKIP/NONE", messageKind(req))
		}
		if headers == nil {
			return status.Error(codes.InvalidArgument, "request body before request headers")
		}

		reply := pipeline.Handle(ctx, &message.Request{Headers: headers, Body: body})
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
func misconfigured(why string) ingest.Reply { return ingest.Misconfigured(why) }

// refuse sends a reply made without the pipeline (which counts its own).
func (s *Server) refuse(stream extprocv3.ExternalProcessor_ProcessServer, r ingest.Reply) error {
	s.metrics.Refused(r.Details)
	return s.reply(stream, r)
}

func (s *Server) reply(stream extprocv3.ExternalProcessor_ProcessServer, r ingest.Reply) error {
	if r.Details == ingest.MisconfiguredDetails {
		s.log.Error("misconfigured", "reply", string(r.Body))
	}
	headers := []*corev3.HeaderValueOption{{
		Header: &corev3.HeaderValue{Key: "content-type", RawValue: []byte(ingest.ContentType)},
	}}
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		headers = append(headers, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: name, RawValue: []byte(r.Headers[name])}})
	}
	return stream.Send(&extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocv3.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(r.Status)},
			Headers: &extprocv3.HeaderMutation{SetHeaders: headers},
			Body:    r.Body,
			Details: r.Details,
		}},
		DynamicMetadata: placementMetadata(&r.Placed),
	})
}

// placementMetadata is where the records went as dynamic metadata, in
// namespace kafka_upstream (Envoy keeps it only if the filter's
// metadata_options.receiving_namespaces.untyped lists it); nil for none.
func placementMetadata(p *ingest.Placement) *structpb.Struct {
	if p.Records == 0 {
		return nil
	}
	fields := map[string]*structpb.Value{
		"topic":   structpb.NewStringValue(p.Topic),
		"records": structpb.NewNumberValue(float64(p.Records)),
	}
	if p.Partition >= 0 {
		fields["partition"] = structpb.NewNumberValue(float64(p.Partition))
	}
	if p.Offset >= 0 {
		fields["offset"] = structpb.NewNumberValue(float64(p.Offset))
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		ingest.MetadataNamespace: structpb.NewStructValue(&structpb.Struct{Fields: fields}),
	}}
}

// messageKind names the request's oneof field as Envoy's docs do
// ("response_headers").
func messageKind(req *extprocv3.ProcessingRequest) string {
	m := req.ProtoReflect()
	if fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("request")); fd != nil {
		return string(fd.Name())
	}
	return "empty message"
}

// convertHeaders takes Envoy's header list, pseudo-headers included, with
// names lower-cased (Envoy sends them so; the core relies on it). Envoy
// sends values in raw_value (bytes); value is the older field.
func convertHeaders(hm *corev3.HeaderMap) []message.Header {
	out := make([]message.Header, 0, len(hm.GetHeaders()))
	for _, h := range hm.GetHeaders() {
		v := h.GetValue()
		if raw := h.GetRawValue(); len(raw) > 0 {
			v = string(raw)
		}
		out = append(out, message.Header{Name: strings.ToLower(h.GetKey()), Value: v})
	}
	return out
}
