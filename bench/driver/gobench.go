package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// goBench is one Go benchmark's medians over its runs.
type goBench struct {
	Name        string  `json:"name"`
	Runs        int     `json:"runs"`
	NsPerOp     float64 `json:"ns_per_op"`
	NsMin       float64 `json:"ns_min"`
	NsMax       float64 `json:"ns_max"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

// goBenchmarks runs the per-request core's Go benchmarks (encoder/,
// ingest/ against kfake) count times each and returns their medians.
func (d *driver) goBenchmarks(ctx context.Context, count int) ([]goBench, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem",
		"-count", strconv.Itoa(count), "-benchtime", d.benchtime, "./encoder/", "./ingest/")
	cmd.Dir = d.root
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go test -bench: %w\n%s", err, out.String())
	}
	return parseGoBench(out.String()), nil
}

// parseGoBench reads `go test -bench -benchmem` output: lines
// "BenchmarkName-2  N  123 ns/op  [x MB/s]  456 B/op  7 allocs/op".
func parseGoBench(out string) []goBench {
	type samples struct{ ns, bytes, allocs []float64 }
	byName := map[string]*samples{}
	var order []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // the GOMAXPROCS suffix
		}
		s := byName[name]
		if s == nil {
			s = &samples{}
			byName[name] = s
			order = append(order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				s.ns = append(s.ns, v)
			case "B/op":
				s.bytes = append(s.bytes, v)
			case "allocs/op":
				s.allocs = append(s.allocs, v)
			}
		}
	}
	var res []goBench
	for _, name := range order {
		s := byName[name]
		if len(s.ns) == 0 {
			continue
		}
		res = append(res, goBench{Name: name, Runs: len(s.ns), NsPerOp: median(s.ns), NsMin: slices.Min(s.ns), NsMax: slices.Max(s.ns),
			BytesPerOp: median(s.bytes), AllocsPerOp: median(s.allocs)})
	}
	return res
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
