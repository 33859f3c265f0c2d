package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Three tiny entries: one module fixed twice (the later fix wins, by
// semver, not by string: 1.10.0 > 1.9.1), one fixed and then re-introduced
// (no fix in the index) beside a stdlib range with a pre-release, one whose
// modified is set (the newest; the others are the module's zero time).
var osvFiles = map[string]string{
	"GO-2099-0001.json": `{"schema_version":"1.3.1","id":"GO-2099-0001","modified":"0001-01-01T00:00:00Z",
	 "summary":"one","details":"d","affected":[{"package":{"name":"example.com/a","ecosystem":"Go"},
	 "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.9.1"},{"introduced":"1.10.0-rc.1"},{"fixed":"1.10.0"}]}],
	 "ecosystem_specific":{"imports":[{"path":"example.com/a","symbols":["F"]}]}}]}`,
	"GO-2099-0002.json": `{"id":"GO-2099-0002","modified":"0001-01-01T00:00:00Z","details":"d","affected":[
	 {"package":{"name":"example.com/a","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.2.0"},{"introduced":"0.3.0"}]}]},
	 {"package":{"name":"stdlib","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.25.9"},{"introduced":"1.26.0-0"},{"fixed":"1.26.2"}]}]}]}`,
	"GO-2099-0003.json": `{"id":"GO-2099-0003","modified":"2099-02-03T04:05:06Z","details":"d","affected":[
	 {"package":{"name":"example.com/b","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
	"README.md": "not an entry",
}

func writeOSV(t *testing.T) string {
	dir := t.TempDir()
	for name, s := range osvFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func read(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBuild(t *testing.T) {
	out := t.TempDir()
	n, err := build(writeOSV(t), out, time.Time{})
	if err != nil || n != 3 {
		t.Fatalf("build: %d entries, %v", n, err)
	}
	if got, want := read(t, filepath.Join(out, "index/db.json")), `{"modified":"2099-02-03T04:05:06Z"}`; got != want {
		t.Errorf("db.json:\n got %s\nwant %s", got, want)
	}
	want := `[{"path":"example.com/a","vulns":[` +
		`{"id":"GO-2099-0001","modified":"0001-01-01T00:00:00Z","fixed":"1.10.0"},` +
		`{"id":"GO-2099-0002","modified":"0001-01-01T00:00:00Z"}]},` +
		`{"path":"example.com/b","vulns":[{"id":"GO-2099-0003","modified":"2099-02-03T04:05:06Z"}]},` +
		`{"path":"stdlib","vulns":[{"id":"GO-2099-0002","modified":"0001-01-01T00:00:00Z","fixed":"1.26.2"}]}]`
	if got := read(t, filepath.Join(out, "index/modules.json")); got != want {
		t.Errorf("modules.json:\n got %s\nwant %s", got, want)
	}
	for _, id := range []string{"GO-2099-0001", "GO-2099-0002", "GO-2099-0003"} {
		if got := read(t, filepath.Join(out, "ID", id+".json")); got != osvFiles[id+".json"] {
			t.Errorf("ID/%s.json changed: %s", id, got)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "ID/README.md")); err == nil {
		t.Error("README.md copied")
	}
}

func TestBuildFillsModified(t *testing.T) {
	out := t.TempDir()
	fill := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := build(writeOSV(t), out, fill); err != nil {
		t.Fatal(err)
	}
	// The set time stays the newest; the zero ones become fill, in the
	// index and in the entries.
	if got, want := read(t, filepath.Join(out, "index/db.json")), `{"modified":"2099-02-03T04:05:06Z"}`; got != want {
		t.Errorf("db.json: got %s, want %s", got, want)
	}
	modules := read(t, filepath.Join(out, "index/modules.json"))
	if strings.Contains(modules, "0001-01-01") || strings.Count(modules, `"modified":"2099-01-01T00:00:00Z"`) != 3 {
		t.Errorf("modules.json: %s", modules)
	}
	e := read(t, filepath.Join(out, "ID/GO-2099-0001.json"))
	if !strings.Contains(e, `"modified":"2099-01-01T00:00:00Z"`) || !strings.Contains(e, `"symbols":["F"]`) {
		t.Errorf("ID/GO-2099-0001.json: %s", e)
	}
	if got := read(t, filepath.Join(out, "ID/GO-2099-0003.json")); got != osvFiles["GO-2099-0003.json"] {
		t.Errorf("ID/GO-2099-0003.json changed: %s", got)
	}
}

func TestBuildRejectsMisnamedEntry(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "GO-1.json"), []byte(`{"id":"GO-2"}`), 0o644)
	if _, err := build(dir, t.TempDir(), time.Time{}); err == nil || !strings.Contains(err.Error(), "<id>.json") {
		t.Errorf("err = %v", err)
	}
}

// compare is checked against golang.org/x/mod/semver (through x/vuln's
// internal/semver.Less) on every pair of the ~3250 versions in the vulndb
// module, with no difference; these are its corner cases.
func TestCompare(t *testing.T) {
	for _, c := range []struct {
		v, w string
		want int
	}{
		{"1.9.1", "1.10.0", -1},
		{"1.10.0-rc.1", "1.10.0", -1},
		{"go1.21", "1.21.0", 0},
		{"v1.2", "1.2.0+build", 0},
		{"1.2.3-alpha.9", "1.2.3-alpha.10", -1},
		{"1.2.3-1", "1.2.3-a", -1},
		{"1.2.3-a", "1.2.3-a.1", -1},
		{"0.0.0-20210520170846-37e1c6afe023", "0.0.1", -1},
		{"1.07", "0.0.1", -1}, // invalid: below every valid version
		{"0.9.1.3", "1.07", 0},
		{"", "0", -1},
		{"1.2.3-01", "1.2.3-1", -1}, // leading zero: invalid
	} {
		if got := compare(c.v, c.w); sign(got) != c.want || sign(compare(c.w, c.v)) != -c.want {
			t.Errorf("compare(%q, %q) = %d, want %d", c.v, c.w, got, c.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
