//go:build e2e

package envoy_test

import (
	"errors"
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
func goroutines(s *ownStack) (int, error) {
	resp, err := http.Get(s.debug + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, fmt.Errorf("goroutine profile: %v", err)
	}
	defer resp.Body.Close()
	var n int
	if _, err := fmt.Fscanf(resp.Body, "goroutine profile: total %d", &n); err != nil {
		return 0, fmt.Errorf("goroutine profile: %v", err)
	}
	return n, nil
}

// heapInUse is the adapter's Go heap in use after a collection, from its
// pprof server (the runtime.MemStats the heap profile ends with).
func heapInUse(s *ownStack) (uint64, error) {
	resp, err := http.Get(s.debug + "/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		return 0, fmt.Errorf("heap profile: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("heap profile: %v", err)
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "# HeapInuse = "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("heap profile: HeapInuse %q: %v", v, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("heap profile without HeapInuse:\n%.500s", body)
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
// and heap for what the producer's buffers and pools keep once idle (the
// runs here came back within +0.5 MiB of a 4 MiB baseline; a leak of a
// request's body or record per request under load would be far more).
const (
	goroutineSlack = 10
	fdSlack        = 30
	heapSlack      = 8 << 20
)

// takeBaseline warms the adapter up first (requests that open its
// producer's connections, which stay open while it serves) and then reads
// its idle state.
func takeBaseline(t *testing.T, s *ownStack) baseline {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 20 {
		if code, body, err := sendWithID(client, s.url, fmt.Sprintf("warm-up-%d-%d", time.Now().UnixNano(), i)); err != nil || code != 200 {
			t.Fatalf("warm-up request %d: %d %s (%v)", i, code, body, err)
		}
	}
	client.CloseIdleConnections()
	time.Sleep(time.Second)
	b := baseline{procs: []*exchangeProc{s.envoy}}
	if s.server != nil {
		b.procs = append(b.procs, s.server)
	}
	var err error
	if b.goroutines, err = goroutines(s); err != nil {
		t.Fatal(err)
	}
	if b.heap, err = heapInUse(s); err != nil {
		t.Fatal(err)
	}
	for _, p := range b.procs {
		b.fds = append(b.fds, openFiles(p.pid))
	}
	return b
}

// expect waits up to 30 s for the adapter to come back to its idle state
// after the faults: goroutines, heap and every process's open files near
// what they were, read together on each try.
func (b baseline) expect(t *testing.T, s *ownStack) {
	t.Helper()
	var now int
	var heap uint64
	fds := make([]int, len(b.procs))
	err := waitFor(30*time.Second, func() error {
		var errs []error
		var err error
		if now, err = goroutines(s); err != nil {
			errs = append(errs, err)
		} else if now > b.goroutines+goroutineSlack {
			errs = append(errs, fmt.Errorf("%d goroutines", now))
		}
		if heap, err = heapInUse(s); err != nil {
			errs = append(errs, err)
		} else if heap > b.heap+heapSlack {
			errs = append(errs, fmt.Errorf("%.1f MiB of heap", mib(heap)))
		}
		for i, p := range b.procs {
			if fds[i] = openFiles(p.pid); b.fds[i] > 0 && fds[i] > b.fds[i]+fdSlack {
				errs = append(errs, fmt.Errorf("pid %d holds %d open files", p.pid, fds[i]))
			}
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Errorf("not back to the baseline within 30 s: %v; before the faults: %d goroutines, heap %.1f MiB, open files %v",
			err, b.goroutines, mib(b.heap), b.fds)
		if resp, err := http.Get(s.debug + "/debug/pprof/goroutine?debug=1"); err == nil {
			profile, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("goroutines now:\n%.6000s", profile)
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
