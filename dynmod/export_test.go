package dynmod

import (
	"runtime/cgo"

	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
)

// LiveFilters is the number of streams whose filter Envoy has not
// destroyed; Publishing the number of publishing goroutines running.
func LiveFilters() int64 { return liveFilters.Load() }
func Publishing() int64  { return publishing.Load() }

// BreakPipeline gives the filter config behind handle h a zero pipeline,
// whose Handle panics (nil dereference) on the publishing goroutine.
func BreakPipeline(h uintptr) {
	cgo.Handle(h).Value().(*filterConfig).pipeline = ingest.Failing(logger)
}

// Closer returns the Close of the pipeline of the filter config behind h:
// called after the config's destroy (which closes in the background), it
// waits until the producer is closed.
func Closer(h uintptr) func() error { return cgo.Handle(h).Value().(*filterConfig).pipeline.Close }

// RouteCloser is Closer for a complete per-route config.
func RouteCloser(h uintptr) func() error { return cgo.Handle(h).Value().(*routeConfig).own.Close }
