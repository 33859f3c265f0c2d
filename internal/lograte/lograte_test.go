package lograte

import (
	"testing"
	"time"
)

func TestAllowLetsOneLinePerKeyAndWindowThrough(t *testing.T) {
	l := New(10 * time.Second)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }

	steps := []struct {
		advance time.Duration
		key     string
		ok      bool
		held    int
	}{
		{0, "a", true, 0},
		{time.Second, "a", false, 0},
		{time.Second, "a", false, 0},
		{0, "b", true, 0}, // another key has its own window
		{8 * time.Second, "a", true, 2},
		{9 * time.Second, "a", false, 0},
		{time.Second, "a", true, 1},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		ok, held := l.Allow(s.key)
		if ok != s.ok || held != s.held {
			t.Errorf("step %d (%s): Allow = %v, %d; want %v, %d", i, s.key, ok, held, s.ok, s.held)
		}
	}
}

// With Summary, an outage is one line, then one summary per window with
// the count, and nothing more once it ends.
func TestSummaryAtTheEndOfEachWindow(t *testing.T) {
	l := New(10 * time.Second)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	var timers []func()
	var due []time.Time
	l.after = func(d time.Duration, f func()) { due = append(due, now.Add(d)); timers = append(timers, f) }
	var summaries []int
	l.Summary = func(key string, held int) {
		if key != "down" {
			t.Errorf("summary for %q", key)
		}
		summaries = append(summaries, held)
	}
	fire := func() {
		t.Helper()
		if len(timers) != 1 {
			t.Fatalf("%d timers pending, want 1", len(timers))
		}
		f := timers[0]
		now = due[0]
		timers, due = nil, nil
		f()
	}

	if ok, _ := l.Allow("down"); !ok {
		t.Fatal("the first line was held")
	}
	for range 5 { // the rest of the first window: held, one timer
		now = now.Add(time.Second)
		if ok, _ := l.Allow("down"); ok {
			t.Fatal("a line within the window went through")
		}
	}
	if want := time.Unix(1010, 0); !due[0].Equal(want) {
		t.Errorf("summary due at %s, want the window's end %s", due[0], want)
	}
	fire()
	for range 3 { // the next window starts at the summary: held too
		now = now.Add(2 * time.Second)
		if ok, _ := l.Allow("down"); ok {
			t.Fatal("a line right after a summary went through")
		}
	}
	fire()
	if len(summaries) != 2 || summaries[0] != 5 || summaries[1] != 3 {
		t.Errorf("summaries %v, want [5 3]", summaries)
	}
	// The condition ended: no timer, and the next line, a window later,
	// goes through.
	if len(timers) != 0 {
		t.Errorf("%d timers pending after the outage", len(timers))
	}
	now = now.Add(10 * time.Second)
	if ok, held := l.Allow("down"); !ok || held != 0 {
		t.Errorf("after the outage: %v %d, want a line through", ok, held)
	}
}
