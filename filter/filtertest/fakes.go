// Package filtertest holds fakes of the Envoy golang filter SDK's api
// interfaces, so a filter built on
// github.com/envoyproxy/envoy/contrib/golang/common/go/api can be driven the
// way Envoy drives it, without Envoy. The SDK's own implementation
// (contrib/golang/filters/http/source/go/pkg/http) cannot be linked into a
// test binary: its init calls into Envoy and crashes.
//
// The fakes follow the rules of the v1.39 SDK where a test can notice them:
// after Callbacks.Destroy every stream callback panics with
// ErrFilterDestroyed, a second terminal call panics with ErrNotInGo, and
// RecoverPanic turns any other panic into the SDK's 500 reply. Everything is
// safe for concurrent use (the filter's goroutine against the test's), so
// tests can run with -race.
//
// A typical test:
//
//	filtertest.InstallLogger()
//	cb := filtertest.NewCallbacks()
//	f := filter.Factory(cfg, cb)
//	f.DecodeHeaders(filtertest.NewHeaders(":method", "GET", ":path", "/"), true)
//	reply := cb.WaitReply(t, 5*time.Second)
package filtertest

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/structpb"
)

// Panic values of the SDK (pkg/http/type.go), raised when a callback's C++
// side refuses the call. They are strings, as there; RecoverPanic compares
// the recovered value with them. ErrNotInGo keeps the SDK's spelling.
const (
	ErrRequestFinished = "request has been finished"
	ErrFilterDestroyed = "golang filter has been destroyed"
	ErrNotInGo         = "not proccessing Go"
)

// PanicReplyBody is the body of the 500 that the SDK sends for a panic
// recovered by RecoverPanic (Filter::sendPanicReply in golang_filter.cc).
// It has no headers and empty details; Envoy adds content-type text/plain.
const PanicReplyBody = "error happened in filter\r\n"

func notImplemented(what string) string {
	return "filtertest: " + what + " is not implemented in fake"
}

// ---------------------------------------------------------------------------
// Logger

// LogEntry is one line sent to Envoy's log through api.LogXxx or a
// callbacks' Log.
type LogEntry struct {
	Level   api.LogType
	Message string
}

// String renders the entry as "level: message", e.g. "warn: kafka-upstream: …".
func (e LogEntry) String() string { return e.Level.String() + ": " + e.Message }

type fakeCommonCAPI struct {
	level   atomic.Int64
	mu      sync.Mutex
	entries []LogEntry
}

func (l *fakeCommonCAPI) Log(level api.LogType, message string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, LogEntry{Level: level, Message: message})
}

func (l *fakeCommonCAPI) LogLevel() api.LogType { return api.LogType(l.level.Load()) }

var (
	logger      = newFakeCommonCAPI()
	installOnce sync.Once
)

func newFakeCommonCAPI() *fakeCommonCAPI {
	l := &fakeCommonCAPI{}
	l.level.Store(int64(api.Info)) // Envoy's default level
	return l
}

// InstallLogger installs the fake api.CommonCAPI with api.SetCommonCAPI, so
// that api.LogXxx and api.GetLogLevel work (they panic "To implement"
// without a host). It is safe to call from every test: only the first call
// installs. Call it before starting anything that logs, since the SDK's
// setter is not synchronized. The level starts at api.Info, Envoy's default.
func InstallLogger() {
	installOnce.Do(func() { api.SetCommonCAPI(logger) })
}

// SetLogLevel sets the level Envoy's logger reports (api.GetLogLevel) and
// returns the previous one; messages below it are dropped by api.LogXxx,
// as Envoy does. Tests changing it should restore it (t.Cleanup).
func SetLogLevel(level api.LogType) (previous api.LogType) {
	return api.LogType(logger.level.Swap(int64(level)))
}

// LogEntries returns a copy of every entry logged since the last ResetLogs.
func LogEntries() []LogEntry {
	logger.mu.Lock()
	defer logger.mu.Unlock()
	return append([]LogEntry(nil), logger.entries...)
}

// Logs returns the logged lines, each rendered by LogEntry.String.
func Logs() []string {
	entries := LogEntries()
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.String()
	}
	return out
}

// ResetLogs forgets the entries logged so far. The log is process-wide, so
// tests that assert on it must not run in parallel with tests that log.
func ResetLogs() {
	logger.mu.Lock()
	defer logger.mu.Unlock()
	logger.entries = nil
}

