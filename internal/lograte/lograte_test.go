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
