package dynmod

// The cgo binding to Envoy 1.40.0's dynamic-module ABI (v0.2.0), with
// abi_stats.go the only Go files of the package that use cgo; envoy_abi.h
// declares what they use, pin.c keeps the library loaded (a Go runtime
// cannot be unloaded).
//
// Hooks are thin: they turn C values into Go ones, recover panics and call
// the adapter (filter.go, config.go). The envoy* functions wrap the
// callbacks. No Go pointer is ever handed to C: the module's pointers are
// runtime/cgo.Handle values, and everything Envoy reads (reply headers,
// body, details, log lines, result arrays) is copied into C memory first.
// So Envoy runs with Go's default cgo checks.

/*
// The callbacks are resolved by Envoy's dynamic symbol table at dlopen
// (the test binary links the fake's instead): leave them undefined here.
#cgo LDFLAGS: -Wl,--unresolved-symbols=ignore-all -ldl
#include <stdlib.h>
#include "envoy_abi.h"

int kafka_upstream_pin(void); // pin.c
int kafka_upstream_on_exit(void); // pin.c
*/
import "C"

import (
	"maps"
	"runtime/cgo"
	"slices"
	"unsafe"

	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// abiVersion lives in C memory for the whole process: Envoy reads it after
// on_program_init returns.
var abiVersion = C.CString(C.KAFKA_UPSTREAM_ENVOY_ABI_VERSION)

//export envoy_dynamic_module_on_program_init
func envoy_dynamic_module_on_program_init() C.envoy_dynamic_module_type_abi_version_module_ptr {
	if C.kafka_upstream_pin() == 0 {
		logger.Warn("could not pin the module in memory: set dynamic_module_config.do_not_close, or Envoy may unload the Go runtime and crash")
	}
	startDebugServer()
	if C.kafka_upstream_on_exit() == 0 {
		logger.Warn("could not register the exit flush: async records still buffered when Envoy exits are lost without a count")
	}
	return abiVersion
}

//export kafkaUpstreamAtExit
func kafkaUpstreamAtExit() { atExit() }

// ------------------------------------------------------------- configs ---

//export envoy_dynamic_module_on_http_filter_config_new
func envoy_dynamic_module_on_http_filter_config_new(e C.envoy_dynamic_module_type_http_filter_config_envoy_ptr,
	name, cfg C.envoy_dynamic_module_type_envoy_buffer) (h C.envoy_dynamic_module_type_http_filter_config_module_ptr) {
	defer recoverConfig("http_filter_config_new")
	fc, err := newFilterConfig(unsafe.Pointer(e), goString(name), goBytes(cfg))
	if err != nil {
		// Envoy only says the module refused the config: say why first.
		logger.Error("filter_config rejected", "error", err.Error())
		return 0
	}
	return C.envoy_dynamic_module_type_http_filter_config_module_ptr(cgo.NewHandle(fc))
}

//export envoy_dynamic_module_on_http_filter_config_destroy
func envoy_dynamic_module_on_http_filter_config_destroy(h C.envoy_dynamic_module_type_http_filter_config_module_ptr) {
	defer recoverConfig("http_filter_config_destroy")
	handle := cgo.Handle(h)
	handle.Value().(*filterConfig).destroy()
	handle.Delete()
}

//export envoy_dynamic_module_on_http_filter_per_route_config_new
func envoy_dynamic_module_on_http_filter_per_route_config_new(name, cfg C.envoy_dynamic_module_type_envoy_buffer) (h C.envoy_dynamic_module_type_http_filter_per_route_config_module_ptr) {
	defer recoverConfig("http_filter_per_route_config_new")
	rc, err := newRouteConfig(goString(name), goBytes(cfg))
	if err != nil {
		logger.Error("per-route filter_config rejected", "error", err.Error())
		return 0
	}
	return C.envoy_dynamic_module_type_http_filter_per_route_config_module_ptr(cgo.NewHandle(rc))
}

//export envoy_dynamic_module_on_http_filter_per_route_config_destroy
func envoy_dynamic_module_on_http_filter_per_route_config_destroy(h C.envoy_dynamic_module_type_http_filter_per_route_config_module_ptr) {
	defer recoverConfig("http_filter_per_route_config_destroy")
	handle := cgo.Handle(h)
	handle.Value().(*routeConfig).destroy()
	handle.Delete()
}

// ------------------------------------------------------------- streams ---

//export envoy_dynamic_module_on_http_filter_new
func envoy_dynamic_module_on_http_filter_new(ch C.envoy_dynamic_module_type_http_filter_config_module_ptr,
	_ C.envoy_dynamic_module_type_http_filter_envoy_ptr) (h C.envoy_dynamic_module_type_http_filter_module_ptr) {
	// On a panic, 0: Envoy closes the stream.
	defer recoverConfig("http_filter_new")
	f := newFilter(cgo.Handle(ch).Value().(*filterConfig))
	return C.envoy_dynamic_module_type_http_filter_module_ptr(cgo.NewHandle(f))
}

//export envoy_dynamic_module_on_http_filter_request_headers
func envoy_dynamic_module_on_http_filter_request_headers(e C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	h C.envoy_dynamic_module_type_http_filter_module_ptr, endOfStream C.bool) (status C.envoy_dynamic_module_type_on_http_filter_request_headers_status) {
	status = C.envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration
	defer recoverStream("http_filter_request_headers", unsafe.Pointer(e), uintptr(h))
	filterOf(uintptr(h)).onRequestHeaders(unsafe.Pointer(e), bool(endOfStream))
	return status
}

//export envoy_dynamic_module_on_http_filter_request_body
func envoy_dynamic_module_on_http_filter_request_body(e C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	h C.envoy_dynamic_module_type_http_filter_module_ptr, endOfStream C.bool) (status C.envoy_dynamic_module_type_on_http_filter_request_body_status) {
	status = C.envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationNoBuffer
	defer recoverStream("http_filter_request_body", unsafe.Pointer(e), uintptr(h))
	if filterOf(uintptr(h)).onRequestBody(unsafe.Pointer(e), bool(endOfStream)) {
		status = C.envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndBuffer
	}
	return status
}

//export envoy_dynamic_module_on_http_filter_request_trailers
func envoy_dynamic_module_on_http_filter_request_trailers(e C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	h C.envoy_dynamic_module_type_http_filter_module_ptr) (status C.envoy_dynamic_module_type_on_http_filter_request_trailers_status) {
	status = C.envoy_dynamic_module_type_on_http_filter_request_trailers_status_StopIteration
	defer recoverStream("http_filter_request_trailers", unsafe.Pointer(e), uintptr(h))
	filterOf(uintptr(h)).onRequestTrailers(unsafe.Pointer(e))
	return status
}

//export envoy_dynamic_module_on_http_filter_scheduled
func envoy_dynamic_module_on_http_filter_scheduled(e C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	h C.envoy_dynamic_module_type_http_filter_module_ptr, eventID C.uint64_t) {
	defer recoverStream("http_filter_scheduled", unsafe.Pointer(e), uintptr(h))
	filterOf(uintptr(h)).onScheduled(unsafe.Pointer(e), uint64(eventID))
}

//export envoy_dynamic_module_on_http_filter_stream_complete
func envoy_dynamic_module_on_http_filter_stream_complete(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr) {
}

//export envoy_dynamic_module_on_http_filter_destroy
func envoy_dynamic_module_on_http_filter_destroy(h C.envoy_dynamic_module_type_http_filter_module_ptr) {
	defer recoverConfig("http_filter_destroy")
	handle := cgo.Handle(h)
	handle.Value().(*filter).onDestroy()
	handle.Delete()
}

// The response passes through: every reply is the module's own local
// reply, and Envoy does not show that one to the filter that sent it.

//export envoy_dynamic_module_on_http_filter_response_headers
func envoy_dynamic_module_on_http_filter_response_headers(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.bool) C.envoy_dynamic_module_type_on_http_filter_response_headers_status {
	return C.envoy_dynamic_module_type_on_http_filter_response_headers_status_Continue
}

//export envoy_dynamic_module_on_http_filter_response_body
func envoy_dynamic_module_on_http_filter_response_body(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.bool) C.envoy_dynamic_module_type_on_http_filter_response_body_status {
	return C.envoy_dynamic_module_type_on_http_filter_response_body_status_Continue
}

//export envoy_dynamic_module_on_http_filter_response_trailers
func envoy_dynamic_module_on_http_filter_response_trailers(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr) C.envoy_dynamic_module_type_on_http_filter_response_trailers_status {
	return C.envoy_dynamic_module_type_on_http_filter_response_trailers_status_Continue
}

// Required by Envoy 1.40.0, never called (no callouts, not terminal).

//export envoy_dynamic_module_on_http_filter_http_callout_done
func envoy_dynamic_module_on_http_filter_http_callout_done(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.uint64_t, C.envoy_dynamic_module_type_http_callout_result,
	*C.envoy_dynamic_module_type_envoy_http_header, C.size_t, *C.envoy_dynamic_module_type_envoy_buffer, C.size_t) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_headers
func envoy_dynamic_module_on_http_filter_http_stream_headers(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.uint64_t, *C.envoy_dynamic_module_type_envoy_http_header, C.size_t, C.bool) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_data
func envoy_dynamic_module_on_http_filter_http_stream_data(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.uint64_t, *C.envoy_dynamic_module_type_envoy_buffer, C.size_t, C.bool) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_trailers
func envoy_dynamic_module_on_http_filter_http_stream_trailers(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.uint64_t, *C.envoy_dynamic_module_type_envoy_http_header, C.size_t) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_complete
func envoy_dynamic_module_on_http_filter_http_stream_complete(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.uint64_t) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_reset
func envoy_dynamic_module_on_http_filter_http_stream_reset(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.uint64_t, C.envoy_dynamic_module_type_http_stream_reset_reason) {
}

//export envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark
func envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr) {
}

