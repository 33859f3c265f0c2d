// Command vulndb turns a directory of OSV JSON files into the v1 file
// database that `govulncheck -db file://DIR` reads:
//
//	index/db.json       {"modified": newest entry's modified}
//	index/modules.json  [{"path", "vulns": [{"id", "modified", "fixed"?}]}]
//	ID/<id>.json        each entry
//
// It exists because CI reaches no vuln.go.dev, only the Go module proxy,
// which serves the data as the module golang.org/x/vulndb (data/osv/*.json,
// without the index). vulndb's own cmd/indexdb does the same but pulls that
// module's whole dependency tree (cloud clients, go-git). The index follows
// golang.org/x/vuln v1.9.0 internal/client (index.go, schema.go): modules
// and vulns sorted, "fixed" the latest fix not superseded by a later
// introduction (internal/semver.NonSupersededFix), versions compared as
// golang.org/x/mod/semver does. The module's files all say modified
// 0001-01-01 (vuln.go.dev fills it in from git history): -modified stands
// in for such a time, in the index and in the entry.
//
// Usage: go run ./internal/tools/vulndb -osv DIR -out DIR [-modified RFC3339]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

type entry struct { // the fields of an OSV entry that the index needs
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Type   string `json:"type"`
			Events []struct {
				Introduced string `json:"introduced"`
				Fixed      string `json:"fixed"`
			} `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

func main() {
	osvDir := flag.String("osv", "", "directory of OSV files named <id>.json")
	out := flag.String("out", "", "directory to write the database to")
	mod := flag.String("modified", "", "RFC 3339 time for entries whose modified is unset")
	flag.Parse()
	if *osvDir == "" || *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	var fill time.Time
	if *mod != "" {
		var err error
		if fill, err = time.Parse(time.RFC3339, *mod); err != nil {
			log.Fatal(err)
		}
	}
	n, err := build(*osvDir, *out, fill)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("vulndb: %d entries -> %s\n", n, *out)
}

// build writes the database for the entries in osvDir to out and returns
// how many entries it holds.
func build(osvDir, out string, fill time.Time) (int, error) {
	files, err := filepath.Glob(filepath.Join(osvDir, "*.json"))
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no *.json in %s", osvDir)
	}
	for _, d := range []string{"index", "ID"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return 0, err
		}
	}
	var newest time.Time
	modules := map[string]*module{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var e entry
		var raw map[string]json.RawMessage // the whole entry, written back
		if err := json.Unmarshal(b, &e); err != nil {
			return 0, fmt.Errorf("%s: %v", f, err)
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			return 0, fmt.Errorf("%s: %v", f, err)
		}
		if filepath.Base(f) != e.ID+".json" {
			return 0, fmt.Errorf("%s: entry %q is not named <id>.json", f, e.ID)
		}
		if e.Modified.IsZero() && !fill.IsZero() {
			e.Modified = fill
			raw["modified"], _ = json.Marshal(fill)
			if b, err = json.Marshal(raw); err != nil {
				return 0, err
			}
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), b, 0o644); err != nil {
			return 0, err
		}
		if e.Modified.After(newest) {
			newest = e.Modified
		}
		for _, a := range e.Affected {
			m := modules[a.Package.Name]
			if m == nil {
				m = &module{Path: a.Package.Name, Vulns: []moduleVuln{}}
				modules[m.Path] = m
			}
			// internal/semver.NonSupersededFix, as x/vuln has it.
			var fixed string
			for _, r := range a.Ranges {
				if r.Type != "SEMVER" {
					continue
				}
				for _, ev := range r.Events {
					if ev.Fixed != "" && less(fixed, ev.Fixed) {
						fixed = ev.Fixed
					}
				}
				for _, ev := range r.Events {
					if ev.Introduced != "" && ev.Introduced != "0" && less(fixed, ev.Introduced) {
						fixed = ""
						break
					}
				}
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: fixed})
		}
	}
	index := make([]*module, 0, len(modules))
	for _, m := range modules {
		sort.SliceStable(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		index = append(index, m)
	}
	sort.Slice(index, func(i, j int) bool { return index[i].Path < index[j].Path })
	for name, v := range map[string]any{"db": map[string]time.Time{"modified": newest}, "modules": index} {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(out, "index", name+".json"), b, 0o644); err != nil {
			return 0, err
		}
	}
	return len(files), nil
}

// A valid semantic version as golang.org/x/mod/semver takes it ("v1" and
// "v1.2" stand for v1.0.0 and v1.2.0; no leading zeros).
var semverRE = regexp.MustCompile(`^v(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][\dA-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][\dA-Za-z-]*))*))?` +
	`(?:\+[\dA-Za-z-]+(?:\.[\dA-Za-z-]+)*)?)?)?$`)

// less reports v < w for versions with a "v", "go" or no prefix, as
// x/vuln's internal/semver.Less does (an invalid version is below every
// valid one).
func less(v, w string) bool { return compare(v, w) < 0 }

func compare(v, w string) int {
	canon := func(s string) string { return "v" + strings.TrimPrefix(strings.TrimPrefix(s, "v"), "go") }
	pv, pw := semverRE.FindStringSubmatch(canon(v)), semverRE.FindStringSubmatch(canon(w))
	switch {
	case pv == nil && pw == nil:
		return 0
	case pv == nil:
		return -1
	case pw == nil:
		return 1
	}
	num := func(x, y string) int { // decimal strings without leading zeros
		if x == "" {
			x = "0"
		}
		if y == "" {
			y = "0"
		}
		if len(x) != len(y) {
			return len(x) - len(y)
		}
		return strings.Compare(x, y)
	}
	for i := 1; i <= 3; i++ {
		if c := num(pv[i], pw[i]); c != 0 {
			return c
		}
	}
	x, y := pv[4], pw[4] // pre-releases: none is above any
	switch {
	case x == y:
		return 0
	case x == "":
		return 1
	case y == "":
		return -1
	}
	xs, ys := strings.Split(x, "."), strings.Split(y, ".")
	for i := 0; i < len(xs) && i < len(ys); i++ {
		if xs[i] == ys[i] {
			continue
		}
		isNum := func(s string) bool { return strings.Trim(s, "0123456789") == "" }
		switch nx, ny := isNum(xs[i]), isNum(ys[i]); {
		case nx && ny:
			return num(xs[i], ys[i])
		case nx != ny: // numeric identifiers are below the others
			if nx {
				return -1
			}
			return 1
		}
		return strings.Compare(xs[i], ys[i])
	}
	return len(xs) - len(ys)
}
