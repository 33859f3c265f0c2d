package main

// int kafka_upstream_register_at_exit(void); // exit.c
import "C"

import (
	"github.com/kafka-upstream/envoy-kafka-upstream/filter"
	"github.com/kafka-upstream/envoy-kafka-upstream/producer"
)

func init() {
	if C.kafka_upstream_register_at_exit() == 0 {
		filter.Logger().Warn("could not register the exit flush: async records still buffered when Envoy exits are lost without a count")
	}
}

// kafkaUpstreamGolangAtExit runs as the process exits (exit.c): it waits
// for the producers' closes Envoy's shutdown started and flushes any still
// open, as the dynamic module does (dynmod/exit.go, checked on a real
// Envoy; no contrib Envoy runs here to check this one).
//
//export kafkaUpstreamGolangAtExit
func kafkaUpstreamGolangAtExit() { producer.FlushAtExit() }
