package dynmod

import (
	"os"

	"github.com/kafka-upstream/envoy-kafka-upstream/internal/debugserver"
)

// DebugAddrEnv names the environment variable that, set in Envoy's
// environment, has the module serve Go's runtime profiles
// (net/http/pprof) on that address: the module has no flags of its own,
// and Envoy's admin cannot show a Go runtime's goroutines or heap. Off
// unless set; use a loopback address.
const DebugAddrEnv = "KAFKA_UPSTREAM_DEBUG_ADDR"

func startDebugServer() {
	addr := os.Getenv(DebugAddrEnv)
	if addr == "" {
		return
	}
	a, err := debugserver.Start(addr, logger)
	if err != nil {
		logger.Error("not serving runtime profiles", "env", DebugAddrEnv, "error", err.Error())
		return
	}
	logger.Info("serving runtime profiles", "addr", a.String())
}
