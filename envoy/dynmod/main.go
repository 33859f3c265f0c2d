// Command dynmod is the shared object stock Envoy's dynamic-modules HTTP
// filter loads (envoy.filters.http.dynamic_modules, Envoy 1.40.0):
// dynamic_module_config.name "kafka_upstream" finds it as
// libkafka_upstream.so on ENVOY_DYNAMIC_MODULES_SEARCH_PATH, filter_name
// "kafka-upstream". Build it with
//
//	CGO_ENABLED=1 go build -buildmode=c-shared -o build/libkafka_upstream.so ./envoy/dynmod
//
// It only links the adapter in: package dynmod exports the hooks Envoy
// resolves. Keep this package free of logic and tests (one Go runtime per
// process: never load it next to another Go module or the golang filter).
package main

import _ "github.com/kafka-upstream/envoy-kafka-upstream/dynmod"

func main() {}