// ---------------------------------------------------------------------------
// Headers

// Headers is a header map: it implements api.RequestHeaderMap,
// api.RequestTrailerMap, api.ResponseHeaderMap and api.ResponseTrailerMap.
// Keys are lower-cased as in Envoy's Go cache; a key may hold several
// values. Range visits keys in insertion order (Envoy's order is a Go map's,
// so code must not depend on it) and, unlike the SDK, does not hold the lock
// while calling f.
type Headers struct {
	mu     sync.Mutex
	keys   []string // insertion order of the keys present
	values map[string][]string
}

var (
	_ api.RequestHeaderMap   = (*Headers)(nil)
	_ api.RequestTrailerMap  = (*Headers)(nil)
	_ api.ResponseHeaderMap  = (*Headers)(nil)
	_ api.ResponseTrailerMap = (*Headers)(nil)
)

// NewHeaders builds a header map from name, value pairs; a repeated name
// adds a value. It panics on an odd number of arguments.
//
//	NewHeaders(":method", "POST", ":path", "/x?a=1", ":authority", "example.com",
//		"content-type", "application/json")
func NewHeaders(pairs ...string) *Headers {
	if len(pairs)%2 != 0 {
		panic("filtertest.NewHeaders: odd number of arguments, want name, value pairs")
	}
	h := &Headers{values: map[string][]string{}}
	for i := 0; i < len(pairs); i += 2 {
		h.Add(pairs[i], pairs[i+1])
	}
	return h
}

// GetRaw returns the first value of key.
func (h *Headers) GetRaw(key string) string {
	v, _ := h.Get(key)
	return v
}

// Get returns the first value of key.
func (h *Headers) Get(key string) (string, bool) {
	key = strings.ToLower(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	vs := h.values[key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// Values returns a copy of the values of key, nil when absent.
func (h *Headers) Values(key string) []string {
	key = strings.ToLower(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.values[key]...)
}

// Set replaces the values of key with value.
func (h *Headers) Set(key, value string) {
	key = strings.ToLower(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.values[key]; !ok {
		h.keys = append(h.keys, key)
	}
	h.values[key] = []string{value}
}

// Add appends value to the values of key.
func (h *Headers) Add(key, value string) {
	key = strings.ToLower(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.values[key]; !ok {
		h.keys = append(h.keys, key)
	}
	h.values[key] = append(h.values[key], value)
}

// Del removes key.
func (h *Headers) Del(key string) {
	key = strings.ToLower(key)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.values[key]; !ok {
		return
	}
	delete(h.values, key)
	for i, k := range h.keys {
		if k == key {
			h.keys = append(h.keys[:i:i], h.keys[i+1:]...)
			break
		}
	}
}

// snapshot returns the pairs in order, copied under the lock.
func (h *Headers) snapshot() [][2]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][2]string
	for _, k := range h.keys {
		for _, v := range h.values[k] {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// Range calls f for each key and value (once per value) until f returns
// false.
func (h *Headers) Range(f func(key, value string) bool) {
	for _, kv := range h.snapshot() {
		if !f(kv[0], kv[1]) {
			return
		}
	}
}

// RangeWithCopy is Range.
func (h *Headers) RangeWithCopy(f func(key, value string) bool) { h.Range(f) }

// GetAllHeaders returns a deep copy of the map.
func (h *Headers) GetAllHeaders() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string][]string, len(h.values))
	for k, vs := range h.values {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Scheme returns :scheme.
func (h *Headers) Scheme() string { return h.GetRaw(":scheme") }

// Method returns :method.
func (h *Headers) Method() string { return h.GetRaw(":method") }

// Host returns :authority.
func (h *Headers) Host() string { return h.GetRaw(":authority") }

// Path returns :path.
func (h *Headers) Path() string { return h.GetRaw(":path") }

// SetMethod sets :method.
func (h *Headers) SetMethod(method string) { h.Set(":method", method) }

// SetHost sets :authority.
func (h *Headers) SetHost(host string) { h.Set(":authority", host) }

// SetPath sets :path.
func (h *Headers) SetPath(path string) { h.Set(":path", path) }

// Status returns :status as a number (api.ResponseHeaderMap).
func (h *Headers) Status() (int, bool) {
	v, ok := h.Get(":status")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// ---------------------------------------------------------------------------
// Buffer

// Buffer is an api.BufferInstance over a byte slice. As with Envoy's buffer,
// Bytes and String return copies that stay valid after the buffer changes,
// and Bytes of an empty buffer is nil.
type Buffer struct {
	mu   sync.Mutex
	data []byte
}

var _ api.BufferInstance = (*Buffer)(nil)

// NewBuffer returns a buffer holding a copy of data.
func NewBuffer(data []byte) *Buffer { return &Buffer{data: append([]byte(nil), data...)} }

// NewBufferString returns a buffer holding s.
func NewBufferString(s string) *Buffer { return &Buffer{data: []byte(s)} }

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data = append(b.data, p...)
	return len(p), nil
}

func (b *Buffer) WriteString(s string) (int, error) { return b.Write([]byte(s)) }

func (b *Buffer) WriteByte(p byte) error {
	_, err := b.Write([]byte{p})
	return err
}

// WriteUint16 appends p in decimal, as the SDK does.
func (b *Buffer) WriteUint16(p uint16) error {
	return b.AppendString(strconv.FormatUint(uint64(p), 10))
}

// WriteUint32 appends p in decimal, as the SDK does.
func (b *Buffer) WriteUint32(p uint32) error {
	return b.AppendString(strconv.FormatUint(uint64(p), 10))
}

// WriteUint64 appends p in decimal, as the SDK does.
func (b *Buffer) WriteUint64(p uint64) error { return b.AppendString(strconv.FormatUint(p, 10)) }

// Bytes returns a copy of the content; nil when empty.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.data) == 0 {
		return nil
	}
	return append([]byte(nil), b.data...)
}

// Drain drops the first offset bytes.
func (b *Buffer) Drain(offset int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if offset <= 0 {
		return
	}
	offset = min(offset, len(b.data))
	b.data = append([]byte(nil), b.data[offset:]...)
}

func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.data)
}

func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data = nil
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.data)
}

