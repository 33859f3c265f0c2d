package producer

import (
	"sync/atomic"

	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// Benchmarks only (issue 9, scenario b: an adapter's own cost): built with
// -tags kafka_upstream_nopublish, Publish talks to no broker and reports
// every record acknowledged on partition 0 at the next offset. Production
// builds have publishingDisabled = false, a constant, so the check in
// Publish compiles away. make bench builds such binaries under build/bench/;
// nothing else does.

var pretendOffset atomic.Int64

func pretendPublished(records []message.Record) []message.Result {
	results := make([]message.Result, len(records))
	for i, r := range records {
		results[i] = message.Result{Topic: r.Topic, Partition: 0, Offset: pretendOffset.Add(1) - 1}
	}
	return results
}
