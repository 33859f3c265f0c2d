// Command golang is the shared object Envoy's golang HTTP filter loads
// (envoy.filters.http.golang, plugin_name "kafka-upstream"). Build it with
// `make build`. It only registers the filter: the logic is in package filter,
// which tests can link (this package cannot be linked into a test binary:
// the SDK's init calls into Envoy).
package main

import (
	"github.com/envoyproxy/envoy/contrib/golang/filters/http/source/go/pkg/http"

	"github.com/kafka-upstream/envoy-kafka-upstream/filter"
)

func init() {
	http.RegisterHttpFilterFactoryAndConfigParser(filter.Name, filter.Factory, &filter.Parser{})
}

func main() {}