func (b *Buffer) Append(data []byte) error {
	_, err := b.Write(data)
	return err
}

func (b *Buffer) Set(data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data = append([]byte(nil), data...)
	return nil
}

func (b *Buffer) SetString(s string) error { return b.Set([]byte(s)) }

func (b *Buffer) Prepend(data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data = append(append([]byte(nil), data...), b.data...)
	return nil
}

func (b *Buffer) PrependString(s string) error { return b.Prepend([]byte(s)) }

func (b *Buffer) AppendString(s string) error { return b.Append([]byte(s)) }

// ---------------------------------------------------------------------------
// StreamInfo

// StreamInfo is an api.StreamInfo answering the common getters from its
// fields; the others panic with a "not implemented in fake" message.
type StreamInfo struct {
	RouteName     string
	FilterChain   string
	Proto         string // "HTTP/1.1", "HTTP/2", …; "" means unknown
	RemoteAddress string
	LocalAddress  string
	Worker        uint32
	// Metadata is the stream's dynamic metadata (DynamicMetadata).
	Metadata Metadata
}

var _ api.StreamInfo = (*StreamInfo)(nil)

func (s *StreamInfo) GetRouteName() string            { return s.RouteName }
func (s *StreamInfo) FilterChainName() string         { return s.FilterChain }
func (s *StreamInfo) Protocol() (string, bool)        { return s.Proto, s.Proto != "" }
func (s *StreamInfo) DownstreamRemoteAddress() string { return s.RemoteAddress }
func (s *StreamInfo) DownstreamLocalAddress() string  { return s.LocalAddress }
func (s *StreamInfo) WorkerID() uint32                { return s.Worker }

func (s *StreamInfo) ResponseCode() (uint32, bool) {
	panic(notImplemented("StreamInfo.ResponseCode"))
}
func (s *StreamInfo) ResponseCodeDetails() (string, bool) {
	panic(notImplemented("StreamInfo.ResponseCodeDetails"))
}
func (s *StreamInfo) AttemptCount() uint32                 { panic(notImplemented("StreamInfo.AttemptCount")) }
func (s *StreamInfo) DynamicMetadata() api.DynamicMetadata { return &s.Metadata }

// Metadata is an api.DynamicMetadata in memory. Set converts values as
// the SDK does (structpb.NewValue, panicking on a type it cannot hold).
type Metadata struct {
	mu sync.Mutex
	ns map[string]map[string]any
}

