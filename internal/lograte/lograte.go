// Package lograte keeps repeated log lines from flooding a log: while a
// condition lasts (Kafka down, a wrong password), a line per request or per
// retry would say the same thing thousands of times.
package lograte

import (
	"sync"
	"time"
)

// Limiter lets one line per key through every Every; the lines held back
// in between are counted and reported with the next one let through.
type Limiter struct {
	Every time.Duration

	mu    sync.Mutex
	state map[string]*window
	now   func() time.Time // for tests
}

type window struct {
	last time.Time
	held int
}

// New returns a limiter letting one line per key through every every.
func New(every time.Duration) *Limiter {
	return &Limiter{Every: every, state: map[string]*window{}, now: time.Now}
}

// Allow reports whether a line for key may be written now and, if so, how
// many were held back since the last one.
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
		return false, 0
	}
	held, w.held, w.last = w.held, 0, now
	return true, held
}
