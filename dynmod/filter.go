// Package dynmod is the Envoy dynamic-module adapter: a Go c-shared
// library that stock Envoy (envoy.filters.http.dynamic_modules, 1.40.0)
// loads in-process. Each HTTP request is buffered whole, handed to the
// shared ingest pipeline on a goroutine, and answered with a local reply
// that Envoy sends from the worker thread the request belongs to.
//
// abi.go and abi_stats.go are the cgo binding to Envoy's C ABI (declared
// in envoy_abi.h); the rest is plain Go. The registration-only main is envoy/dynmod; the
// tests drive the hooks through a fake Envoy, package envoyfake.
package dynmod

import (
	"context"
	"fmt"
	"runtime/cgo"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// eventReply is the one event a stream's scheduler carries: the reply is
// ready.
const eventReply = 1

// Counters for leak checks: streams whose filter Envoy has not destroyed,
// and publishing goroutines still running.
var liveFilters, publishing atomic.Int64

// filter is one HTTP stream. The hooks run on the stream's Envoy worker
// thread, one at a time; only the publishing goroutine runs elsewhere, and
// mu orders it against them.
type filter struct {
	config   *filterConfig
	headers  []message.Header
	pipeline *ingest.Pipeline

	mu        sync.Mutex
	started   bool               // the request went to the pipeline
	replied   bool               // send_response was called: never again
	destroyed bool               // Envoy destroyed the stream: no callback any more
	scheduler unsafe.Pointer     // Envoy's, until deleted (exactly once)
	cancel    context.CancelFunc // cancels the publish when the stream goes
	reply     *ingest.Reply      // the goroutine's result, until sent
}

func newFilter(c *filterConfig) *filter {
	liveFilters.Add(1)
	return &filter{config: c}
}

// onRequestHeaders keeps the headers and picks the route's config. A
// refused request (CONNECT) is answered at once, before anything is
// buffered; a bodyless one is published at once; otherwise the body is
// awaited. The hook returns StopIteration in every case: nothing goes on
// to the router.
func (f *filter) onRequestHeaders(e unsafe.Pointer, endOfStream bool) {
	f.headers = envoyRequestHeaders(e)
	refusal := ingest.CheckHeaders(f.headers)
	if refusal == nil {
		t := f.target(e)
		if t.invalid != nil {
			refusal = t.invalid
		}
		f.pipeline = t.pipeline
	}
	if refusal != nil {
		processMetrics.Refused(refusal.Details)
		f.respond(e, *refusal)
		return
	}
	if endOfStream {
		f.start(e, nil)
	}
}

// target is the config of the stream's route: the most specific per-route
// config, laid over the filter's if it inherits, or the filter's own.
func (f *filter) target(e unsafe.Pointer) target {
	if rc := routeConfigOf(e); rc != nil {
		return rc.over(f.config)
	}
	return target{pipeline: f.config.pipeline}
}

// onRequestBody has Envoy buffer every chunk (413 past its buffer limit)
// until the last, then publishes the buffered part and the last chunk.
// It reports whether to keep buffering (StopIterationAndBuffer).
func (f *filter) onRequestBody(e unsafe.Pointer, endOfStream bool) bool {
	if f.done() {
		return false
	}
	if !endOfStream {
		return true
	}
	body := envoyRequestBody(e, true)
	if limit := envoyBufferLimit(e); limit > 0 && uint64(len(body)) > limit {
		// Over HTTP/2 the last DATA frame comes with end_of_stream before
		// Envoy buffers it; buffering it (StopIterationAndBuffer) is what
		// makes Envoy answer 413, as it does for HTTP/1.1 while the body
		// comes in. Publishing first would land a record whose client is
		// told 413.
		logger.Debug("request body over Envoy's buffer limit: not published, Envoy answers 413",
			"bytes", len(body), "limit", limit)
		return true
	}
	f.start(e, body)
	return true
}

// onRequestTrailers ends a request whose body, if any, is all buffered:
// with trailers, the last body chunk came with end_of_stream false.
func (f *filter) onRequestTrailers(e unsafe.Pointer) {
	if f.done() {
		return
	}
	f.start(e, envoyRequestBody(e, false))
}

// done reports a stream already published or answered.
func (f *filter) done() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started || f.replied
}