// Get returns namespace filterName's values (as Set was given them).
func (m *Metadata) Get(filterName string) map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.ns[filterName])
}

// Set sets filterName.key.
func (m *Metadata) Set(filterName, key string, value any) {
	if _, err := structpb.NewValue(value); err != nil {
		panic(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ns == nil {
		m.ns = map[string]map[string]any{}
	}
	if m.ns[filterName] == nil {
		m.ns[filterName] = map[string]any{}
	}
	m.ns[filterName][key] = value
}
func (s *StreamInfo) UpstreamLocalAddress() (string, bool) {
	panic(notImplemented("StreamInfo.UpstreamLocalAddress"))
}
func (s *StreamInfo) UpstreamRemoteAddress() (string, bool) {
	panic(notImplemented("StreamInfo.UpstreamRemoteAddress"))
}
func (s *StreamInfo) UpstreamClusterName() (string, bool) {
	panic(notImplemented("StreamInfo.UpstreamClusterName"))
}
func (s *StreamInfo) FilterState() api.FilterState { panic(notImplemented("StreamInfo.FilterState")) }
func (s *StreamInfo) VirtualClusterName() (string, bool) {
	panic(notImplemented("StreamInfo.VirtualClusterName"))
}
func (s *StreamInfo) DrainConnectionUponCompletion() {
	panic(notImplemented("StreamInfo.DrainConnectionUponCompletion"))
}
func (s *StreamInfo) DownstreamSslConnection() api.SslConnection {
	panic(notImplemented("StreamInfo.DownstreamSslConnection"))
}

// ---------------------------------------------------------------------------
// Callbacks

// LocalReply is one SendLocalReply, with its arguments as given, or the 500
// that RecoverPanic sends for a panic.
type LocalReply struct {
	Status     int
	Body       string
	Headers    map[string][]string
	GrpcStatus int64
	Details    string
	// Panic is the recovered value when RecoverPanic sent this reply
	// (Status 500, Body PanicReplyBody); nil for a SendLocalReply.
	Panic any
}

// TerminalCall is the call that ended the Go side's work on the stream:
// a local reply or a Continue.
type TerminalCall struct {
	// Reply is the local reply; nil for a Continue.
	Reply *LocalReply
	// Continue is the status given to Continue; meaningless when Reply is set.
	Continue api.StatusType
}

func (c TerminalCall) String() string {
	if c.Reply != nil {
		return fmt.Sprintf("SendLocalReply(%d, %q, details %q)", c.Reply.Status, c.Reply.Body, c.Reply.Details)
	}
	return fmt.Sprintf("Continue(%d)", c.Continue)
}

// Callbacks implements api.FilterCallbackHandler, api.DecoderFilterCallbacks
// and api.EncoderFilterCallbacks (the direction accessors return the
// Callbacks itself), like the SDK's httpRequest. Build it with NewCallbacks.
//
// Terminal calls (Continue, SendLocalReply, the 500 of RecoverPanic) are
// recorded and delivered on a channel awaited by WaitTerminal, WaitReply and
// WaitContinue. As in Envoy 1.39:
//   - after Destroy, the stream callbacks (terminal calls, AddData,
//     InjectData, SetUpstreamOverrideHost, StreamInfo, GetProperty,
//     ClearRouteCache, RefreshRouteCache) panic with ErrFilterDestroyed;
//     Log, LogLevel, SecretManager and the direction accessors keep working;
//   - after a first terminal call, the same callbacks panic with ErrNotInGo;
//   - RecoverPanic ignores ErrRequestFinished and ErrFilterDestroyed,
//     remembers ErrNotInGo (the SDK answers 500 at the next entry into Go,
//     which a fake never sees), and answers any other panic with a 500
//     (LocalReply.Panic set), unless the stream is already destroyed or
//     answered.
//
// Every refused call is still counted by TerminalCalls, so a test asserting
// exactly one terminal call catches a second one even though it panicked.
type Callbacks struct {
	// Info is what StreamInfo returns.
	Info *StreamInfo
	// Properties answers GetProperty; a missing key is api.ErrValueNotFound.
	Properties map[string]string
	// Secrets answers SecretManager().GetGenericSecret.
	Secrets map[string]string

	terminal  chan TerminalCall
	recovered chan any

	mu         sync.Mutex
	destroyed  bool
	terminated bool
	attempts   int // terminal calls, refused ones included
	calls      []TerminalCall
	panics     []any
	notInGo    bool
	data       [][]byte
	override   []string
	logs       []LogEntry
}

var (
	_ api.FilterCallbackHandler  = (*Callbacks)(nil)
	_ api.DecoderFilterCallbacks = (*Callbacks)(nil)
	_ api.EncoderFilterCallbacks = (*Callbacks)(nil)
	_ api.SecretManager          = (*Callbacks)(nil)
)

// NewCallbacks returns callbacks for one stream.
func NewCallbacks() *Callbacks {
	return &Callbacks{
		Info:      &StreamInfo{Proto: "HTTP/1.1", RemoteAddress: "127.0.0.1:50000", LocalAddress: "127.0.0.1:10000"},
		terminal:  make(chan TerminalCall, 16),
		recovered: make(chan any, 64),
	}
}

// Destroy marks the stream destroyed, as Envoy does just before it calls the
// filter's OnDestroy: call it, then OnDestroy (or use DestroyStream).
func (c *Callbacks) Destroy() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.destroyed = true
}

// DestroyStream destroys the stream the way Envoy does: the callbacks first,
// then the filter's OnDestroy with reason.
func DestroyStream(f api.StreamFilter, c *Callbacks, reason api.DestroyReason) {
	c.Destroy()
	f.OnDestroy(reason)
}

// Destroyed reports whether Destroy was called.
func (c *Callbacks) Destroyed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.destroyed
}

