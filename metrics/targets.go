package metrics

import (
	"slices"
	"sync"
	"time"
)

// Targets are the live flush targets of an in-process adapter (one per
// filter config), the newest last, and the ticker that flushes through
// them: every FlushEvery, while any is live, Tick is called with them,
// under the lock that Remove takes, so a target is never used after its
// Remove returned. The ticker's goroutine ends when the last target goes.
type Targets[T comparable] struct {
	// Tick is called every FlushEvery with the live targets, the newest
	// last (never none); it must not keep the slice.
	Tick func(live []T)

	mu      sync.Mutex
	live    []T
	ticking bool
}

// Add makes t the newest target, starting the ticker if it stopped.
func (ts *Targets[T]) Add(t T) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.live = append(ts.live, t)
	if !ts.ticking {
		ts.ticking = true
		go ts.run()
	}
}

// Remove drops t; no Tick uses it once Remove returned.
func (ts *Targets[T]) Remove(t T) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.live = slices.DeleteFunc(ts.live, func(x T) bool { return x == t })
}

// Find returns the live target match accepts, if any.
func (ts *Targets[T]) Find(match func(T) bool) (t T, ok bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if i := slices.IndexFunc(ts.live, match); i >= 0 {
		return ts.live[i], true
	}
	return t, false
}

// Now runs Tick at once (tests, a final flush) and reports whether a
// target was live.
func (ts *Targets[T]) Now() bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.live) == 0 {
		return false
	}
	ts.Tick(ts.live)
	return true
}

func (ts *Targets[T]) run() {
	t := time.NewTicker(FlushEvery)
	defer t.Stop()
	for range t.C {
		ts.mu.Lock()
		if len(ts.live) == 0 {
			ts.ticking = false
			ts.mu.Unlock()
			return
		}
		ts.Tick(ts.live)
		ts.mu.Unlock()
	}
}
