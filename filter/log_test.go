package filter

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
)

// envoyLog sets Envoy's log level for the test and starts from an empty log.
func envoyLog(t *testing.T, level api.LogType) {
	t.Helper()
	filtertest.InstallLogger()
	prev := filtertest.SetLogLevel(level)
	filtertest.ResetLogs()
	t.Cleanup(func() {
		filtertest.SetLogLevel(prev)
		filtertest.ResetLogs()
	})
}

func TestSlogLevelsMapToEnvoyLevels(t *testing.T) {
	tests := []struct {
		slog  slog.Level
		envoy api.LogType
	}{
		{slog.LevelDebug - 4, api.Debug}, // slog has no trace; below debug is still debug
		{slog.LevelDebug, api.Debug},
		{slog.LevelInfo - 1, api.Debug},
		{slog.LevelInfo, api.Info},
		{slog.LevelInfo + 2, api.Info},
		{slog.LevelWarn, api.Warn},
		{slog.LevelError - 1, api.Warn},
		{slog.LevelError, api.Error},
		{slog.LevelError + 4, api.Error}, // never critical
	}
	for _, tt := range tests {
		if got := envoyLevel(tt.slog); got != tt.envoy {
			t.Errorf("envoyLevel(%v) = %v, want %v", tt.slog, got, tt.envoy)
		}
	}
}

func TestLoggerWritesToEnvoysLog(t *testing.T) {
	envoyLog(t, api.Debug)
	log := Logger()
	log.Debug("d")
	log.Info("i", "n", 1)
	log.Warn("w", "timeout", 300*time.Millisecond)
	log.Error("e", "error", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"))
	log.Log(context.Background(), slog.LevelError+4, "beyond error")

	want := []filtertest.LogEntry{
		{Level: api.Debug, Message: "kafka-upstream: d"},
		{Level: api.Info, Message: "kafka-upstream: i n=1"},
		{Level: api.Warn, Message: "kafka-upstream: w timeout=300ms"},
		{Level: api.Error, Message: "kafka-upstream: e error=dial tcp 127.0.0.1:1: connect: connection refused"},
		{Level: api.Error, Message: "kafka-upstream: beyond error"},
	}
	if got := filtertest.LogEntries(); !reflect.DeepEqual(got, want) {
		t.Errorf("Envoy log =\n%v\nwant\n%v", got, want)
	}
}

func TestLoggerRendersAttrsAsKeyValue(t *testing.T) {
	envoyLog(t, api.Info)
	Logger().With("topic", "events").WithGroup("ignored").With("acks", -1).
		Info("kafka did not acknowledge in time", "timeout", "10s", "note", "two words", "ok", true)

	want := []string{"info: kafka-upstream: kafka did not acknowledge in time topic=events acks=-1 timeout=10s note=two words ok=true"}
	if got := filtertest.Logs(); !reflect.DeepEqual(got, want) {
		t.Errorf("Envoy log = %q\nwant %q", got, want)
	}
}

func TestLoggerDropsMessagesBelowEnvoysLevel(t *testing.T) {
	tests := []struct {
		envoy api.LogType
		want  []string
	}{
		{api.Trace, []string{"debug: kafka-upstream: d", "info: kafka-upstream: i", "warn: kafka-upstream: w", "error: kafka-upstream: e"}},
		{api.Info, []string{"info: kafka-upstream: i", "warn: kafka-upstream: w", "error: kafka-upstream: e"}},
		{api.Warn, []string{"warn: kafka-upstream: w", "error: kafka-upstream: e"}},
		{api.Error, []string{"error: kafka-upstream: e"}},
		{api.Critical, nil},
	}
	for _, tt := range tests {
		t.Run(tt.envoy.String(), func(t *testing.T) {
			envoyLog(t, tt.envoy)
			log := Logger()
			for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
				enabled := log.Enabled(context.Background(), l)
				if want := tt.envoy <= envoyLevel(l); enabled != want {
					t.Errorf("Enabled(%v) = %v at Envoy level %v, want %v", l, enabled, tt.envoy, want)
				}
			}
			log.Debug("d")
			log.Info("i")
			log.Warn("w")
			log.Error("e")
			if got := filtertest.Logs(); !slices.Equal(got, tt.want) {
				t.Errorf("Envoy log = %q\nwant %q", got, tt.want)
			}
		})
	}
}

// A handler called without Enabled (slog's contract allows it) still
// does not send what Envoy's level drops: api.LogXxx checks it again.
func TestHandlerCalledDirectlyRespectsEnvoysLevel(t *testing.T) {
	envoyLog(t, api.Warn)
	h := Logger().Handler()
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if err := h.Handle(context.Background(), slog.NewRecord(time.Now(), l, l.String(), 0)); err != nil {
			t.Fatalf("Handle: %v", err)
		}
	}
	want := []string{"warn: kafka-upstream: WARN"}
	if got := filtertest.Logs(); !reflect.DeepEqual(got, want) {
		t.Errorf("Envoy log = %q\nwant %q", got, want)
	}
}