//export envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark
func envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr) {
}

// ----------------------------------------------------------- callbacks ---

// filterOf is the filter behind a handle from on_http_filter_new.
func filterOf(h uintptr) *filter { return cgo.Handle(h).Value().(*filter) }

// routeConfigOf is the per-route config of the stream's route, or nil.
func routeConfigOf(e unsafe.Pointer) *routeConfig {
	h := C.envoy_dynamic_module_callback_get_most_specific_route_config(C.envoy_dynamic_module_type_http_filter_envoy_ptr(e))
	if h == 0 {
		return nil
	}
	rc, _ := cgo.Handle(h).Value().(*routeConfig)
	return rc
}

// envoyLog writes one line to Envoy's log ("dynamic_modules" logger).
func envoyLog(level int, msg string) {
	if msg == "" {
		return
	}
	p := C.CBytes(unsafe.Slice(unsafe.StringData(msg), len(msg)))
	defer C.free(p)
	C.envoy_dynamic_module_callback_log(C.envoy_dynamic_module_type_log_level(level),
		C.envoy_dynamic_module_type_module_buffer{ptr: (*C.char)(p), length: C.size_t(len(msg))})
}

func envoyLogEnabled(level int) bool {
	return bool(C.envoy_dynamic_module_callback_log_enabled(C.envoy_dynamic_module_type_log_level(level)))
}

