package ingest

import (
	"net/http"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
)

// MisconfiguredDetails marks a reply about the configuration, not the
// request: Envoy and the config disagree, or a route config does not fit.
const MisconfiguredDetails = "kafka_upstream_misconfigured"

// Misconfigured is the 500 a client gets when the configuration, not its
// request, is at fault.
func Misconfigured(why string) Reply {
	return ErrorReply(http.StatusInternalServerError, MisconfiguredDetails, why)
}

// Inherit lays a route's config over its parent's (config.Overlay), field
// by field, and builds its pipeline on the parent's producer. Adapters call
// it once per route and parent and cache the result. The error says why
// two configs valid alone do not fit together (say, a route turning off the
// one forward_* flag its parent had on).
func Inherit(parent *Pipeline, parentCfg, child *config.Config) (*Pipeline, *config.Config, error) {
	merged := config.Overlay(parentCfg, child)
	settings, err := config.Resolve(merged)
	if err != nil {
		return nil, merged, err
	}
	return parent.Derive(settings), merged, nil
}
