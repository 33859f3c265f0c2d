// Package filter is the Envoy golang HTTP filter adapter: it buffers the
// request, hands it to the shared ingest pipeline in a goroutine and answers
// with a local reply. It imports only the SDK's pure-Go api package, so it
// can be tested without Envoy; the registration lives in envoy/golang.
package filter

import (
	"context"
	"strings"
	"sync"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// Factory is the api.StreamFilterFactory: one filter per HTTP stream.
func Factory(cfg interface{}, callbacks api.FilterCallbackHandler) api.StreamFilter {
	return &streamFilter{config: cfg.(*filterConfig), callbacks: callbacks}
}

type streamFilter struct {
	api.PassThroughStreamFilter

	config    *filterConfig
	callbacks api.FilterCallbackHandler
	headers   []message.Header

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc // cancels the publish when the stream dies
}

var jsonHeaders = map[string][]string{"content-type": {ingest.ContentType}}

func replyHeaders(r ingest.Reply) map[string][]string {
	if len(r.Headers) == 0 {
		return jsonHeaders
	}
	hs := map[string][]string{"content-type": {ingest.ContentType}}
	for name, value := range r.Headers {
		hs[name] = []string{value}
	}
	return hs
}

// DecodeHeaders keeps the headers; a bodyless request is published at once,
// otherwise Envoy buffers the whole body (413 past its buffer limit) and
// hands it to DecodeData in one piece.
func (f *streamFilter) DecodeHeaders(h api.RequestHeaderMap, endStream bool) api.StatusType {
	f.headers = copyHeaders(h)
	refusal := ingest.CheckHeaders(f.headers)
	if refusal == nil && f.config.pipeline == nil {
		refusal = f.config.misconfigured()
	}
	if refusal != nil {
		processMetrics.Refused(refusal.Details)
		f.callbacks.DecoderFilterCallbacks().SendLocalReply(refusal.Status, string(refusal.Body), replyHeaders(*refusal), -1, refusal.Details)
		return api.LocalReply
	}
	if endStream {
		return f.publish(nil)
	}
	return api.StopAndBuffer
}

// DecodeData gets the whole body: after StopAndBuffer, Envoy calls it only
// at the end of the stream, or before DecodeTrailers when trailers follow
// (then endStream is false, and the body is still complete).
func (f *streamFilter) DecodeData(buf api.BufferInstance, _ bool) api.StatusType {
	return f.publish(buf.Bytes())
}

// DecodeTrailers runs without DecodeData when the body was empty.
func (f *streamFilter) DecodeTrailers(api.RequestTrailerMap) api.StatusType {
	return f.publish(nil)
}

// OnDestroy runs on the worker thread when the stream ends, normally or by
// reset: a publish still in flight is cancelled and will not reply.
func (f *streamFilter) OnDestroy(api.DestroyReason) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cancel != nil {
		f.cancel()
	}
}

// publish starts the request's one goroutine and returns Running: the
// produce must not block Envoy's worker thread. The goroutine makes the one
// terminal call, a local reply.
func (f *streamFilter) publish(body []byte) api.StatusType {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started {
		// Unreachable with Envoy's state machine as it is; never start twice.
		return api.Running
	}
	f.started = true
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	req := &message.Request{Headers: f.headers, Body: body}

	go func() {
		defer cancel()
		callbacks := f.callbacks.DecoderFilterCallbacks()
		// Last line of defence: an unrecovered goroutine panic kills Envoy.
		// The SDK answers a panic that reaches it with a text/plain 500.
		defer callbacks.RecoverPanic()

		reply := f.config.pipeline.Handle(ctx, req)
		if ctx.Err() != nil {
			// The stream is gone; any callback would panic.
			return
		}
		if reply.Placed.Records > 0 {
			setPlacement(f.callbacks.StreamInfo().DynamicMetadata(), &reply.Placed)
		}
		callbacks.SendLocalReply(reply.Status, string(reply.Body), replyHeaders(reply), -1, reply.Details)
	}()
	return api.Running
}

// copyHeaders reads the header map once, on the worker thread. Range
// includes the pseudo-headers (:method, :path, :authority, :scheme).
func copyHeaders(h api.RequestHeaderMap) []message.Header {
	var out []message.Header
	h.Range(func(name, value string) bool {
		out = append(out, message.Header{Name: strings.ToLower(name), Value: value})
		return true
	})
	return out
}
