package filtertest

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// run calls fn in a goroutine guarded like a filter's, and waits for it.
func run(c *Callbacks, fn func(api.DecoderFilterCallbacks)) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cb := c.DecoderFilterCallbacks()
		defer cb.RecoverPanic()
		fn(cb)
	}()
	wg.Wait()
}

func TestOneReplyIsRecorded(t *testing.T) {
	c := NewCallbacks()
	hs := map[string][]string{"content-type": {"application/json"}}
	run(c, func(cb api.DecoderFilterCallbacks) { cb.SendLocalReply(201, "{}", hs, -1, "done") })
	hs["content-type"][0] = "changed after the call"

	want := LocalReply{Status: 201, Body: "{}", Headers: map[string][]string{"content-type": {"application/json"}}, GrpcStatus: -1, Details: "done"}
	if got := c.WaitReply(t, time.Second); !reflect.DeepEqual(got, want) {
		t.Errorf("reply = %+v, want %+v", got, want)
	}
	if got := c.WaitReply(t, time.Second); got.Status != 201 {
		t.Errorf("a second wait = %+v, want the same reply", got)
	}
	if e := c.WaitRecovered(t, time.Second); e != nil {
		t.Errorf("recovered %v", e)
	}
	c.RequireOneTerminal(t)
}

func TestSecondTerminalCallPanicsNotInGo(t *testing.T) {
	c := NewCallbacks()
	run(c, func(cb api.DecoderFilterCallbacks) {
		cb.Continue(api.Continue)
		cb.SendLocalReply(500, "", nil, -1, "again")
	})
	if got := c.WaitContinue(t, time.Second); got != api.Continue {
		t.Errorf("Continue(%d), want Continue", got)
	}
	if e := c.WaitRecovered(t, time.Second); e != ErrNotInGo {
		t.Errorf("recovered %v, want %q", e, ErrNotInGo)
	}
	if n := c.TerminalCalls(); n != 2 {
		t.Errorf("TerminalCalls = %d, want 2 (the refused one counts)", n)
	}
	if len(c.Calls()) != 1 || !c.PendingNotInGo() {
		t.Errorf("calls %v, pending errNotInGo %v; want one call and a pending 500", c.Calls(), c.PendingNotInGo())
	}
}

func TestCallbacksPanicAfterDestroy(t *testing.T) {
	c := NewCallbacks()
	c.Destroy()
	calls := map[string]func(){
		"Continue":                func() { c.Continue(api.Continue) },
		"SendLocalReply":          func() { c.SendLocalReply(200, "", nil, -1, "x") },
		"AddData":                 func() { c.AddData(nil, false) },
		"InjectData":              func() { c.InjectData(nil) },
		"SetUpstreamOverrideHost": func() { _ = c.SetUpstreamOverrideHost("127.0.0.1:1", false) },
		"StreamInfo":              func() { c.StreamInfo() },
		"GetProperty":             func() { _, _ = c.GetProperty("request.path") },
		"ClearRouteCache":         func() { c.ClearRouteCache() },
		"RefreshRouteCache":       func() { c.RefreshRouteCache() },
	}
	for name, call := range calls {
		func() {
			defer func() {
				if e := recover(); e != ErrFilterDestroyed {
					t.Errorf("%s after Destroy panicked with %v, want %q", name, e, ErrFilterDestroyed)
				}
			}()
			call()
		}()
	}
	// These keep working, as in Envoy.
	c.Log(api.Error, "still logs")
	_ = c.LogLevel()
	_ = c.DecoderFilterCallbacks()
	_ = c.EncoderFilterCallbacks()
	_ = c.SecretManager()

	// RecoverPanic ignores the destroyed panic: nothing is answered.
	run(c, func(cb api.DecoderFilterCallbacks) { cb.SendLocalReply(200, "", nil, -1, "late") })
	if e := c.WaitRecovered(t, time.Second); e != ErrFilterDestroyed {
		t.Errorf("recovered %v, want %q", e, ErrFilterDestroyed)
	}
	if len(c.Calls()) != 0 {
		t.Errorf("calls %v after Destroy, want none", c.Calls())
	}
}

