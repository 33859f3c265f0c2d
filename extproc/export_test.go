package extproc

import (
	"reflect"

	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
)

// ProducerOf returns the address of the Kafka producer that the pipeline
// of config name ("" for the default) publishes through, 0 if the server
// has no such config: tests tell shared producers from separate ones with
// it. ingest keeps the field unexported; reading a pointer's value through
// reflect is allowed.
func ProducerOf(s *Server, name string) uintptr {
	p := s.fallback
	if name != "" {
		p = s.named[name]
	}
	if p == nil {
		return 0
	}
	return reflect.ValueOf(p).Elem().FieldByName("producer").Pointer()
}

// BreakFallback makes every request to the default config panic inside
// the pipeline (ingest.Failing), logging to the server's log.
func BreakFallback(s *Server) { s.fallback = ingest.Failing(s.log) }
