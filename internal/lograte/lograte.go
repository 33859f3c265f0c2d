// Package lograte keeps repeated log lines from flooding a log: while a
// condition lasts (Kafka down, a wrong password), a line per request or per
// retry would say the same thing thousands of times.
package lograte

import (
	"log/slog"
	"sync"
	"time"
)

// Limiter lets one line per key through every Every. The lines held back
// in between are counted: with Summary set, the count is reported when
// the window ends (so an outage writes one line, then one summary per
// Every with how many more there were); without, with the next line let
// through.
type Limiter struct {
	Every time.Duration
	// Summary, if set, is called (on a timer's goroutine) at the end of a
	// window in which held lines of key were held back; the next window
	// then starts at once, so a condition that lasts is summarised every
	// Every. Set it before the first Allow.
	Summary func(key string, held int)

	mu    sync.Mutex
	state map[string]*window
	now   func() time.Time            // for tests
	after func(time.Duration, func()) // time.AfterFunc, for tests
}

type window struct {
	last  time.Time
	held  int
	armed bool // a summary timer is pending
}

// New returns a limiter letting one line per key through every every.
func New(every time.Duration) *Limiter {
	return &Limiter{Every: every, state: map[string]*window{}, now: time.Now,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

// NewLogged is New with a Summary that logs key (the line's message) at
// warning level with the count: similar_failures=N within=every.
func NewLogged(every time.Duration, log *slog.Logger) *Limiter {
	l := New(every)
	l.Summary = func(key string, held int) {
		log.Warn(key, "similar_failures", held, "within", every.String())
	}
	return l
}

// Allow reports whether a line for key may be written now and, if so, how
// many were held back since the last one (none are with Summary).
func (l *Limiter) Allow(key string) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.state[key]
	if w == nil {
		if len(l.state) > 1024 {
			// Keys are few (causes, topics); never grow without bound.
			l.state = map[string]*window{}
		}
		w = &window{}
		l.state[key] = w
	} else if now.Sub(w.last) < l.Every {
		w.held++
		if l.Summary != nil && !w.armed {
			w.armed = true
			l.after(w.last.Add(l.Every).Sub(now), func() { l.summarise(key, w) })
		}
		return false, 0
	}
	held, w.held, w.last = w.held, 0, now
	return true, held
}

// summarise ends w's window: its held lines are reported, and a new
// window starts now, so that the lines still coming are held for the next
// summary rather than written one by one.
func (l *Limiter) summarise(key string, w *window) {
	l.mu.Lock()
	held := w.held
	w.held, w.armed = 0, false
	if held > 0 {
		w.last = l.now()
	}
	l.mu.Unlock()
	if held > 0 {
		l.Summary(key, held)
	}
}