func TestRecoverPanicAnswers500(t *testing.T) {
	c := NewCallbacks()
	boom := errors.New("boom")
	run(c, func(api.DecoderFilterCallbacks) { panic(boom) })
	got := c.WaitReply(t, time.Second)
	if got.Status != 500 || got.Body != PanicReplyBody || got.Panic != boom || got.Headers != nil || got.Details != "" {
		t.Errorf("reply = %+v, want the SDK's panic reply", got)
	}
	if e := c.WaitRecovered(t, time.Second); e != boom {
		t.Errorf("recovered %v, want boom", e)
	}

	// After an answer, a panic cannot be answered again.
	c2 := NewCallbacks()
	run(c2, func(cb api.DecoderFilterCallbacks) {
		cb.SendLocalReply(200, "", nil, -1, "ok")
		panic(boom)
	})
	if e := c2.WaitRecovered(t, time.Second); e != boom {
		t.Errorf("recovered %v, want boom", e)
	}
	if len(c2.Calls()) != 1 || c2.Calls()[0].Reply.Status != 200 || !c2.PendingNotInGo() {
		t.Errorf("calls %v, pending %v; want the 200 only and a pending errNotInGo", c2.Calls(), c2.PendingNotInGo())
	}
}

func TestHeaders(t *testing.T) {
	h := NewHeaders(":method", "POST", ":path", "/x?a=1", ":authority", "example.com", "X-Multi", "1", "x-multi", "2")
	if h.Method() != "POST" || h.Path() != "/x?a=1" || h.Host() != "example.com" || h.Scheme() != "" {
		t.Errorf("pseudo-headers: %q %q %q %q", h.Method(), h.Path(), h.Host(), h.Scheme())
	}
	if got := h.Values("X-MULTI"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("Values = %q", got)
	}
	var pairs []string
	h.Range(func(k, v string) bool { pairs = append(pairs, k+"="+v); return true })
	want := []string{":method=POST", ":path=/x?a=1", ":authority=example.com", "x-multi=1", "x-multi=2"}
	if !slices.Equal(pairs, want) {
		t.Errorf("Range = %q, want %q", pairs, want)
	}
	h.Set("x-multi", "3")
	h.Del(":path")
	h.SetHost("other")
	if got := h.GetAllHeaders(); !reflect.DeepEqual(got, map[string][]string{":method": {"POST"}, ":authority": {"other"}, "x-multi": {"3"}}) {
		t.Errorf("GetAllHeaders = %v", got)
	}
	if _, ok := h.Get(":path"); ok {
		t.Error(":path still there after Del")
	}
}

func TestBuffer(t *testing.T) {
	b := NewBufferString("hello")
	got := b.Bytes()
	_ = b.Append([]byte(" world"))
	got[0] = 'J'
	if b.String() != "hello world" || string(got) != "Jello" {
		t.Errorf("buffer %q, earlier Bytes %q: Bytes must be a copy", b.String(), got)
	}
	b.Drain(6)
	_ = b.PrependString("<")
	_ = b.WriteUint16(42)
	if b.String() != "<world42" || b.Len() != 8 {
		t.Errorf("buffer = %q", b.String())
	}
	b.Reset()
	if b.Bytes() != nil {
		t.Error("Bytes of an empty buffer is not nil")
	}
}

func TestLoggerCapturesAboveLevel(t *testing.T) {
	InstallLogger()
	prev := SetLogLevel(api.Warn)
	defer SetLogLevel(prev)
	ResetLogs()
	defer ResetLogs()
	api.LogInfo("dropped")
	api.LogWarn("kept")
	NewCallbacks().Log(api.Debug, "dropped too")
	if got := Logs(); !slices.Equal(got, []string{"warn: kept"}) {
		t.Errorf("Logs = %q", got)
	}
}
