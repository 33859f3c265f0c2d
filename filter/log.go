package filter

import (
	"context"
	"log/slog"
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// envoyLogHandler is a slog.Handler writing to Envoy's own logger (the
// "golang" component), so the filter's messages show up in Envoy's log with
// Envoy's format and level filtering.
type envoyLogHandler struct {
	attrs []slog.Attr
}

// Logger returns a logger that writes to Envoy's log.
func Logger() *slog.Logger { return slog.New(envoyLogHandler{}) }

func (h envoyLogHandler) Enabled(_ context.Context, level slog.Level) bool {
	return api.GetLogLevel() <= envoyLevel(level)
}

func (h envoyLogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("kafka-upstream: ")
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		b.WriteByte(' ')
		b.WriteString(a.Key)
		b.WriteByte('=')
		b.WriteString(a.Value.String())
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	msg := b.String()
	switch envoyLevel(r.Level) {
	case api.Debug:
		api.LogDebug(msg)
	case api.Info:
		api.LogInfo(msg)
	case api.Warn:
		api.LogWarn(msg)
	default:
		api.LogError(msg)
	}
	return nil
}

func (h envoyLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return envoyLogHandler{attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

// Groups are flattened: the filter does not use them.
func (h envoyLogHandler) WithGroup(string) slog.Handler { return h }

func envoyLevel(l slog.Level) api.LogType {
	switch {
	case l < slog.LevelInfo:
		return api.Debug
	case l < slog.LevelWarn:
		return api.Info
	case l < slog.LevelError:
		return api.Warn
	default:
		return api.Error
	}
}
