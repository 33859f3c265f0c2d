package filter

import (
	"log/slog"
	"sync"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
)

// Name is the plugin_name to use in Envoy's golang filter config.
const Name = "kafka-upstream"

// filterConfig is one parsed plugin_config, or a view of one made by
// Merge. Its pipeline (and so its Kafka writer) is shared by every stream
// that uses this config.
type filterConfig struct {
	// proto is the config as written, with whatever it inherits applied:
	// what a route config below this one is overlaid on.
	proto    *config.Config
	pipeline *ingest.Pipeline
	// inheriting is a route config without bootstrap_servers: it has no
	// pipeline until Merge lays it over its parent.
	inheriting bool
	// invalid, when set, answers every request: the merged config could
	// not be resolved.
	invalid ingest.Reply
	// owner is set on configs made by Parse only. Envoy stores what Merge
	// returns as a config of its own and destroys it when the route or its
	// parent changes, while the parsed configs live on: a merged view must
	// not close the pipeline it borrows.
	owner bool
	// stats are a filter-level config's handles on its Envoy stats.
	stats *configStats

	// merged caches, per parent, what Merge built for an inheriting
	// config, so that the work is done once per route and parent.
	mu     sync.Mutex
	merged map[*filterConfig]*filterConfig
}

// Destroy is called on Envoy's main thread when xDS drops the config.
// Closing waits for records already handed to Kafka, so it runs in the
// background: the main thread must not stall on a slow broker.
func (c *filterConfig) Destroy() {
	if !c.owner || c.pipeline == nil {
		return
	}
	c.stats.close()
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
//
// A route config (Envoy passes no callbacks for those) without
// bootstrap_servers inherits the listener's config: it is checked here as
// far as it can be alone, and laid over its parent in Merge, sharing the
// parent's Kafka producer. A config with bootstrap_servers is complete.
func (p *Parser) Parse(any *anypb.Any, callbacks api.ConfigCallbackHandler) (interface{}, error) {
	cfg, err := config.FromAny(any)
	if err != nil {
		return nil, err
	}
	if callbacks == nil && config.Inherits(cfg) {
		if err := config.CheckInheriting(cfg, ""); err != nil {
			return nil, err
		}
		return &filterConfig{proto: cfg, inheriting: true, owner: true}, nil
	}
	settings, err := config.Resolve(cfg)
	if err != nil {
		return nil, err
	}
	fc := &filterConfig{proto: cfg, pipeline: ingest.New(settings, p.logger(), processMetrics), owner: true}
	if callbacks != nil { // stats can be defined in a filter-level Parse only
		fc.stats = newConfigStats(callbacks, settings)
	}
	return fc, nil
}

func (p *Parser) logger() *slog.Logger {
	if p.NewLogger != nil {
		return p.NewLogger()
	}
	return Logger()
}

// Merge picks the most specific config. A complete route config replaces
// its parent as a whole; an inheriting one is laid over its parent, field
// by field, sharing the parent's producer. Merge runs on worker threads
// (once per route and parent: Envoy caches the result, and so do we), so
// it never builds a producer; it returns a view that does not own the
// pipeline it uses (see owner).
func (p *Parser) Merge(parent, child interface{}) interface{} {
	pc, _ := parent.(*filterConfig)
	cc, _ := child.(*filterConfig)
	switch {
	case cc == nil:
		return view(pc)
	case !cc.inheriting || pc == nil || pc.pipeline == nil:
		return view(cc)
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if m, ok := cc.merged[pc]; ok {
		return view(m)
	}
	pipeline, merged, err := ingest.Inherit(pc.pipeline, pc.proto, cc.proto)
	m := &filterConfig{proto: merged, pipeline: pipeline}
	if err != nil {
		// Merge cannot fail: every request of the route says why.
		Logger().Error("a route config does not fit its parent's", "error", err)
		m.invalid = ingest.Misconfigured("the route's kafka-upstream config does not fit the listener's: " + err.Error())
	}
	if cc.merged == nil || len(cc.merged) >= maxMergedParents {
		// Parents are replaced by config updates; forget old ones.
		cc.merged = map[*filterConfig]*filterConfig{}
	}
	cc.merged[pc] = m
	return view(m)
}

// misconfigured is the reply of a config that has no pipeline: a route
// config that inherits, with no listener config to inherit from, or one
// that does not fit its parent's.
func (c *filterConfig) misconfigured() *ingest.Reply {
	if c.invalid.Status != 0 {
		return &c.invalid
	}
	r := ingest.Misconfigured("the route's kafka-upstream config has no bootstrap_servers, and the config above it, to inherit them from, is missing or invalid")
	return &r
}

// maxMergedParents bounds the per-route cache of merged configs.
const maxMergedParents = 8

// view is a non-owning copy of c.
func view(c *filterConfig) *filterConfig {
	if c == nil {
		return nil
	}
	return &filterConfig{proto: c.proto, pipeline: c.pipeline, inheriting: c.inheriting, invalid: c.invalid}
}
