package filter

import (
	"log/slog"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
)

// Name is the plugin_name to use in Envoy's golang filter config.
const Name = "kafka-upstream"

// filterConfig is one parsed plugin_config, or a view of one chosen by
// Merge. Its pipeline (and so its Kafka writer) is shared by every stream
// that uses this config.
type filterConfig struct {
	pipeline *ingest.Pipeline
	// owner is set on configs made by Parse only. Envoy stores what Merge
	// returns as a config of its own and destroys it when the route or its
	// parent changes, while the parsed configs live on: a merged view must
	// not close the pipeline it borrows.
	owner bool
}

// Destroy is called on Envoy's main thread when xDS drops the config.
// Closing waits for records already handed to Kafka, so it runs in the
// background: the main thread must not stall on a slow broker.
func (c *filterConfig) Destroy() {
	if !c.owner {
		return
	}
	go func() {
		if err := c.pipeline.Close(); err != nil {
			Logger().Warn("closing the kafka producer", "error", err)
		}
	}()
}

// Parser implements api.StreamFilterConfigParser.
type Parser struct {
	// NewLogger builds the logger a config's pipeline logs to; nil means
	// Envoy's log. Tests set it because Envoy's logger needs Envoy.
	NewLogger func() *slog.Logger
}

// Parse decodes, validates and loads a config: filter-level ones (each
// listener build) and per-route ones alike. An error rejects the config
// update; at bootstrap Envoy exits with it.
func (p *Parser) Parse(any *anypb.Any, _ api.ConfigCallbackHandler) (interface{}, error) {
	cfg, err := config.FromAny(any)
	if err != nil {
		return nil, err
	}
	settings, err := config.Resolve(cfg)
	if err != nil {
		return nil, err
	}
	log := Logger()
	if p.NewLogger != nil {
		log = p.NewLogger()
	}
	return &filterConfig{pipeline: ingest.New(settings, log), owner: true}, nil
}

// Merge picks the most specific config: a per-route config replaces the
// listener's as a whole (it is a complete config, validated on its own).
// Merge runs on worker threads, so it only chooses and never builds; it
// returns a view that does not own the chosen pipeline (see owner).
func (p *Parser) Merge(parent, child interface{}) interface{} {
	chosen := child
	if chosen == nil {
		chosen = parent
	}
	return &filterConfig{pipeline: chosen.(*filterConfig).pipeline}
}
