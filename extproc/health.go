package extproc

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/ingest"
)

// Health checks whether the Kafka clusters of the server's configs can be
// reached: every interval, a metadata request to a broker of each (over a
// connection of its own, with the config's TLS and SASL). The result is a
// gauge on /metrics and, when the server is told to (-ready-requires-kafka),
// its readiness: /ready and the gRPC health service then say NOT_SERVING
// while a cluster cannot be reached. The README's "Operating it" section
// says why that is off by default.
type Health struct {
	every   time.Duration
	checks  []*clusterCheck
	changed func(reachable bool)

	mu    sync.Mutex
	state map[string]ClusterState
	all   bool // every cluster reachable at the last round
}

// ClusterState is one cluster's last check.
type ClusterState struct {
	// Name is the cluster's bootstrap servers, comma-separated.
	Name string
	// Checked is false until the first check ended.
	Checked, Reachable bool
	// Error is why the last check failed ("" when it did not).
	Error string
}

type clusterCheck struct {
	name     string
	pipeline *ingest.Pipeline
}

// NewHealth checks the clusters of s every interval. changed, if not nil,
// is called after each round whose verdict (all reachable or not)
// differs from the last one's, and after the first.
func NewHealth(s *Server, every time.Duration, changed func(reachable bool)) *Health {
	h := &Health{every: every, changed: changed, state: map[string]ClusterState{}}
	seen := map[string]bool{}
	for _, p := range s.owners {
		name := strings.Join(p.Settings().Cluster.Brokers, ",")
		if !seen[name] { // configs of one cluster with different producers
			seen[name] = true
			h.checks = append(h.checks, &clusterCheck{name: name, pipeline: p})
		}
	}
	slices.SortFunc(h.checks, func(a, b *clusterCheck) int { return strings.Compare(a.name, b.name) })
	return h
}

// Run checks at once, then every interval, until ctx ends.
func (h *Health) Run(ctx context.Context) {
	t := time.NewTicker(h.every)
	defer t.Stop()
	first := true
	for {
		h.round(ctx, first)
		first = false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round checks every cluster in parallel, each within the interval (at
// most 5 s: a check that takes longer says enough).
func (h *Health) round(ctx context.Context, first bool) {
	checkCtx, cancel := context.WithTimeout(ctx, min(h.every, 5*time.Second))
	defer cancel()
	results := make([]ClusterState, len(h.checks))
	var wg sync.WaitGroup
	for i, c := range h.checks {
		wg.Go(func() {
			results[i] = ClusterState{Name: c.name, Checked: true, Reachable: true}
			if err := c.pipeline.Ping(checkCtx); err != nil {
				results[i].Reachable, results[i].Error = false, err.Error()
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // shutting down: no verdict
	}
	all := true
	h.mu.Lock()
	for _, r := range results {
		h.state[r.Name] = r
		all = all && r.Reachable
	}
	changed := first || all != h.all
	h.all = all
	h.mu.Unlock()
	if changed && h.changed != nil {
		h.changed(all)
	}
}

// Clusters is the last check of every cluster, sorted by name.
func (h *Health) Clusters() []ClusterState {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]ClusterState, 0, len(h.checks))
	for _, c := range h.checks {
		s, ok := h.state[c.name]
		if !ok {
			s = ClusterState{Name: c.name}
		}
		out = append(out, s)
	}
	return out
}
