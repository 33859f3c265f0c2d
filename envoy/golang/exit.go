package main

// int kafka_upstream_register_at_exit(void); // exit.c
import "C"

import "github.com/kafka-upstream/envoy-kafka-upstream/filter"

func init() {
	if C.kafka_upstream_register_at_exit() == 0 {
		filter.Logger().Warn("could not register the exit flush: async records still buffered when Envoy exits are lost without a count")
	}
}

//export kafkaUpstreamGolangAtExit
func kafkaUpstreamGolangAtExit() { filter.AtExit() }
