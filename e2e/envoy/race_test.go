//go:build e2e

package envoy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Data races in the servers under test. `make e2e` and `make cluster` run
// the ext_proc adapter against a race-built server (E2E_BIN_DIR=build/race):
// a race in it prints "WARNING: DATA RACE" to its output and the server goes
// on, so every server's output passes through a raceWatch, and the suite
// fails at its end if one saw a report. (The module is not race-built: TSan
// gets no shadow memory inside Envoy's process; docs/development.md.)

// binDir is where the suite takes extproc and libkafka_upstream.so from:
// E2E_BIN_DIR, or the repository's build/.
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

// raceList holds race reports, each starting with the log it went to.
type raceList struct {
	mu   sync.Mutex
	list []*bytes.Buffer
}

// raceReports are the reports of every server the suite runs.
var raceReports raceList

// raceWatch passes a process's output on to its log file and keeps the
// first few KB of its first race report in reports.
type raceWatch struct {
	log     string
	out     *os.File
	reports *raceList
	tail    []byte        // the last bytes written: a marker split across writes
	report  *bytes.Buffer // the report being kept, in reports.list
}

func (w *raceWatch) Write(p []byte) (int, error) {
	n, err := w.out.Write(p)
	w.reports.mu.Lock()
	defer w.reports.mu.Unlock()
	if w.report != nil {
		w.report.Write(p[:min(len(p), max(0, raceReportBytes-w.report.Len()))])
	}
	seen := append(w.tail, p...)
	if i := bytes.Index(seen, []byte(raceMarker)); i >= 0 && i+len(raceMarker) > len(w.tail) && w.report == nil {
		w.report = bytes.NewBufferString(w.log + ":\n")
		w.report.Write(seen[i:min(len(seen), i+raceReportBytes)])
		w.reports.list = append(w.reports.list, w.report)
	}
	w.tail = append(w.tail[:0], seen[max(0, len(seen)-len(raceMarker)+1):]...)
	return n, err
}

// seen returns the reports so far.
func (l *raceList) seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.list {
		out = append(out, r.String())
	}
	return out
}

// TestRaceWatch: a report is kept whole from its marker, also when the
// marker is split across writes, and once per process.
func TestRaceWatch(t *testing.T) {
	var reports raceList // its own: the suite's servers write to raceReports meanwhile
	f, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &raceWatch{log: "server.log", out: f, reports: &reports}
	for _, p := range []string{"started\n==================\nWARNING: DATA", " RACE\nWrite at 0x00c0 by goroutine 7:\n", "  main.f()\n", "WARNING: DATA RACE\nagain\n"} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	want := "server.log:\nWARNING: DATA RACE\nWrite at 0x00c0 by goroutine 7:\n  main.f()\nWARNING: DATA RACE\nagain\n"
	if got := reports.seen(); len(got) != 1 || got[0] != want {
		t.Fatalf("reports %q, want [%q]", got, want)
	}
	if data, _ := os.ReadFile(f.Name()); !bytes.HasPrefix(data, []byte("started\n")) || !bytes.HasSuffix(data, []byte("again\n")) {
		t.Fatalf("the log has %q: not everything written", data)
	}
	clean := &raceWatch{log: "clean.log", out: f, reports: &reports}
	clean.Write([]byte("WARNING: DATA RAC"))
	clean.Write([]byte("e is not it\n"))
	if got := reports.seen(); len(got) != 1 {
		t.Fatalf("%d reports after a log without one, want still 1", len(got))
	}
}
