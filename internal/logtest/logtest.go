// Package logtest records what code under test logs through log/slog, as
// "LEVEL message key=value …" lines. Only tests import it.
package logtest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// Recorder is a slog.Handler keeping what is logged: each record becomes
// "LEVEL message key=value …".
type Recorder struct {
	mu    *sync.Mutex
	lines *[]string
	attrs []slog.Attr
}

// New returns a recorder and a logger writing to it.
func New() (*Recorder, *slog.Logger) {
	r := &Recorder{mu: &sync.Mutex{}, lines: new([]string)}
	return r, slog.New(r)
}

// Enabled accepts every level.
func (r *Recorder) Enabled(context.Context, slog.Level) bool { return true }

// Handle records rec.
func (r *Recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String())
	b.WriteByte(' ')
	b.WriteString(rec.Message)
	write := func(a slog.Attr) bool {
		b.WriteByte(' ')
		b.WriteString(a.Key)
		b.WriteByte('=')
		b.WriteString(a.Value.String())
		return true
	}
	for _, a := range r.attrs {
		write(a)
	}
	rec.Attrs(write)
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.lines = append(*r.lines, b.String())
	return nil
}

// WithAttrs returns a handler adding attrs to each record, sharing the lines.
func (r *Recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Recorder{mu: r.mu, lines: r.lines, attrs: append(append([]slog.Attr(nil), r.attrs...), attrs...)}
}

// WithGroup flattens groups.
func (r *Recorder) WithGroup(string) slog.Handler { return r }

// Lines returns the records so far.
func (r *Recorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), *r.lines...)
}

// OwnLines returns the records so far that the code under test logged
// itself, leaving out kafka-go's warnings ("WARN kafka: …").
func (r *Recorder) OwnLines() []string {
	var out []string
	for _, line := range r.Lines() {
		if !strings.HasPrefix(line, "WARN kafka: ") {
			out = append(out, line)
		}
	}
	return out
}
