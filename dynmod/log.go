package dynmod

import (
	"bytes"
	"context"
	"log/slog"
)

// Envoy's log levels (envoy_dynamic_module_type_log_level).
const (
	envoyDebug = 1
	envoyInfo  = 2
	envoyWarn  = 3
	envoyError = 4
)

// logger writes to Envoy's log, under its "dynamic_modules" logger, with
// Envoy's format and level filtering (--log-level, --component-log-level
// dynamic_modules:debug). Every pipeline logs here.
var logger = slog.New(newEnvoyHandler())

// envoyHandler formats each record with the standard library's
// TextHandler (quoting, groups) and hands the line to Envoy at the
// record's level: one TextHandler per Envoy level, each writing to that
// level, since TextHandler makes exactly one Write per record.
type envoyHandler struct {
	byLevel [4]slog.Handler // debug, info, warn, error
}

func newEnvoyHandler() *envoyHandler {
	h := &envoyHandler{}
	for i := range h.byLevel {
		h.byLevel[i] = slog.NewTextHandler(levelWriter(envoyDebug+i), &slog.HandlerOptions{
			Level: slog.LevelDebug, // Envoy decides, in Enabled
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				// Envoy's log line has its own time and level.
				if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
					return slog.Attr{}
				}
				return a
			},
		})
	}
	return h
}

func envoyLevel(l slog.Level) int {
	switch {
	case l < slog.LevelInfo:
		return envoyDebug
	case l < slog.LevelWarn:
		return envoyInfo
	case l < slog.LevelError:
		return envoyWarn
	default:
		return envoyError
	}
}

func (h *envoyHandler) Enabled(_ context.Context, l slog.Level) bool {
	return envoyLogEnabled(envoyLevel(l))
}

func (h *envoyHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.byLevel[envoyLevel(r.Level)-envoyDebug].Handle(ctx, r)
}

func (h *envoyHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := &envoyHandler{}
	for i, b := range h.byLevel {
		out.byLevel[i] = b.WithAttrs(attrs)
	}
	return out
}

func (h *envoyHandler) WithGroup(name string) slog.Handler {
	out := &envoyHandler{}
	for i, b := range h.byLevel {
		out.byLevel[i] = b.WithGroup(name)
	}
	return out
}

// levelWriter sends each Write, one formatted record, as one Envoy log line.
type levelWriter int

func (w levelWriter) Write(p []byte) (int, error) {
	envoyLog(int(w), "kafka-upstream: "+string(bytes.TrimSuffix(p, []byte("\n"))))
	return len(p), nil
}
