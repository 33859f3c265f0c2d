package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseGoBenchTakesMediansPerBenchmark(t *testing.T) {
	out := `goos: linux
BenchmarkEncode/raw/json/1KiB-2   	 1000000	       120 ns/op	8533.33 MB/s	      64 B/op	       2 allocs/op
BenchmarkEncode/raw/json/1KiB-2   	 1000000	       100 ns/op	8533.33 MB/s	      64 B/op	       2 allocs/op
BenchmarkEncode/raw/json/1KiB-2   	 1000000	       140 ns/op	8533.33 MB/s	      64 B/op	       2 allocs/op
BenchmarkHandle/one-record-2      	     800	   1410000 ns/op	    9000 B/op	      66 allocs/op
PASS
`
	got := parseGoBench(out)
	if len(got) != 2 {
		t.Fatalf("%d benchmarks, want 2: %+v", len(got), got)
	}
	if g := got[0]; g.Name != "BenchmarkEncode/raw/json/1KiB" || g.Runs != 3 || g.NsPerOp != 120 || g.NsMin != 100 || g.NsMax != 140 || g.BytesPerOp != 64 || g.AllocsPerOp != 2 {
		t.Errorf("first: %+v", g)
	}
	if g := got[1]; g.Name != "BenchmarkHandle/one-record" || g.NsPerOp != 1410000 || g.AllocsPerOp != 66 {
		t.Errorf("second: %+v", g)
	}
}

func TestFlatness(t *testing.T) {
	series := func(rss func(i int) int64) []soakSample {
		var s []soakSample
		for i := range 30 {
			s = append(s, soakSample{AtS: float64(i * 5), RSSKiB: map[string]int64{"envoy": rss(i)}, Threads: map[string]int64{"envoy": 10},
				OpenFiles: map[string]int{"envoy": 80}, Goroutines: 40})
		}
		return s
	}
	if flat, v := flatness(series(func(int) int64 { return 100 << 10 }), 0); !flat {
		t.Errorf("constant RSS judged not flat: %v", v)
	}
	if flat, v := flatness(series(func(i int) int64 { return int64(100+i*2) << 10 }), 0); flat {
		t.Errorf("RSS growing 2 MiB per sample judged flat: %v", v)
	}
	if flat, v := flatness(series(func(int) int64 { return 1 }), 10000*time.Second); flat || !strings.Contains(v[0], "too short") {
		t.Errorf("no samples after settling: %v %v", flat, v)
	}
}

func TestSubstituteWantsEachTokenOnce(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.yaml")
	os.WriteFile(src, []byte("a: port_value: 10000\nb: port_value: 9901\n"), 0o644)
	dst := filepath.Join(dir, "out.yaml")
	if err := substitute(src, dst, "port_value: 10000", "port_value: 20000"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "a: port_value: 20000\nb: port_value: 9901\n" {
		t.Errorf("got %q", b)
	}
	if err := substitute(src, dst, "port_value: ", "x"); err == nil {
		t.Error("a token found twice was replaced")
	}
}

// The scenario configs of the e2e directory keep the tokens the driver
// replaces (each exactly once).
func TestScenarioConfigsHaveTheirTokens(t *testing.T) {
	for file, tokens := range map[string][]string{
		"../../e2e/envoy-dynmod.yaml":  {"port_value: 10000", "port_value: 9901", `"127.0.0.1:9092"`},
		"../../e2e/envoy-extproc.yaml": {"port_value: 10000", "port_value: 9901", "port_value: 50051"},
		"../../e2e/extproc.yaml":       {`"127.0.0.1:9092"`},
		"../envoy-direct.yaml":         {"port_value: 10000", "port_value: 9901"},
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range tokens {
			if n := strings.Count(string(b), tok); n != 1 {
				t.Errorf("%s: %q %d times", file, tok, n)
			}
		}
	}
}

func TestWithAsyncKeepsTheIndentation(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(f, []byte("x:\n    a: 1\n    produce_timeout: 10s\n    b: 2\n"), 0o644)
	if err := withAsync(f); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f); string(b) != "x:\n    a: 1\n    produce_timeout: 10s\n    async: {enabled: true}\n    b: 2\n" {
		t.Errorf("got %q", b)
	}
	for _, cfg := range []string{"../../e2e/envoy-dynmod.yaml", "../../e2e/extproc.yaml"} {
		if b, _ := os.ReadFile(cfg); strings.Count(string(b), asyncToken) != 1 {
			t.Errorf("%s: %q not once", cfg, asyncToken)
		}
	}
}