// refusal returns the SDK's panic value for a stream callback made now, or
// "" when the call is allowed. c.mu must be held.
func (c *Callbacks) refusal() string {
	switch {
	case c.destroyed:
		return ErrFilterDestroyed
	case c.terminated:
		return ErrNotInGo
	}
	return ""
}

// check panics like the SDK when a stream callback is not allowed now.
func (c *Callbacks) check() {
	c.mu.Lock()
	refused := c.refusal()
	c.mu.Unlock()
	if refused != "" {
		panic(refused)
	}
}

// terminate records a terminal call, or panics if one is not allowed.
func (c *Callbacks) terminate(call TerminalCall) {
	c.mu.Lock()
	c.attempts++
	refused := c.refusal()
	if refused == "" {
		c.terminated = true
		c.calls = append(c.calls, call)
	}
	c.mu.Unlock()
	if refused != "" {
		panic(refused)
	}
	c.terminal <- call // buffered; at most one call gets here per stream
}

// Continue records a terminal Continue.
func (c *Callbacks) Continue(status api.StatusType) {
	c.terminate(TerminalCall{Continue: status})
}

// SendLocalReply records a terminal local reply. headers is copied.
func (c *Callbacks) SendLocalReply(responseCode int, bodyText string, headers map[string][]string, grpcStatus int64, details string) {
	var hs map[string][]string
	if headers != nil {
		hs = make(map[string][]string, len(headers))
		for k, vs := range headers {
			hs[k] = append([]string(nil), vs...)
		}
	}
	c.terminate(TerminalCall{Reply: &LocalReply{
		Status: responseCode, Body: bodyText, Headers: hs, GrpcStatus: grpcStatus, Details: details,
	}})
}

// RecoverPanic recovers a panic of the calling goroutine; use it as the SDK
// says: `defer callbacks.DecoderFilterCallbacks().RecoverPanic()`. See
// Callbacks for what it does with the value. Each call, panic or not, is
// signalled to WaitRecovered.
func (c *Callbacks) RecoverPanic() {
	e := recover() // must be called directly by the deferred function
	var reply *LocalReply
	c.mu.Lock()
	if e != nil {
		c.panics = append(c.panics, e)
		switch e {
		case ErrRequestFinished, ErrFilterDestroyed:
			// The SDK only logs these.
		case ErrNotInGo:
			c.notInGo = true
		default:
			// The SDK sends its panic reply through the same checks as
			// SendLocalReply; a refused one is recovered and ignored, or
			// remembered for errNotInGo.
			c.attempts++
			switch c.refusal() {
			case ErrFilterDestroyed:
			case ErrNotInGo:
				c.notInGo = true
			default:
				c.terminated = true
				reply = &LocalReply{Status: 500, Body: PanicReplyBody, Panic: e}
				c.calls = append(c.calls, TerminalCall{Reply: reply})
			}
		}
	}
	c.mu.Unlock()
	if reply != nil {
		c.terminal <- TerminalCall{Reply: reply}
	}
	select {
	case c.recovered <- e:
	default: // nobody is counting this many
	}
}

