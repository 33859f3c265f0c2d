package main

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The buckets tile [0, MaxInt64] without gap or overlap, and each is at
// most 1/subBuckets of its lowest value wide.
func TestBucketsTile(t *testing.T) {
	if lo, _ := bucketBounds(0); lo != 0 {
		t.Fatalf("bucket 0 starts at %d", lo)
	}
	for i := 0; i < numBuckets-1; i++ {
		lo, hi := bucketBounds(i)
		next, _ := bucketBounds(i + 1)
		if hi < lo || next != hi+1 {
			t.Fatalf("bucket %d = [%d, %d], bucket %d starts at %d", i, lo, hi, i+1, next)
		}
		if lo >= 2*subBuckets && float64(hi-lo+1)/float64(lo) > 1.0/subBuckets {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/%d of its values", i, lo, hi, subBuckets)
		}
	}
	if _, hi := bucketBounds(numBuckets - 1); hi != math.MaxInt64 {
		t.Fatalf("the last bucket ends at %d, want MaxInt64", hi)
	}
}

func TestBucketIndexWithinBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []int64{0, 1, 255, 256, 257, 511, 512, 1 << 40, math.MaxInt64}
	for range 100000 {
		values = append(values, int64(r.Uint64()>>uint(r.IntN(63)+1))) // every magnitude
	}
	for _, v := range values {
		i := bucketIndex(v)
		lo, hi := bucketBounds(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
	}
}

func TestPercentiles(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		h := newHistogram()
		if p, m, mean := h.percentile(99), h.minimum(), h.mean(); p != 0 || m != 0 || mean != 0 {
			t.Errorf("empty histogram: p99 %v, min %v, mean %v; want 0", p, m, mean)
		}
	})
	t.Run("small values are exact", func(t *testing.T) {
		h := newHistogram()
		for v := 1; v <= 100; v++ {
			h.record(time.Duration(v))
		}
		for _, tt := range []struct {
			p    float64
			want time.Duration
		}{{50, 50}, {90, 90}, {99, 99}, {99.9, 100}, {100, 100}, {0.001, 1}} {
			if got := h.percentile(tt.p); got != tt.want {
				t.Errorf("p%g = %d, want %d", tt.p, got, tt.want)
			}
		}
		if h.minimum() != 1 || h.mean() != 50 { // 50.5 truncated
			t.Errorf("min %d mean %d, want 1 and 50", h.minimum(), h.mean())
		}
	})
	t.Run("large values within 1/128", func(t *testing.T) {
		h := newHistogram()
		// 1 µs … 100 ms, shuffled: order must not matter.
		vs := make([]time.Duration, 100000)
		for i := range vs {
			vs[i] = time.Duration(i+1) * time.Microsecond
		}
		rand.New(rand.NewPCG(3, 4)).Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
		for _, v := range vs {
			h.record(v)
		}
		for _, tt := range []struct {
			p    float64
			want time.Duration
		}{{50, 50 * time.Millisecond}, {90, 90 * time.Millisecond}, {99, 99 * time.Millisecond}, {99.9, 99900 * time.Microsecond}} {
			got := h.percentile(tt.p)
			// The bucket's highest value: never below the true one.
			if got < tt.want || float64(got-tt.want) > float64(tt.want)/subBuckets {
				t.Errorf("p%g = %v, want %v (at most 1/%d above)", tt.p, got, tt.want, subBuckets)
			}
		}
		if got := h.percentile(100); got != 100*time.Millisecond {
			t.Errorf("max = %v, want exactly 100ms", got)
		}
	})
	t.Run("merge", func(t *testing.T) {
		a, b, all := newHistogram(), newHistogram(), newHistogram()
		for v := 1; v <= 5000; v++ {
			d := time.Duration(v) * 997
			all.record(d)
			if v%3 == 0 {
				a.record(d)
			} else {
				b.record(d)
			}
		}
		a.merge(b)
		for _, p := range []float64{1, 50, 90, 99, 99.9, 100} {
			if a.percentile(p) != all.percentile(p) {
				t.Errorf("merged p%g = %v, want %v", p, a.percentile(p), all.percentile(p))
			}
		}
		if a.n != all.n || a.minimum() != all.minimum() || a.mean() != all.mean() {
			t.Errorf("merged n %d min %v mean %v, want %d %v %v", a.n, a.minimum(), a.mean(), all.n, all.minimum(), all.mean())
		}
	})
	t.Run("negative durations count as 0", func(t *testing.T) {
		h := newHistogram()
		h.record(-5)
		if h.percentile(100) != 0 || h.n != 1 {
			t.Errorf("max %v n %d", h.percentile(100), h.n)
		}
	})
}