// start publishes on a goroutine of its own: the produce must not block
// Envoy's worker thread. The goroutine's only callback is the scheduler's
// commit; the reply is sent from onScheduled, on the worker thread.
func (f *filter) start(e unsafe.Pointer, body []byte) {
	req := &message.Request{Headers: f.headers, Body: body}
	ctx, cancel := context.WithCancel(context.Background())
	scheduler := envoySchedulerNew(e)
	f.mu.Lock()
	f.started, f.scheduler, f.cancel = true, scheduler, cancel
	f.mu.Unlock()
	publishing.Add(1)
	go f.publish(ctx, req)
}

func (f *filter) publish(ctx context.Context, req *message.Request) {
	delivered := false
	defer func() {
		// Last line of defence: an unrecovered goroutine panic kills Envoy.
		if r := recover(); r != nil {
			logger.Error("panic while delivering a reply", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		left := publishing.Add(-1)
		if !delivered {
			logger.Debug("publish ended after its stream went", "still_publishing", left)
		}
	}()
	delivered = f.deliver(f.pipeline.Handle(ctx, req)) // bounded by produce_timeout
}

// deliver hands the reply to the worker thread. Holding mu across the
// commit keeps onDestroy from deleting the scheduler under it; once the
// stream is destroyed there is nobody to answer and no scheduler to use.
func (f *filter) deliver(r ingest.Reply) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.destroyed || f.scheduler == nil {
		return false
	}
	f.reply = &r
	envoySchedulerCommit(f.scheduler, eventReply)
	return true
}

// onScheduled runs on the worker thread after the commit: the scheduler
// is done with, and the reply goes out. Envoy drops the event if the
// stream was destroyed in between.
func (f *filter) onScheduled(e unsafe.Pointer, _ uint64) {
	f.mu.Lock()
	r, scheduler, cancel := f.reply, f.scheduler, f.cancel
	f.reply, f.scheduler = nil, nil
	f.mu.Unlock()
	if scheduler != nil {
		envoySchedulerDelete(scheduler)
	}
	if cancel != nil {
		cancel() // the goroutine is done; release the context
	}
	if r != nil {
		f.respond(e, *r)
	}
}

// respond sends the stream's one reply. It may destroy the stream before
// it returns (Envoy ends a stream whose local reply is out), so nothing
// of the stream is touched after it.
func (f *filter) respond(e unsafe.Pointer, r ingest.Reply) {
	f.mu.Lock()
	if f.replied || f.destroyed {
		f.mu.Unlock()
		return
	}
	f.replied = true
	f.mu.Unlock()
	if r.Details == ingest.MisconfiguredDetails {
		logger.Error("misconfigured", "reply", string(r.Body))
	}
	if r.Placed.Records > 0 {
		envoySetPlacement(e, &r.Placed)
	}
	envoySendResponse(e, r)
}

// onDestroy runs on the worker thread when the stream ends, normally or
// by reset (client gone, timeout): a publish in flight is cancelled and
// will not reply, and the scheduler goes if onScheduled did not take it.
func (f *filter) onDestroy() {
	f.mu.Lock()
	if f.destroyed {
		f.mu.Unlock()
		return
	}
	f.destroyed = true
	scheduler, cancel := f.scheduler, f.cancel
	abandoned := f.started && !f.replied
	f.scheduler, f.reply = nil, nil
	f.mu.Unlock()
	if scheduler != nil {
		envoySchedulerDelete(scheduler)
	}
	if cancel != nil {
		cancel()
	}
	streams := liveFilters.Add(-1)
	if abandoned {
		// The client went (or Envoy timed the stream out) while its
		// record was being published: the record may still land.
		logger.Debug("stream gone before its reply: publish cancelled", "streams", streams, "publishing", publishing.Load())
	}
}

// recoverStream is deferred by the stream hooks: a panic there would
// unwind into Envoy's C++ and abort the process. It is logged, and the
// stream, unless already answered or gone, gets the JSON 500.
func recoverStream(hook string, e unsafe.Pointer, h uintptr) {
	r := recover()
	if r == nil {
		return
	}
	logger.Error("panic in a hook", "hook", hook, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	if f := lookupFilter(h); f != nil && e != nil {
		processMetrics.Refused("kafka_upstream_internal_error")
		f.respond(e, ingest.InternalError())
	}
}

// recoverConfig is deferred by the hooks without a stream to answer: the
// hook's zero result (NULL: a config rejected, a stream closed) stands.
func recoverConfig(hook string) {
	if r := recover(); r != nil {
		logger.Error("panic in a hook", "hook", hook, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}

// lookupFilter is filterOf for a handle that may be bad (0, deleted).
func lookupFilter(h uintptr) (f *filter) {
	defer func() { _ = recover() }()
	if h == 0 {
		return nil
	}
	f, _ = cgo.Handle(h).Value().(*filter)
	return f
}