// Panics returns every value RecoverPanic recovered, in order.
func (c *Callbacks) Panics() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]any(nil), c.panics...)
}

// PendingNotInGo reports whether RecoverPanic recovered ErrNotInGo: the SDK
// would poison the request with a 500 at its next entry into Go.
func (c *Callbacks) PendingNotInGo() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.notInGo
}

// TerminalCalls counts the terminal calls made so far: Continue,
// SendLocalReply and RecoverPanic's 500, including those refused with a
// panic (after Destroy or a first terminal call).
func (c *Callbacks) TerminalCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attempts
}

// Calls returns the terminal calls that were accepted (at most one).
func (c *Callbacks) Calls() []TerminalCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]TerminalCall(nil), c.calls...)
}

// WaitTerminal returns the first terminal call, waiting at most timeout;
// it fails the test when none comes. Call it from the test's goroutine.
func (c *Callbacks) WaitTerminal(t testing.TB, timeout time.Duration) TerminalCall {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case call := <-c.terminal:
		// Keep it readable by later waits.
		c.terminal <- call
		return call
	case <-timer.C:
		t.Fatalf("filtertest: no Continue or SendLocalReply within %s (panics recovered: %v)", timeout, c.Panics())
		return TerminalCall{}
	}
}

// WaitReply awaits the first terminal call and requires it to be a local
// reply.
func (c *Callbacks) WaitReply(t testing.TB, timeout time.Duration) LocalReply {
	t.Helper()
	call := c.WaitTerminal(t, timeout)
	if call.Reply == nil {
		t.Fatalf("filtertest: got %s, want a local reply", call)
	}
	return *call.Reply
}

// WaitContinue awaits the first terminal call and requires it to be a
// Continue; it returns the status given.
func (c *Callbacks) WaitContinue(t testing.TB, timeout time.Duration) api.StatusType {
	t.Helper()
	call := c.WaitTerminal(t, timeout)
	if call.Reply != nil {
		t.Fatalf("filtertest: got %s, want Continue", call)
	}
	return call.Continue
}

// WaitRecovered awaits the next RecoverPanic call and returns the value it
// recovered (nil when there was no panic). A filter defers RecoverPanic as
// the first thing its goroutine does, so this returns when that goroutine
// is finishing: after it, TerminalCalls is final for that goroutine.
func (c *Callbacks) WaitRecovered(t testing.TB, timeout time.Duration) any {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case e := <-c.recovered:
		return e
	case <-timer.C:
		t.Fatalf("filtertest: RecoverPanic not called within %s", timeout)
		return nil
	}
}

// RequireOneTerminal fails the test unless exactly one terminal call was
// made and nothing panicked. Call it once the work is done (after
// WaitRecovered, say).
func (c *Callbacks) RequireOneTerminal(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	attempts, calls, panics := c.attempts, append([]TerminalCall(nil), c.calls...), append([]any(nil), c.panics...)
	c.mu.Unlock()
	if attempts != 1 || len(panics) != 0 {
		t.Fatalf("filtertest: %d terminal calls (accepted: %v), panics %v; want exactly one and no panic", attempts, calls, panics)
	}
}

// WaitEnd is WaitReply, then WaitRecovered and RequireOneTerminal: it
// awaits the local reply and the end of the filter's goroutine, failing the
// test if that goroutine panicked or unless exactly one terminal call was
// made.
func (c *Callbacks) WaitEnd(t testing.TB, timeout time.Duration) LocalReply {
	t.Helper()
	reply := c.WaitReply(t, timeout)
	if e := c.WaitRecovered(t, timeout); e != nil {
		t.Fatalf("the filter's goroutine panicked: %v", e)
	}
	c.RequireOneTerminal(t)
	return reply
}

// AddData records data (header/trailer phases in the SDK).
func (c *Callbacks) AddData(data []byte, _ bool) {
	c.check()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data = append(c.data, append([]byte(nil), data...))
}

// InjectData records data (data phase, from a goroutine, in the SDK).
func (c *Callbacks) InjectData(data []byte) { c.AddData(data, false) }