// envoyRequestHeaders copies the request headers, pseudo-headers included;
// Envoy's strings are only valid during the hook. Names are lower-cased
// here, the one place that does it (Envoy's already are).
func envoyRequestHeaders(e unsafe.Pointer) []message.Header {
	ep := C.envoy_dynamic_module_type_http_filter_envoy_ptr(e)
	n := C.envoy_dynamic_module_callback_http_get_headers_size(ep, C.envoy_dynamic_module_type_http_header_type_RequestHeader)
	if n == 0 {
		return nil
	}
	// Go memory holding only C pointers, which Envoy fills in: allowed by
	// cgo's rules, and no calloc/free round trip per request.
	hs := make([]C.envoy_dynamic_module_type_envoy_http_header, int(n))
	if !bool(C.envoy_dynamic_module_callback_http_get_headers(ep, C.envoy_dynamic_module_type_http_header_type_RequestHeader, &hs[0])) {
		return nil
	}
	// Envoy's strings live only during this hook: one copy of them all
	// into one buffer, the headers' strings slices of it (two allocations
	// instead of two per header). Names are lower-cased on the way (Envoy
	// sends them lower-case already; ASCII only, as HTTP allows).
	size := 0
	for _, h := range hs {
		size += int(h.key_length) + int(h.value_length)
	}
	buf := make([]byte, 0, size)
	out := make([]message.Header, len(hs))
	for i, h := range hs {
		start := len(buf)
		for _, c := range cBytes(h.key_ptr, h.key_length) {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf = append(buf, c)
		}
		mid := len(buf)
		buf = append(buf, cBytes(h.value_ptr, h.value_length)...)
		out[i] = message.Header{Name: sliceString(buf, start, mid), Value: sliceString(buf, mid, len(buf))}
	}
	return out
}

// cBytes views n bytes of C memory (valid only while Envoy says so).
func cBytes(p *C.char, n C.size_t) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// sliceString is buf[from:to] as a string without a copy; buf is never
// written again after the headers are built.
func sliceString(buf []byte, from, to int) string {
	if from == to {
		return ""
	}
	return unsafe.String(&buf[from], to-from)
}

