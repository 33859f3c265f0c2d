package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram records durations in nanoseconds in log-linear buckets, as HDR
// histograms do: values below 2·subBuckets are exact, and above that each
// power of two is split into subBuckets buckets of equal width, so any
// recorded value is known to within 1/subBuckets (0.8 %) of itself. It
// needs no allocation per value and merges by adding counts; a worker
// keeps its own, merged at the end.
type histogram struct {
	counts   []uint64
	n        uint64
	sum      float64
	min, max int64
}

const (
	subBits    = 7
	subBuckets = 1 << subBits
)

// numBuckets covers every int64 (7296 buckets, 57 KiB).
var numBuckets = bucketIndex(math.MaxInt64) + 1

func newHistogram() *histogram {
	return &histogram{counts: make([]uint64, numBuckets), min: math.MaxInt64}
}

// bucketIndex is the bucket of v ≥ 0.
func bucketIndex(v int64) int {
	u := uint64(v)
	if u < 2*subBuckets {
		return int(u)
	}
	shift := bits.Len64(u) - (subBits + 1) // ≥ 1
	top := u >> shift                      // in [subBuckets, 2·subBuckets)
	return shift*subBuckets + int(top)
}

// bucketBounds are the smallest and largest value of bucket i.
func bucketBounds(i int) (lo, hi int64) {
	if i < 2*subBuckets {
		return int64(i), int64(i)
	}
	shift := i/subBuckets - 1
	top := uint64(i - shift*subBuckets)
	return int64(top << shift), int64((top+1)<<shift - 1)
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketIndex(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// percentile returns the value at or below which p percent (0 < p ≤ 100)
// of the recorded values lie: the highest value of the bucket holding the
// value of rank ⌈p·n/100⌉, never above the largest value recorded. 0 when
// nothing was recorded.
func (h *histogram) percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.n)))
	rank = max(rank, 1)
	rank = min(rank, h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketBounds(i)
			return time.Duration(min(hi, h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

func (h *histogram) minimum() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.min)
}
