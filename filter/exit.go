package filter

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/kafka-upstream/envoy-kafka-upstream/producer"
)

// AtExit runs as the process exits (envoy/golang's atexit handler): it
// waits for the producers' closes Envoy's shutdown started and flushes any
// producer still open, each within its async flush_timeout; what it finds
// lost goes to stderr (Envoy's logger may be gone by then). As in the
// dynamic module (dynmod/exit.go, where it was checked on a real Envoy).
func AtExit() {
	defer func() { // nothing may unwind into exit()
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "kafka-upstream: panic while flushing at exit: %v\n", r)
		}
	}()
	producer.FlushAll(slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "kafka-upstream"))
}
