package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestTargetsTickTheLiveOnesUntilNoneIsLeft(t *testing.T) {
	ticked := make(chan string, 10)
	ts := &Targets[string]{Tick: func(live []string) { ticked <- strings.Join(live, ",") }}
	ts.Add("old")
	ts.Add("new")
	select {
	case got := <-ticked:
		if got != "old,new" {
			t.Errorf("ticked %q, want old,new: the live ones, the newest last", got)
		}
	case <-time.After(3 * FlushEvery):
		t.Fatal("no tick")
	}
	ts.Remove("new")
	if !ts.Now() || <-ticked != "old" {
		t.Error("after removing the newest, Now did not use the one left")
	}
	if c, ok := ts.Find(func(s string) bool { return s == "old" }); !ok || c != "old" {
		t.Errorf("Find = %q, %v", c, ok)
	}
	ts.Remove("old")
	if ts.Now() {
		t.Error("Now with no target")
	}
	// The ticker notices and stops: its flag is cleared within a tick.
	deadline := time.Now().Add(3 * FlushEvery)
	for {
		ts.mu.Lock()
		ticking := ts.ticking
		ts.mu.Unlock()
		if !ticking {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ticker kept running with no target")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case got := <-ticked:
		t.Errorf("ticked %q after every target was removed", got)
	default:
	}
}