// envoyRequestBody copies the request body Envoy holds: the buffered part
// and, with received (only inside on_http_filter_request_body), the chunk
// of the current call, unless that chunk is the buffered body itself (a
// filter before this one buffered and resumed). At the end of an HTTP/2
// stream the last DATA frame is in the received part only.
func envoyRequestBody(e unsafe.Pointer, received bool) []byte {
	ep := C.envoy_dynamic_module_type_http_filter_envoy_ptr(e)
	kinds := []C.envoy_dynamic_module_type_http_body_type{C.envoy_dynamic_module_type_http_body_type_BufferedRequestBody}
	if received && !bool(C.envoy_dynamic_module_callback_http_received_buffered_request_body(ep)) {
		kinds = append(kinds, C.envoy_dynamic_module_type_http_body_type_ReceivedRequestBody)
	}
	var body []byte
	for _, kind := range kinds {
		n := C.envoy_dynamic_module_callback_http_get_body_chunks_size(ep, kind)
		if n == 0 {
			continue
		}
		arr := (*C.envoy_dynamic_module_type_envoy_buffer)(C.calloc(n, C.sizeof_envoy_dynamic_module_type_envoy_buffer))
		if bool(C.envoy_dynamic_module_callback_http_get_body_chunks(ep, kind, arr)) {
			chunks := unsafe.Slice(arr, int(n))
			size := len(body)
			for _, c := range chunks {
				size += int(c.length)
			}
			body = slices.Grow(body, size-len(body))
			for _, c := range chunks {
				if c.length > 0 {
					body = append(body, unsafe.Slice((*byte)(unsafe.Pointer(c.ptr)), int(c.length))...)
				}
			}
		}
		C.free(unsafe.Pointer(arr))
	}
	return body
}

// envoyBufferLimit is the stream's buffer limit in bytes, 0 for none.
func envoyBufferLimit(e unsafe.Pointer) uint64 {
	return uint64(C.envoy_dynamic_module_callback_http_get_buffer_limit(C.envoy_dynamic_module_type_http_filter_envoy_ptr(e)))
}

// envoySendResponse sends r as a local reply: status, content-type
// application/json, r.Headers (sorted), body and details. Everything is
// copied into one C block for the call. Envoy may end the stream, and so
// call on_http_filter_destroy, before this returns.
func envoySendResponse(e unsafe.Pointer, r ingest.Reply) {
	names := []string{"content-type"}
	values := []string{ingest.ContentType}
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		if name == "content-type" {
			continue
		}
		names = append(names, name)
		values = append(values, r.Headers[name])
	}
	headerBytes := len(names) * C.sizeof_envoy_dynamic_module_type_module_http_header
	size := headerBytes + len(r.Body) + len(r.Details)
	for i := range names {
		size += len(names[i]) + len(values[i])
	}
	block := C.malloc(C.size_t(size))
	defer C.free(block)

	headers := unsafe.Slice((*C.envoy_dynamic_module_type_module_http_header)(block), len(names))
	data := unsafe.Slice((*byte)(block), size)[headerBytes:]
	off := 0
	put := func(s []byte) (*C.char, C.size_t) {
		if len(s) == 0 {
			return nil, 0
		}
		p := unsafe.Pointer(&data[off])
		off += copy(data[off:], s)
		return (*C.char)(p), C.size_t(len(s))
	}
	for i := range names {
		headers[i].key_ptr, headers[i].key_length = put([]byte(names[i]))
		headers[i].value_ptr, headers[i].value_length = put([]byte(values[i]))
	}
	var body, details C.envoy_dynamic_module_type_module_buffer
	body.ptr, body.length = put(r.Body)
	details.ptr, details.length = put([]byte(r.Details))

	C.envoy_dynamic_module_callback_http_send_response(C.envoy_dynamic_module_type_http_filter_envoy_ptr(e),
		C.uint32_t(r.Status), &headers[0], C.size_t(len(headers)), body, details)
}

// Scheduler: created on the worker thread, committed from the publishing
// goroutine (the only callback it may make), deleted exactly once.

func envoySchedulerNew(e unsafe.Pointer) unsafe.Pointer {
	return unsafe.Pointer(C.envoy_dynamic_module_callback_http_filter_scheduler_new(C.envoy_dynamic_module_type_http_filter_envoy_ptr(e)))
}

func envoySchedulerCommit(s unsafe.Pointer, eventID uint64) {
	C.envoy_dynamic_module_callback_http_filter_scheduler_commit(C.envoy_dynamic_module_type_http_filter_scheduler_module_ptr(s), C.uint64_t(eventID))
}

func envoySchedulerDelete(s unsafe.Pointer) {
	C.envoy_dynamic_module_callback_http_filter_scheduler_delete(C.envoy_dynamic_module_type_http_filter_scheduler_module_ptr(s))
}

func goString(b C.envoy_dynamic_module_type_envoy_buffer) string {
	if b.length == 0 {
		return ""
	}
	return C.GoStringN(b.ptr, C.int(b.length))
}

func goBytes(b C.envoy_dynamic_module_type_envoy_buffer) []byte {
	if b.length == 0 {
		return nil
	}
	return C.GoBytes(unsafe.Pointer(b.ptr), C.int(b.length))
}
