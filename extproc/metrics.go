package extproc

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kafka-upstream/envoy-kafka-upstream/metrics"
	"github.com/kafka-upstream/envoy-kafka-upstream/producer"
)

// The server's Prometheus metrics: the core's metrics.Set read at scrape
// time (so the request path only does atomic adds), two histograms the
// Set feeds as it counts, the clusters' reachability, and the Go runtime
// and process collectors. Names follow Prometheus' conventions
// (kafka_upstream_requests_total{outcome="sent"}); the README's metrics
// table lists them next to their Envoy stats.

// NewMetrics is the Set a Server counts into, and a registry that exports
// it for /metrics, with the clusters' reachability as clusters reports it
// (nil, or a nil result: none).
func NewMetrics(clusters func() []ClusterState) (*metrics.Set, *prometheus.Registry) {
	produce := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: metrics.Prefix + "_produce_duration_seconds",
		Help: "How long one synchronous publish took, until Kafka acknowledged every record of the request or the publish failed.",
		// 1 ms to 10 s: acks=all on a healthy cluster is a few ms,
		// produce_timeout defaults to 10 s.
		Buckets: prometheus.ExponentialBucketsRange(0.001, 10, 14),
	}, []string{"result"})
	obs := &histograms{
		produceOK:     produce.WithLabelValues("ok"),
		produceFailed: produce.WithLabelValues("failed"),
		record: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metrics.Prefix + "_record_size_bytes",
			Help:    "Key and value bytes of each record Kafka acknowledged, before compression.",
			Buckets: prometheus.ExponentialBuckets(64, 4, 10), // 64 B to 16 MiB
		}),
	}
	set := metrics.New(obs)
	reg := prometheus.NewRegistry()
	reg.MustRegister(produce, obs.record, &setCollector{set: set, clusters: clusters},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return set, reg
}

// histograms are the Observer of the ext_proc server's Set. The produce
// histogram's two series are resolved once, not per publish.
type histograms struct {
	produceOK, produceFailed prometheus.Observer
	record                   prometheus.Histogram
}

func (h *histograms) Produce(took time.Duration, ok bool) {
	if ok {
		h.produceOK.Observe(took.Seconds())
	} else {
		h.produceFailed.Observe(took.Seconds())
	}
}

func (h *histograms) Record(bytes int) { h.record.Observe(float64(bytes)) }

var (
	descRequests = prometheus.NewDesc(metrics.Prefix+"_requests_total",
		"Requests answered, by outcome: the reply's %RESPONSE_CODE_DETAILS% without its kafka_upstream_ prefix (every *_partly one is partly_sent).",
		[]string{"outcome"}, nil)
	descRecordsSent = prometheus.NewDesc(metrics.Prefix+"_records_sent_total",
		"Records Kafka acknowledged (synchronously, or delivered from the async buffer).", []string{"topic"}, nil)
	descBytesSent = prometheus.NewDesc(metrics.Prefix+"_bytes_sent_total",
		"Key and value bytes of the records Kafka acknowledged, before compression.", []string{"topic"}, nil)
	descRecordsLost = prometheus.NewDesc(metrics.Prefix+"_records_lost_total",
		"Records accepted in async mode (202) that could not be delivered.", []string{"topic"}, nil)
	descInFlight = prometheus.NewDesc(metrics.Prefix+"_requests_in_flight",
		"Requests being handled.", nil, nil)
	descBufferRecords = prometheus.NewDesc(metrics.Prefix+"_async_buffer_records",
		"Records held by the async buffers, accepted and not yet acknowledged or given up.", nil, nil)
	descBufferBytes = prometheus.NewDesc(metrics.Prefix+"_async_buffer_bytes",
		"Bytes held by the async buffers.", nil, nil)
	descReachable = prometheus.NewDesc(metrics.Prefix+"_cluster_reachable",
		"1 when a broker of the cluster answered the last health check, 0 when none did.", []string{"cluster"}, nil)
)

// setCollector exports a metrics.Set as it is at scrape time.
type setCollector struct {
	set      *metrics.Set
	clusters func() []ClusterState
}

func (c *setCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descRecordsSent, descBytesSent, descRecordsLost,
		descInFlight, descBufferRecords, descBufferBytes, descReachable} {
		ch <- d
	}
}

func (c *setCollector) Collect(ch chan<- prometheus.Metric) {
	// Every outcome, 0 included: rate() needs the series from the start.
	for _, o := range metrics.Outcomes() {
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(c.set.Requests(o)), o.String())
	}
	c.set.Topics(func(topic string, t *metrics.TopicCounts) {
		ch <- prometheus.MustNewConstMetric(descRecordsSent, prometheus.CounterValue, float64(t.RecordsSent.Load()), topic)
		ch <- prometheus.MustNewConstMetric(descBytesSent, prometheus.CounterValue, float64(t.BytesSent.Load()), topic)
		ch <- prometheus.MustNewConstMetric(descRecordsLost, prometheus.CounterValue, float64(t.RecordsLost.Load()), topic)
	})
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(c.set.InFlight()))
	records, bytes := producer.AsyncBuffered()
	ch <- prometheus.MustNewConstMetric(descBufferRecords, prometheus.GaugeValue, float64(records))
	ch <- prometheus.MustNewConstMetric(descBufferBytes, prometheus.GaugeValue, float64(bytes))
	if c.clusters == nil {
		return
	}
	for _, cl := range c.clusters() {
		if !cl.Checked {
			continue
		}
		v := 0.0
		if cl.Reachable {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descReachable, prometheus.GaugeValue, v, cl.Name)
	}
}
