// Package envoyfake is a fake Envoy for the tests of package dynmod: it
// defines, in C, the ABI callbacks dynmod calls (envoy_abi.h), and drives
// dynmod's hooks through C as Envoy 1.40.0 does, so that the tests cover
// the cgo binding too (cgo is not allowed in _test.go files).
//
// What it models of Envoy: header and body memory valid only during the
// hook that reads it (poisoned and freed afterwards), buffering of the
// chunks a hook asked to buffer (with the buffer limit's 413), the
// scheduler (a commit from any goroutine, delivered on the test's
// goroutine by RunScheduled, dropped once the stream is destroyed) and a
// local reply that ends the stream: send_response calls the destroy hook
// before it returns, as Envoy does. Misuse (a scheduler committed after
// its deletion, deleted twice, a reply to a destroyed stream, a callback
// on an unknown stream) is recorded in Violations.
//
// Only tests import it; linking it into the module would shadow Envoy's
// callbacks (e2e/dynmod-check.sh fails a module that defines any).
package envoyfake

/*
#cgo CFLAGS: -I${SRCDIR}/..
#cgo LDFLAGS: -Wl,--unresolved-symbols=ignore-all
#include <stdlib.h>
#include <string.h>
#include "envoy_abi.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	_ "github.com/kafka-upstream/envoy-kafka-upstream/dynmod" // the hooks
)

// Hook results, as Envoy reads them.
const (
	StopIteration          = 1 // request headers and trailers
	StopIterationAndBuffer = 1 // request body
	StopIterationNoBuffer  = 3 // request body
)

// Reply is one send_response, or Envoy's own 413 (FromEnvoy).
type Reply struct {
	Status    int
	Headers   [][2]string
	Body      string
	Details   string
	FromEnvoy bool
}

// Header returns the first value of name in r's headers.
func (r Reply) Header(name string) (string, bool) {
	for _, h := range r.Headers {
		if h[0] == name {
			return h[1], true
		}
	}
	return "", false
}

// Log is one line the module sent to Envoy's log.
type Log struct {
	Level   int // 0 trace … 5 critical
	Message string
}

var state = struct {
	sync.Mutex
	streams    map[unsafe.Pointer]*Stream
	schedulers map[unsafe.Pointer]*scheduler
	logs       []Log
	violations []string
	minLevel   int
}{streams: map[unsafe.Pointer]*Stream{}, schedulers: map[unsafe.Pointer]*scheduler{}, minLevel: 1}

type scheduler struct {
	stream  *Stream
	deleted int
}

func violation(format string, args ...any) {
	state.Lock()
	defer state.Unlock()
	state.violations = append(state.violations, fmt.Sprintf(format, args...))
}

// Violations returns the misuses recorded so far and forgets them.
func Violations() []string {
	state.Lock()
	defer state.Unlock()
	v := state.violations
	state.violations = nil
	return v
}

// Logs returns what the module logged so far.
func Logs() []Log {
	state.Lock()
	defer state.Unlock()
	return append([]Log(nil), state.logs...)
}

// SetLogLevel sets the lowest level log_enabled accepts (1, debug, by
// default).
func SetLogLevel(level int) {
	state.Lock()
	defer state.Unlock()
	state.minLevel = level
}

// ProgramInit calls envoy_dynamic_module_on_program_init and returns the
// ABI version the module states.
func ProgramInit() string {
	return C.GoString(C.envoy_dynamic_module_on_program_init())
}

// cBuffer copies b into C memory; free it with freeBuffer.
func cBuffer(b []byte) C.envoy_dynamic_module_type_envoy_buffer {
	if len(b) == 0 {
		return C.envoy_dynamic_module_type_envoy_buffer{}
	}
	return C.envoy_dynamic_module_type_envoy_buffer{ptr: (*C.char)(C.CBytes(b)), length: C.size_t(len(b))}
}

// freeBuffer poisons then frees b: a module that kept Envoy's pointer past
// the hook reads garbage.
func freeBuffer(b C.envoy_dynamic_module_type_envoy_buffer) {
	if b.ptr != nil {
		C.memset(unsafe.Pointer(b.ptr), 0x5a, b.length)
		C.free(unsafe.Pointer(b.ptr))
	}
}

// ConfigNew loads a filter-level config, as Envoy does for a
// DynamicModuleFilter: filter_name and filter_config's bytes. 0 means the
// module refused it. The config defines its stats (stats.go) on the way.
func ConfigNew(name string, config []byte) uintptr {
	n, c := cBuffer([]byte(name)), cBuffer(config)
	defer freeBuffer(n)
	defer freeBuffer(c)
	envoyPtr := C.malloc(1) // the DynamicModuleHttpFilterConfig, never read
	return uintptr(C.envoy_dynamic_module_on_http_filter_config_new(C.envoy_dynamic_module_type_http_filter_config_envoy_ptr(envoyPtr), n, c))
}

// ConfigDestroy destroys a config from ConfigNew.
func ConfigDestroy(h uintptr) {
	C.envoy_dynamic_module_on_http_filter_config_destroy(C.envoy_dynamic_module_type_http_filter_config_module_ptr(h))
}

// PerRouteConfigNew loads a per-route config (DynamicModuleFilterPerRoute).
func PerRouteConfigNew(name string, config []byte) uintptr {
	n, c := cBuffer([]byte(name)), cBuffer(config)
	defer freeBuffer(n)
	defer freeBuffer(c)
	return uintptr(C.envoy_dynamic_module_on_http_filter_per_route_config_new(n, c))
}

// PerRouteConfigDestroy destroys a config from PerRouteConfigNew.
func PerRouteConfigDestroy(h uintptr) {
	C.envoy_dynamic_module_on_http_filter_per_route_config_destroy(C.envoy_dynamic_module_type_http_filter_per_route_config_module_ptr(h))
}

// Stream is one HTTP stream through the module's filter.
type Stream struct {
	ptr    unsafe.Pointer // the fake DynamicModuleHttpFilter
	module C.envoy_dynamic_module_type_http_filter_module_ptr

	// Set before the first hook.
	RouteConfig        uintptr // what get_most_specific_route_config returns
	BufferLimit        uint64  // 0: none
	ReceivedIsBuffered bool    // what received_buffered_request_body says

	mu         sync.Mutex
	headers    []C.envoy_dynamic_module_type_envoy_http_header // during a headers hook only
	headerType C.envoy_dynamic_module_type_http_header_type
	buffered   []C.envoy_dynamic_module_type_envoy_buffer
	received   *C.envoy_dynamic_module_type_envoy_buffer // during request_body only
	replies    []Reply
	destroyed  bool
	created    int // schedulers
	deleted    int
	commits    chan uint64
	metadata   map[string]any // dynamic metadata, "ns.key"
}

// NewStream creates the module's filter for a new stream of config h.
func NewStream(h uintptr) *Stream {
	s := &Stream{ptr: C.malloc(1), commits: make(chan uint64, 16)}
	state.Lock()
	state.streams[s.ptr] = s
	state.Unlock()
	s.module = C.envoy_dynamic_module_on_http_filter_new(C.envoy_dynamic_module_type_http_filter_config_module_ptr(h), s.envoyPtr())
	return s
}

// Module reports the filter pointer the module returned (0: refused).
func (s *Stream) Module() uintptr { return uintptr(s.module) }

func (s *Stream) envoyPtr() C.envoy_dynamic_module_type_http_filter_envoy_ptr {
	return C.envoy_dynamic_module_type_http_filter_envoy_ptr(s.ptr)
}

func streamOf(p C.envoy_dynamic_module_type_http_filter_envoy_ptr, callback string) *Stream {
	state.Lock()
	s := state.streams[unsafe.Pointer(p)]
	state.Unlock()
	if s == nil {
		violation("%s on an unknown stream %p", callback, unsafe.Pointer(p))
		return nil
	}
	s.mu.Lock()
	destroyed := s.destroyed
	s.mu.Unlock()
	if destroyed {
		violation("%s on a destroyed stream", callback)
	}
	return s
}

func (s *Stream) setHeaders(typ C.envoy_dynamic_module_type_http_header_type, hs [][2]string) func() {
	arr := make([]C.envoy_dynamic_module_type_envoy_http_header, len(hs))
	var bufs []C.envoy_dynamic_module_type_envoy_buffer
	for i, h := range hs {
		k, v := cBuffer([]byte(h[0])), cBuffer([]byte(h[1]))
		bufs = append(bufs, k, v)
		arr[i] = C.envoy_dynamic_module_type_envoy_http_header{key_ptr: k.ptr, key_length: k.length, value_ptr: v.ptr, value_length: v.length}
	}
	s.mu.Lock()
	s.headers, s.headerType = arr, typ
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.headers = nil
		s.mu.Unlock()
		for _, b := range bufs {
			freeBuffer(b)
		}
	}
}

// RequestHeaders calls on_http_filter_request_headers with hs (names as
// given: Envoy's are lower-case, a test may check the module's lowering).
func (s *Stream) RequestHeaders(hs [][2]string, endOfStream bool) int {
	defer s.setHeaders(C.envoy_dynamic_module_type_http_header_type_RequestHeader, hs)()
	return int(C.envoy_dynamic_module_on_http_filter_request_headers(s.envoyPtr(), s.module, C.bool(endOfStream)))
}

// RequestBody calls on_http_filter_request_body with chunk as the received
// body. If the hook asks for buffering, the chunk joins the buffered body,
// and a buffered body over BufferLimit ends the stream with Envoy's 413.
func (s *Stream) RequestBody(chunk []byte, endOfStream bool) int {
	received := cBuffer(chunk)
	s.mu.Lock()
	s.received = &received
	s.mu.Unlock()
	status := int(C.envoy_dynamic_module_on_http_filter_request_body(s.envoyPtr(), s.module, C.bool(endOfStream)))
	s.mu.Lock()
	s.received = nil
	over := false
	if status == StopIterationAndBuffer && !s.destroyed && len(chunk) > 0 {
		s.buffered = append(s.buffered, cBuffer(chunk))
		total := uint64(0)
		for _, b := range s.buffered {
			total += uint64(b.length)
		}
		over = s.BufferLimit > 0 && total > s.BufferLimit
	}
	s.mu.Unlock()
	freeBuffer(received)
	if over {
		s.mu.Lock()
		s.replies = append(s.replies, Reply{Status: 413, Body: "Payload Too Large", Details: "request_payload_too_large", FromEnvoy: true})
		s.mu.Unlock()
		s.Destroy()
	}
	return status
}

// RequestTrailers calls on_http_filter_request_trailers.
func (s *Stream) RequestTrailers(hs [][2]string) int {
	defer s.setHeaders(C.envoy_dynamic_module_type_http_header_type_RequestTrailer, hs)()
	return int(C.envoy_dynamic_module_on_http_filter_request_trailers(s.envoyPtr(), s.module))
}

// WaitCommit waits up to timeout for a scheduler commit of the stream.
func (s *Stream) WaitCommit(timeout time.Duration) (eventID uint64, ok bool) {
	select {
	case id := <-s.commits:
		return id, true
	case <-time.After(timeout):
		return 0, false
	}
}

// RunScheduled waits for a commit and calls on_http_filter_scheduled with
// it, as Envoy's dispatcher does on the stream's worker thread, unless
// the stream was destroyed in between (Envoy drops the event then).
func (s *Stream) RunScheduled(timeout time.Duration) bool {
	id, ok := s.WaitCommit(timeout)
	if !ok {
		return false
	}
	if !s.Destroyed() {
		C.envoy_dynamic_module_on_http_filter_scheduled(s.envoyPtr(), s.module, C.uint64_t(id))
	}
	return true
}

// Destroy ends the stream as Envoy does (end of the exchange, client
// reset, timeout): stream_complete, then destroy. Once only.
func (s *Stream) Destroy() {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if s.module != 0 {
		C.envoy_dynamic_module_on_http_filter_stream_complete(s.envoyPtr(), s.module)
	}
	s.mu.Lock()
	s.destroyed = true
	buffered := s.buffered
	s.buffered = nil
	s.mu.Unlock()
	if s.module != 0 { // Envoy skips a filter the module refused
		C.envoy_dynamic_module_on_http_filter_destroy(s.module)
	}
	for _, b := range buffered {
		freeBuffer(b)
	}
}

// Destroyed reports whether the stream was destroyed.
func (s *Stream) Destroyed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.destroyed
}

// Replies returns the replies sent so far.
func (s *Stream) Replies() []Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Reply(nil), s.replies...)
}

// Schedulers returns how many schedulers the stream's filter created and
// deleted.
func (s *Stream) Schedulers() (created, deleted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created, s.deleted
}

// ---------------------------------------------------------- callbacks ---

//export envoy_dynamic_module_callback_log
func envoy_dynamic_module_callback_log(level C.envoy_dynamic_module_type_log_level, msg C.envoy_dynamic_module_type_module_buffer) {
	line := C.GoStringN(msg.ptr, C.int(msg.length))
	state.Lock()
	defer state.Unlock()
	state.logs = append(state.logs, Log{Level: int(level), Message: line})
}

//export envoy_dynamic_module_callback_log_enabled
func envoy_dynamic_module_callback_log_enabled(level C.envoy_dynamic_module_type_log_level) C.bool {
	state.Lock()
	defer state.Unlock()
	return int(level) >= state.minLevel
}

//export envoy_dynamic_module_callback_http_get_headers_size
func envoy_dynamic_module_callback_http_get_headers_size(p C.envoy_dynamic_module_type_http_filter_envoy_ptr, typ C.envoy_dynamic_module_type_http_header_type) C.size_t {
	s := streamOf(p, "get_headers_size")
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.headers == nil || s.headerType != typ {
		return 0
	}
	return C.size_t(len(s.headers))
}

//export envoy_dynamic_module_callback_http_get_headers
func envoy_dynamic_module_callback_http_get_headers(p C.envoy_dynamic_module_type_http_filter_envoy_ptr, typ C.envoy_dynamic_module_type_http_header_type,
	out *C.envoy_dynamic_module_type_envoy_http_header) C.bool {
	s := streamOf(p, "get_headers")
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.headers == nil || s.headerType != typ {
		return false
	}
	copy(unsafe.Slice(out, len(s.headers)), s.headers)
	return true
}

func (s *Stream) chunks(typ C.envoy_dynamic_module_type_http_body_type) []C.envoy_dynamic_module_type_envoy_buffer {
	switch typ {
	case C.envoy_dynamic_module_type_http_body_type_BufferedRequestBody:
		return s.buffered
	case C.envoy_dynamic_module_type_http_body_type_ReceivedRequestBody:
		if s.received == nil || s.received.length == 0 {
			return nil
		}
		return []C.envoy_dynamic_module_type_envoy_buffer{*s.received}
	}
	return nil
}

//export envoy_dynamic_module_callback_http_get_body_chunks_size
func envoy_dynamic_module_callback_http_get_body_chunks_size(p C.envoy_dynamic_module_type_http_filter_envoy_ptr, typ C.envoy_dynamic_module_type_http_body_type) C.size_t {
	s := streamOf(p, "get_body_chunks_size")
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return C.size_t(len(s.chunks(typ)))
}

//export envoy_dynamic_module_callback_http_get_body_chunks
func envoy_dynamic_module_callback_http_get_body_chunks(p C.envoy_dynamic_module_type_http_filter_envoy_ptr, typ C.envoy_dynamic_module_type_http_body_type,
	out *C.envoy_dynamic_module_type_envoy_buffer) C.bool {
	s := streamOf(p, "get_body_chunks")
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	chunks := s.chunks(typ)
	copy(unsafe.Slice(out, len(chunks)), chunks)
	return len(chunks) > 0
}

//export envoy_dynamic_module_callback_http_received_buffered_request_body
func envoy_dynamic_module_callback_http_received_buffered_request_body(p C.envoy_dynamic_module_type_http_filter_envoy_ptr) C.bool {
	s := streamOf(p, "received_buffered_request_body")
	return C.bool(s != nil && s.ReceivedIsBuffered)
}

//export envoy_dynamic_module_callback_http_get_buffer_limit
func envoy_dynamic_module_callback_http_get_buffer_limit(p C.envoy_dynamic_module_type_http_filter_envoy_ptr) C.uint64_t {
	s := streamOf(p, "get_buffer_limit")
	if s == nil {
		return 0
	}
	return C.uint64_t(s.BufferLimit)
}

//export envoy_dynamic_module_callback_get_most_specific_route_config
func envoy_dynamic_module_callback_get_most_specific_route_config(p C.envoy_dynamic_module_type_http_filter_envoy_ptr) C.envoy_dynamic_module_type_http_filter_per_route_config_module_ptr {
	s := streamOf(p, "get_most_specific_route_config")
	if s == nil {
		return 0
	}
	return C.envoy_dynamic_module_type_http_filter_per_route_config_module_ptr(s.RouteConfig)
}

//export envoy_dynamic_module_callback_http_send_response
func envoy_dynamic_module_callback_http_send_response(p C.envoy_dynamic_module_type_http_filter_envoy_ptr, status C.uint32_t,
	headers *C.envoy_dynamic_module_type_module_http_header, n C.size_t,
	body, details C.envoy_dynamic_module_type_module_buffer) {
	s := streamOf(p, "send_response")
	if s == nil {
		return
	}
	r := Reply{
		Status:  int(status),
		Body:    C.GoStringN(body.ptr, C.int(body.length)),
		Details: C.GoStringN(details.ptr, C.int(details.length)),
	}
	if n > 0 {
		for _, h := range unsafe.Slice(headers, int(n)) {
			r.Headers = append(r.Headers, [2]string{C.GoStringN(h.key_ptr, C.int(h.key_length)), C.GoStringN(h.value_ptr, C.int(h.value_length))})
		}
	}
	s.mu.Lock()
	s.replies = append(s.replies, r)
	s.mu.Unlock()
	// A local reply ends the stream: Envoy destroys the filter before
	// send_response returns.
	s.Destroy()
}

//export envoy_dynamic_module_callback_http_filter_scheduler_new
func envoy_dynamic_module_callback_http_filter_scheduler_new(p C.envoy_dynamic_module_type_http_filter_envoy_ptr) C.envoy_dynamic_module_type_http_filter_scheduler_module_ptr {
	s := streamOf(p, "scheduler_new")
	if s == nil {
		return nil
	}
	ptr := C.malloc(1) // never freed: a stale pointer must stay recognisable
	state.Lock()
	state.schedulers[ptr] = &scheduler{stream: s}
	state.Unlock()
	s.mu.Lock()
	s.created++
	s.mu.Unlock()
	return C.envoy_dynamic_module_type_http_filter_scheduler_module_ptr(ptr)
}

//export envoy_dynamic_module_callback_http_filter_scheduler_commit
func envoy_dynamic_module_callback_http_filter_scheduler_commit(p C.envoy_dynamic_module_type_http_filter_scheduler_module_ptr, id C.uint64_t) {
	state.Lock()
	sc := state.schedulers[unsafe.Pointer(p)]
	state.Unlock()
	switch {
	case sc == nil:
		violation("commit on an unknown scheduler")
	case sc.deleted > 0:
		violation("commit on a deleted scheduler (use after free in Envoy)")
	default:
		select {
		case sc.stream.commits <- uint64(id):
		default:
			violation("more than 16 commits pending")
		}
	}
}

//export envoy_dynamic_module_callback_http_filter_scheduler_delete
func envoy_dynamic_module_callback_http_filter_scheduler_delete(p C.envoy_dynamic_module_type_http_filter_scheduler_module_ptr) {
	state.Lock()
	sc := state.schedulers[unsafe.Pointer(p)]
	if sc != nil {
		sc.deleted++
	}
	state.Unlock()
	switch {
	case sc == nil:
		violation("delete of an unknown scheduler")
	case sc.deleted > 1:
		violation("scheduler deleted %d times (double free in Envoy)", sc.deleted)
	default:
		sc.stream.mu.Lock()
		sc.stream.deleted++
		sc.stream.mu.Unlock()
	}
}
