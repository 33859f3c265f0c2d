//go:build e2e

package envoy_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// An adapter's idle state, taken before faults and expected back after
// them (issue 13: goroutines, file descriptors and memory return to their
// baseline after recovery).

// goroutines is the adapter's goroutine count, from its pprof server.
func goroutines(t *testing.T, s *ownStack) int {
	t.Helper()
	resp, err := http.Get(s.debug + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatalf("goroutine profile: %v", err)
	}
	defer resp.Body.Close()
	var n int
	if _, err := fmt.Fscanf(resp.Body, "goroutine profile: total %d", &n); err != nil {
		t.Fatalf("goroutine profile: %v", err)
	}
	return n
}

// heapInUse is the adapter's Go heap in use after a collection, from its
// pprof server (the runtime.MemStats the heap profile ends with).
func heapInUse(t *testing.T, s *ownStack) uint64 {
	t.Helper()
	resp, err := http.Get(s.debug + "/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		t.Fatalf("heap profile: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("heap profile: %v", err)
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "# HeapInuse = "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("heap profile: HeapInuse %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("heap profile without HeapInuse:\n%.500s", body)
	return 0
}

// A baseline is the adapter's idle state before the faults: its
// goroutines, Go heap and each process's open files.
type baseline struct {
	goroutines int
	heap       uint64
	procs      []*exchangeProc
	fds        []int
}

// Tolerances for coming back to the baseline: a few goroutines (timers,
// idle connections), open files for the connections the load left idle,
// and heap for what the producer's batches and pools keep (bounded by the
// config's batching.bytes per partition).
const (
	goroutineSlack = 10
	fdSlack        = 30
	heapSlack      = 32 << 20
)

// takeBaseline warms the adapter up first (requests that open its
// producer's connections, which stay open while it serves) and then reads
// its idle state.
func takeBaseline(t *testing.T, s *ownStack) baseline {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 20 {
		if code, body, _, err := sendWithID(client, s.url, fmt.Sprintf("warm-up-%d-%d", time.Now().UnixNano(), i)); err != nil || code != 200 {
			t.Fatalf("warm-up request %d: %d %s (%v)", i, code, body, err)
		}
	}
	client.CloseIdleConnections()
	time.Sleep(time.Second)
	b := baseline{goroutines: goroutines(t, s), heap: heapInUse(t, s), procs: []*exchangeProc{s.envoy}}
	if s.server != nil {
		b.procs = append(b.procs, s.server)
	}
	for _, p := range b.procs {
		b.fds = append(b.fds, openFiles(p.pid))
	}
	return b
}

// expect waits for the adapter to come back to its idle state after the
// faults: goroutines, heap and open files near what they were.
func (b baseline) expect(t *testing.T, s *ownStack) {
	t.Helper()
	var now int
	var heap uint64
	if err := waitFor(30*time.Second, func() error {
		if now = goroutines(t, s); now > b.goroutines+goroutineSlack {
			return fmt.Errorf("%d goroutines", now)
		}
		if heap = heapInUse(t, s); heap > b.heap+heapSlack {
			return fmt.Errorf("%d bytes of heap", heap)
		}
		return nil
	}); err != nil {
		t.Errorf("not back to the baseline within 30 s: %d goroutines (%d before the faults), heap %.1f MiB (%.1f MiB before)",
			now, b.goroutines, mib(heap), mib(b.heap))
		if resp, err := http.Get(s.debug + "/debug/pprof/goroutine?debug=1"); err == nil {
			profile, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("goroutines now:\n%.6000s", profile)
		}
	}
	fds := make([]int, len(b.procs))
	for i, p := range b.procs {
		if fds[i] = openFiles(p.pid); b.fds[i] > 0 && fds[i] > b.fds[i]+fdSlack {
			t.Errorf("pid %d holds %d open files after recovery, %d before the faults", p.pid, fds[i], b.fds[i])
		}
	}
	t.Logf("after recovery: %d goroutines (%d before), heap %.1f MiB (%.1f MiB before), open files %v (%v before)",
		now, b.goroutines, mib(heap), mib(b.heap), fds, b.fds)
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// openFiles counts a process's open file descriptors (0 if unknown).
func openFiles(pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(entries)
}
