//go:build e2e

package envoy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Data races in the servers under test. `make e2e` runs the suite against
// race-built binaries (E2E_BIN_DIR=build/race): a race in the module (inside
// Envoy) or in the ext_proc server prints "WARNING: DATA RACE" to that
// process's output and the process goes on, so every server's output passes
// through a raceWatch, and the suite fails at its end if one saw a report.

// binDir is where the suite takes build/extproc and
// build/libkafka_upstream.so from: E2E_BIN_DIR, or the repository's build/.
func binDir() string {
	if dir := os.Getenv("E2E_BIN_DIR"); dir != "" {
		if filepath.IsAbs(dir) {
			return dir
		}
		return filepath.Join(stack.root, dir)
	}
	return filepath.Join(stack.root, "build")
}

const (
	raceMarker      = "WARNING: DATA RACE"
	raceReportBytes = 8 << 10 // kept of each report
)

// raceReports are the reports seen so far, each starting with the log it
// went to.
var raceReports struct {
	sync.Mutex
	list []*bytes.Buffer
}

// raceWatch passes a process's output on to its log file and keeps the
// first few KB of each race report in it.
type raceWatch struct {
	log    string
	out    *os.File
	tail   []byte        // the last bytes written: a marker split across writes
	report *bytes.Buffer // the report being kept, in raceReports.list
}

func (w *raceWatch) Write(p []byte) (int, error) {
	n, err := w.out.Write(p)
	raceReports.Lock()
	defer raceReports.Unlock()
	if w.report != nil {
		w.report.Write(p[:min(len(p), max(0, raceReportBytes-w.report.Len()))])
	}
	seen := append(w.tail, p...)
	if i := bytes.Index(seen, []byte(raceMarker)); i >= 0 && i+len(raceMarker) > len(w.tail) && w.report == nil {
		w.report = bytes.NewBufferString(w.log + ":\n")
		w.report.Write(seen[i:min(len(seen), i+raceReportBytes)])
		raceReports.list = append(raceReports.list, w.report)
	}
	w.tail = append(w.tail[:0], seen[max(0, len(seen)-len(raceMarker)+1):]...)
	return n, err
}

// racesSeen returns the race reports of every process the suite ran (the
// first of each process).
func racesSeen() []string {
	raceReports.Lock()
	defer raceReports.Unlock()
	var out []string
	for _, r := range raceReports.list {
		out = append(out, r.String())
	}
	return out
}

// TestRaceWatch: a report is kept whole from its marker, also when the
// marker is split across writes, and once per process.
func TestRaceWatch(t *testing.T) {
	raceReports.Lock()
	saved := raceReports.list
	raceReports.list = nil
	raceReports.Unlock()
	t.Cleanup(func() {
		raceReports.Lock()
		raceReports.list = saved
		raceReports.Unlock()
	})
	f, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &raceWatch{log: "server.log", out: f}
	for _, p := range []string{"started\n==================\nWARNING: DATA", " RACE\nWrite at 0x00c0 by goroutine 7:\n", "  main.f()\n", "WARNING: DATA RACE\nagain\n"} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	want := "server.log:\nWARNING: DATA RACE\nWrite at 0x00c0 by goroutine 7:\n  main.f()\nWARNING: DATA RACE\nagain\n"
	if got := racesSeen(); len(got) != 1 || got[0] != want {
		t.Fatalf("reports %q, want [%q]", got, want)
	}
	if data, _ := os.ReadFile(f.Name()); !bytes.HasPrefix(data, []byte("started\n")) || !bytes.HasSuffix(data, []byte("again\n")) {
		t.Fatalf("the log has %q: not everything written", data)
	}
	clean := &raceWatch{log: "clean.log", out: f}
	clean.Write([]byte("WARNING: DATA RAC"))
	clean.Write([]byte("e is not it\n"))
	if got := racesSeen(); len(got) != 1 {
		t.Fatalf("%d reports after a log without one, want still 1", len(got))
	}
}
