package dynmod

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
)

// Name is the filter_name of the module's one filter, in Envoy's
// DynamicModuleFilter (and, optionally, DynamicModuleFilterPerRoute).
const Name = "kafka-upstream"

// ModuleName is what dynamic_module_config.name must say: Envoy loads
// lib<ModuleName>.so from ENVOY_DYNAMIC_MODULES_SEARCH_PATH.
const ModuleName = "kafka_upstream"

// decode reads a kafkaupstream.v1.Config from what Envoy passes as
// filter_config: a google.protobuf.Struct or the value of an
// xds.type.v3.TypedStruct arrive as JSON; a google.protobuf.StringValue or
// BytesValue arrives as its raw contents, JSON or YAML. Errors name the
// field, as the other adapters' do.
func decode(raw []byte) (*config.Config, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("filter_config: missing; expected a kafkaupstream.v1.Config as a google.protobuf.Struct (or as JSON or YAML in a google.protobuf.StringValue)")
	}
	if raw[0] == '{' {
		return config.FromJSON(raw)
	}
	return config.FromYAML(raw)
}

// filterConfig is one filter-level config: complete (it names its
// cluster), with the pipeline, and so the Kafka producer, that every
// stream of its filter chain shares.
type filterConfig struct {
	// proto is the config as written: what a per-route config that
	// inherits is laid over.
	proto    *config.Config
	pipeline *ingest.Pipeline
	// stats are the config's handles on Envoy's stats (stats.go); nil
	// without (the tests' configs made without an Envoy pointer).
	stats *configStats
}

// newFilterConfig loads a filter config; envoyConfig is Envoy's pointer
// to it, through which the config defines its stats.
func newFilterConfig(envoyConfig unsafe.Pointer, name string, raw []byte) (*filterConfig, error) {
	if name != Name {
		return nil, fmt.Errorf("filter_name: %q is not a filter of this module; the module has one filter, %q", name, Name)
	}
	cfg, err := decode(raw)
	if err != nil {
		return nil, err
	}
	settings, err := config.Resolve(cfg)
	if err != nil {
		return nil, err
	}
	fc := &filterConfig{proto: cfg, pipeline: ingest.New(settings, logger, processMetrics)}
	if envoyConfig != nil {
		fc.stats = newConfigStats(envoyConfig)
	}
	return fc, nil
}

// destroy runs on Envoy's main thread when the listener's config goes.
// Closing waits for records already handed to Kafka, so it runs in the
// background: the main thread must not stall on a slow broker.
func (c *filterConfig) destroy() {
	c.stats.close()
	closeInBackground(c.pipeline)
}

func closeInBackground(p *ingest.Pipeline) {
	go func() {
		defer func() {
			if r := recover(); r != nil {
				logger.Error("panic while closing the kafka producer", "panic", fmt.Sprint(r))
			}
		}()
		if err := p.Close(); err != nil {
			logger.Warn("closing the kafka producer", "error", err)
		}
	}()
}

// routeConfig is one per-route config (DynamicModuleFilterPerRoute). One
// with bootstrap_servers is complete and replaces the filter's config on
// its route, with a producer of its own. One without inherits: it is laid
// over the filter's config field by field (config.Overlay) and shares its
// producer (Pipeline.Derive), as the golang filter's Merge does.
//
// Envoy builds per-route configs without telling which filter config they
// will meet (a route config may serve several listeners), so the overlay
// is made at the first request and cached per filter config.
type routeConfig struct {
	proto      *config.Config
	inheriting bool
	// own is the pipeline of a complete config, nil for one that inherits.
	own *ingest.Pipeline

	mu     sync.Mutex
	merged map[*filterConfig]target
}

// target is what a stream publishes with: a pipeline, or the reply that
// says why there is none.
type target struct {
	pipeline *ingest.Pipeline
	invalid  *ingest.Reply
}

// maxMergedParents bounds a per-route config's cache of overlays; filter
// configs are replaced by config updates, so old ones are forgotten.
const maxMergedParents = 8

func newRouteConfig(name string, raw []byte) (*routeConfig, error) {
	// Envoy 1.40.0 passes filter_name, or the deprecated
	// per_route_config_name; both may be left out.
	if name != "" && name != Name {
		return nil, fmt.Errorf("filter_name: %q is not a filter of this module; the module has one filter, %q", name, Name)
	}
	cfg, err := decode(raw)
	if err != nil {
		return nil, err
	}
	if config.Inherits(cfg) {
		if err := config.CheckInheriting(cfg, ""); err != nil {
			return nil, err
		}
		return &routeConfig{proto: cfg, inheriting: true}, nil
	}
	settings, err := config.Resolve(cfg)
	if err != nil {
		return nil, err
	}
	return &routeConfig{proto: cfg, own: ingest.New(settings, logger, processMetrics)}, nil
}

func (rc *routeConfig) destroy() {
	if rc.own != nil {
		closeInBackground(rc.own)
	}
}

// over is the target of a stream on rc's route whose filter config is
// parent. It runs on worker threads; the overlay is built once per parent.
func (rc *routeConfig) over(parent *filterConfig) target {
	if !rc.inheriting {
		return target{pipeline: rc.own}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if t, ok := rc.merged[parent]; ok {
		return t
	}
	var t target
	pipeline, _, err := ingest.Inherit(parent.pipeline, parent.proto, rc.proto)
	if err != nil {
		// Nothing can fail at this point: every request of the route says
		// why.
		logger.Error("a per-route config does not fit its filter's config", "error", err.Error())
		r := ingest.Misconfigured("the route's kafka-upstream config does not fit the filter's: " + err.Error())
		t.invalid = &r
	} else {
		t.pipeline = pipeline
	}
	if rc.merged == nil || len(rc.merged) >= maxMergedParents {
		rc.merged = map[*filterConfig]target{}
	}
	rc.merged[parent] = t
	return t
}
