package filter

import (
	"fmt"
	"maps"
	"slices"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
	"github.com/kafka-upstream/envoy-kafka-upstream/metrics"
	"github.com/kafka-upstream/envoy-kafka-upstream/producer"
)

// Envoy stats. Every pipeline of the plugin counts into processMetrics
// (one Go runtime per Envoy process). The SDK defines stats only in a
// filter-level Parse, with no labels and no prefix added: the names carry
// what would be labels, kafka_upstream.requests.outcome.sent and
// kafka_upstream.records_sent.topic.orders, as the dynamic module's show in
// /stats; a stats_tags rule (README) turns them into Prometheus labels.
// Per-topic stats exist for the topics the live filter-level configs name
// (topic, allowed_topics); records to any other topic count under the
// topic otherTopic.
//
// The counts are flushed once a second (metrics.FlushEvery) through the
// live filter-level configs' handles, a name through whichever defined it
// (the newest first): a stat of one name is one stat in Envoy, whichever
// config defined it, and the SDK lets any goroutine change one.

var processMetrics = metrics.New(nil)

// otherTopic stands for the topics without stats of their own.
const otherTopic = "_other"

// configStats are one filter-level config's handles on its stats.
type configStats struct {
	counters map[string]api.CounterMetric // by full name
	gauges   [len(metrics.Gauges)]api.GaugeMetric
}

// exporter flushes through the live filter-level configs once a second.
var exporter = &metrics.Targets[*configStats]{Tick: flushThrough}

func statName(c metrics.Counter, label string) string {
	return metrics.Prefix + "." + c.String() + "." + c.Label() + "." + label
}

// newConfigStats defines the config's stats (filter-level Parse only)
// and makes it the flush target.
func newConfigStats(cb api.ConfigCallbackHandler, s *config.Settings) *configStats {
	cs := &configStats{counters: map[string]api.CounterMetric{}}
	for _, o := range metrics.Outcomes() {
		name := statName(metrics.Requests, o.String())
		cs.counters[name] = cb.DefineCounterMetric(name)
	}
	// AllowedTopics holds Topic too.
	for _, t := range append(slices.Sorted(maps.Keys(s.Routing.AllowedTopics)), otherTopic) {
		for _, c := range []metrics.Counter{metrics.RecordsSent, metrics.BytesSent, metrics.RecordsLost} {
			name := statName(c, t)
			cs.counters[name] = cb.DefineCounterMetric(name)
		}
	}
	for _, g := range metrics.Gauges {
		cs.gauges[g] = cb.DefineGaugeMetric(metrics.Prefix + "." + g.String())
	}
	exporter.Add(cs)
	return cs
}

// close stops flushing through the config (Destroy).
func (cs *configStats) close() {
	if cs == nil {
		return
	}
	exporter.Remove(cs) // Destroy waits for a flush using it
}

// flush exports the counts now (tests) and reports whether a config was
// there to take them.
func flush() bool { return exporter.Now() }

// flushThrough exports the counts through the live configs' handles.
func flushThrough(live []*configStats) {
	defer func() {
		// The SDK panics on a stat whose config Envoy deleted meanwhile.
		if r := recover(); r != nil {
			Logger().Debug("stats flush failed", "panic", fmt.Sprint(r))
		}
	}()
	records, bytes := producer.AsyncBuffered()
	processMetrics.Flush(liveStats(live), metrics.Buffered{Records: uint64(records), Bytes: uint64(bytes)})
}

// liveStats is the live configs as one metrics.Sink, the newest last.
type liveStats []*configStats

func (ls liveStats) AddCounter(c metrics.Counter, label string, delta uint64) {
	name := statName(c, label)
	for i := len(ls) - 1; i >= 0; i-- {
		if m, ok := ls[i].counters[name]; ok {
			m.Increment(int64(delta))
			return
		}
	}
	ls[len(ls)-1].counters[statName(c, otherTopic)].Increment(int64(delta))
}

func (ls liveStats) SetGauge(g metrics.Gauge, v uint64) { ls[len(ls)-1].gauges[g].Record(v) }

// setPlacement writes where the records went to the stream's dynamic
// metadata (namespace kafka_upstream), for access logs. Only while the
// stream is Running, before the reply.
func setPlacement(md api.DynamicMetadata, p *ingest.Placement) {
	ns := ingest.MetadataNamespace
	md.Set(ns, "topic", p.Topic)
	if p.Partition >= 0 {
		md.Set(ns, "partition", p.Partition)
	}
	if p.Offset >= 0 {
		md.Set(ns, "offset", p.Offset)
	}
	md.Set(ns, "records", p.Records)
}
