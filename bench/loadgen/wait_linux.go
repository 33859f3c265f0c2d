package main

import (
	"context"
	"runtime"
	"syscall"
	"time"
)

// lockThread gives the calling goroutine (the open loop's dispatcher) an
// OS thread of its own, for waitUntil's nanosleep.
func lockThread() { runtime.LockOSThread() }

// maxNap bounds one nanosleep, so that a long wait still sees ctx end.
const maxNap = 20 * time.Millisecond

// waitUntil sleeps until t with nanosleep(2); false if ctx ended first.
// Go's timers wake up to about a millisecond late on Linux (the netpoller
// waits in whole milliseconds), which the open loop would add to every
// latency; nanosleep on a locked thread is late by about the kernel's
// timer slack (50 µs by default).
func waitUntil(ctx context.Context, t time.Time) bool {
	for {
		if ctx.Err() != nil {
			return false
		}
		d := time.Until(t)
		if d <= 0 {
			return true
		}
		ts := syscall.NsecToTimespec(int64(min(d, maxNap)))
		_ = syscall.Nanosleep(&ts, nil) // EINTR: loop and sleep the rest
	}
}
