package dynmod

import (
	"unsafe"

	"github.com/kafka-upstream/envoy-kafka-upstream/metrics"
	"github.com/kafka-upstream/envoy-kafka-upstream/producer"
)

// Envoy stats. Every pipeline of the module counts into processMetrics
// (Envoy loads the module once per process). Each filter config defines
// the stats in Envoy when it is created — Envoy refuses definitions later
// — with one label each where the stat has one (outcome, topic); Envoy
// shows them as kafka_upstream.requests.outcome.sent in /stats and as
// kafka_upstream_requests{outcome="sent"} in /stats/prometheus.
//
// A stat of one name is one stat in Envoy whichever config defined it, so
// the process flushes once a second (metrics.FlushEvery) through the
// newest live config: a ticker commits to that config's scheduler, and
// Envoy runs the flush on its main thread, where changing a labelled stat
// is safe (worker and main threads only: Envoy's stats keep per-thread
// caches that a Go thread does not have).

var processMetrics = metrics.New(nil)

// configStats are one filter config's handles on the stats.
type configStats struct {
	envoy     unsafe.Pointer // the DynamicModuleHttpFilterConfig
	scheduler unsafe.Pointer
	counters  [len(metrics.Counters)]uint64
	gauges    [len(metrics.Gauges)]uint64
}

// exporter commits, once a second, to the newest config's scheduler; Envoy
// then flushes on its main thread (flushVia).
var exporter = &metrics.Targets[*configStats]{Tick: func(live []*configStats) {
	envoyConfigSchedulerCommit(live[len(live)-1].scheduler) // the newest
}}

// newConfigStats defines the stats in config cfg (config_new, on the main
// thread) and makes the config a flush target. nil when Envoy refused a
// definition: the config still works, without stats.
func newConfigStats(cfg unsafe.Pointer) *configStats {
	cs := &configStats{envoy: cfg}
	for _, c := range metrics.Counters {
		id, ok := envoyDefineCounter(cfg, metrics.Prefix+"."+c.String(), c.Label())
		if !ok {
			logger.Warn("Envoy refused to define a stat; this config's stats are off", "stat", metrics.Prefix+"."+c.String())
			return nil
		}
		cs.counters[c] = id
	}
	for _, g := range metrics.Gauges {
		id, ok := envoyDefineGauge(cfg, metrics.Prefix+"."+g.String())
		if !ok {
			logger.Warn("Envoy refused to define a stat; this config's stats are off", "stat", metrics.Prefix+"."+g.String())
			return nil
		}
		cs.gauges[g] = id
	}
	cs.scheduler = envoyConfigSchedulerNew(cfg)
	exporter.Add(cs)
	return cs
}

// close stops flushing through the config (config_destroy, main thread).
func (cs *configStats) close() {
	if cs == nil {
		return
	}
	exporter.Remove(cs) // no commit follows
	envoyConfigSchedulerDelete(cs.scheduler)
}

// flushVia flushes through the config whose Envoy pointer is e, if it is
// still live (on_http_filter_config_scheduled, main thread).
func flushVia(e unsafe.Pointer) {
	cs, ok := exporter.Find(func(c *configStats) bool { return c.envoy == e })
	if !ok {
		return
	}
	records, bytes := producer.AsyncBuffered()
	processMetrics.Flush(cs, metrics.Buffered{Records: uint64(records), Bytes: uint64(bytes)})
}

func (cs *configStats) AddCounter(c metrics.Counter, label string, delta uint64) {
	envoyIncrementCounter(cs.envoy, cs.counters[c], label, delta)
}

func (cs *configStats) SetGauge(g metrics.Gauge, v uint64) {
	envoySetGauge(cs.envoy, cs.gauges[g], v)
}
