package filtertest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// SlogRecorder is a slog.Handler keeping what is logged, for a
// filter.Parser's NewLogger (the pipeline's log) in tests: each record
// becomes "LEVEL message key=value …".
type SlogRecorder struct {
	mu    *sync.Mutex
	lines *[]string
	attrs []slog.Attr
}

// NewSlogRecorder returns a recorder and a logger writing to it.
func NewSlogRecorder() (*SlogRecorder, *slog.Logger) {
	r := &SlogRecorder{mu: &sync.Mutex{}, lines: new([]string)}
	return r, slog.New(r)
}

// Enabled accepts every level.
func (r *SlogRecorder) Enabled(context.Context, slog.Level) bool { return true }

// Handle records rec.
func (r *SlogRecorder) Handle(_ context.Context, rec slog.Record) error {
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
func (r *SlogRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &SlogRecorder{mu: r.mu, lines: r.lines, attrs: append(append([]slog.Attr(nil), r.attrs...), attrs...)}
}

// WithGroup flattens groups.
func (r *SlogRecorder) WithGroup(string) slog.Handler { return r }

// Lines returns the records so far.
func (r *SlogRecorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), *r.lines...)
}
