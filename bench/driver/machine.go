package main

import (
	"bufio"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// machine describes the computer the numbers come from.
func machine() map[string]string {
	m := map[string]string{"cpus": strconv.Itoa(runtime.NumCPU()), "os": runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]); len(f) >= 2 {
			if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
				m["memory"] = strconv.FormatFloat(kb/1024/1024, 'f', 1, 64) + " GiB"
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m["loadavg_at_start"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}

// versions of everything measured.
func (d *driver) versions() map[string]string {
	v := map[string]string{"go": runtime.Version()}
	if out, err := output(d.root, d.envoy, "--version"); err == nil {
		if m := regexp.MustCompile(`version: \S+`).FindString(out); m != "" {
			v["envoy"] = strings.TrimPrefix(m, "version: ")
		}
	}
	if b, err := os.ReadFile(d.root + "/e2e/kafka/pom.xml"); err == nil {
		if m := regexp.MustCompile(`<kafka.version>([^<]+)</kafka.version>`).FindSubmatch(b); m != nil {
			v["kafka"] = string(m[1])
		}
	}
	for _, mod := range []string{"github.com/segmentio/kafka-go", "google.golang.org/grpc"} {
		if out, err := output(d.root, "go", "list", "-m", "-f", "{{.Version}}", mod); err == nil {
			v[mod] = out
		}
	}
	if out, err := output(d.root, "git", "rev-parse", "--short", "HEAD"); err == nil {
		v["commit"] = out
		if dirty, _ := output(d.root, "git", "status", "--porcelain"); dirty != "" {
			v["commit"] += " (with uncommitted changes)"
		}
	}
	return v
}