// Data returns what AddData and InjectData received.
func (c *Callbacks) Data() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.data...)
}

// SetUpstreamOverrideHost records host.
func (c *Callbacks) SetUpstreamOverrideHost(host string, _ bool) error {
	c.check()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.override = append(c.override, host)
	return nil
}

// StreamInfo returns c.Info.
func (c *Callbacks) StreamInfo() api.StreamInfo {
	c.check()
	return c.Info
}

// ClearRouteCache does nothing but the SDK's checks.
func (c *Callbacks) ClearRouteCache() { c.check() }

// RefreshRouteCache does nothing but the SDK's checks.
func (c *Callbacks) RefreshRouteCache() { c.check() }

// Log records the line in the process-wide log (Logs) and in this stream's
// (StreamLogs), whatever the level; it works after Destroy, as in Envoy.
func (c *Callbacks) Log(level api.LogType, msg string) {
	c.mu.Lock()
	c.logs = append(c.logs, LogEntry{Level: level, Message: msg})
	c.mu.Unlock()
	if level >= logger.LogLevel() {
		logger.Log(level, msg)
	}
}

// LogLevel is the level of the fake Envoy log (SetLogLevel).
func (c *Callbacks) LogLevel() api.LogType { return logger.LogLevel() }

// StreamLogs returns what this stream's Log received.
func (c *Callbacks) StreamLogs() []LogEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]LogEntry(nil), c.logs...)
}

// GetProperty answers from c.Properties.
func (c *Callbacks) GetProperty(key string) (string, error) {
	c.check()
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.Properties[key]; ok {
		return v, nil
	}
	return "", api.ErrValueNotFound
}

// SecretManager returns c.
func (c *Callbacks) SecretManager() api.SecretManager { return c }

// GetGenericSecret answers from c.Secrets.
func (c *Callbacks) GetGenericSecret(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.Secrets[name]
	return v, ok
}

// DecoderFilterCallbacks returns c. It never panics: in the SDK it only
// returns a pointer.
func (c *Callbacks) DecoderFilterCallbacks() api.DecoderFilterCallbacks { return c }

// EncoderFilterCallbacks returns c.
func (c *Callbacks) EncoderFilterCallbacks() api.EncoderFilterCallbacks { return c }

// ---------------------------------------------------------------------------
// Config callbacks

// ConfigCallbacks implements api.ConfigCallbackHandler, the callbacks Envoy
// passes to a filter-level Parse (per-route Parse gets nil). Metrics live in
// memory; the same type and name share a metric, as in Envoy.
type ConfigCallbacks struct {
	mu       sync.Mutex
	counters map[string]*Metric
	gauges   map[string]*Metric
}

var _ api.ConfigCallbackHandler = (*ConfigCallbacks)(nil)

// Metric implements api.CounterMetric and api.GaugeMetric.
type Metric struct {
	gauge bool
	v     atomic.Uint64
}

// Increment adds offset (which may be negative for a gauge).
func (m *Metric) Increment(offset int64) { m.v.Add(uint64(offset)) }

// Get returns the value.
func (m *Metric) Get() uint64 { return m.v.Load() }

// Record sets a gauge and adds to a counter, as Envoy does.
func (m *Metric) Record(value uint64) {
	if m.gauge {
		m.v.Store(value)
		return
	}
	m.v.Add(value)
}

func (cc *ConfigCallbacks) define(gauge bool, name string) *Metric {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	set := &cc.counters
	if gauge {
		set = &cc.gauges
	}
	if *set == nil {
		*set = map[string]*Metric{}
	}
	m, ok := (*set)[name]
	if !ok {
		m = &Metric{gauge: gauge}
		(*set)[name] = m
	}
	return m
}

// DefineCounterMetric returns the counter name.
func (cc *ConfigCallbacks) DefineCounterMetric(name string) api.CounterMetric {
	return cc.define(false, name)
}

// DefineGaugeMetric returns the gauge name.
func (cc *ConfigCallbacks) DefineGaugeMetric(name string) api.GaugeMetric {
	return cc.define(true, name)
}

// Counter returns the counter name, or nil if it was never defined.
func (cc *ConfigCallbacks) Counter(name string) *Metric {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.counters[name]
}

// Gauge returns the gauge name, or nil if it was never defined.
func (cc *ConfigCallbacks) Gauge(name string) *Metric {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.gauges[name]
}
