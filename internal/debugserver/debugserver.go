// Package debugserver serves Go's runtime profiles (net/http/pprof) on an
// address of its own, off by default. The benchmarks' soak reads the
// goroutine count from it (/debug/pprof/goroutine?debug=1 begins
// "goroutine profile: total N"); operators can take a CPU or heap profile
// of a running server or module. Never on the traffic port, and only where
// it is asked for: give it a loopback address.
package debugserver

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Start listens on addr and serves the profiles in the background. A
// listen failure is returned; serving errors afterwards are logged.
func Start(addr string, log *slog.Logger) (net.Addr, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil {
			log.Error("debug server stopped", "addr", lis.Addr().String(), "error", err)
		}
	}()
	return lis.Addr(), nil
}
