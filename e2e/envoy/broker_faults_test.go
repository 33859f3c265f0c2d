//go:build e2e

package envoy_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
)

// The single broker frozen (SIGSTOP) under load, then thawed, then killed
// (SIGKILL) and started again: while frozen, requests end by their
// produce_timeout with the filter's 504 (or 502); every 200 of the frozen
// phase is in Kafka; after the thaw and after the restart requests succeed
// again by themselves, and the adapter comes back to its baseline
// (goroutines, heap, open files). On a stack of its own, which the pprof
// server that reads the baseline comes with. (The cluster's faults:
// cluster_test.go.)
func TestBrokerFrozenThenKilled(t *testing.T) {
	ensureTopics(t)
	kafkaSh := filepath.Join(stack.root, "e2e", "kafka.sh")
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(kafkaSh, args...).CombinedOutput(); err != nil {
			t.Fatalf("kafka.sh %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() {
		exec.Command(kafkaSh, "thaw").Run()
		if kafkaUp() != nil {
			exec.Command(kafkaSh, "start").Run()
		}
	})
	s := startOwnStack(t)
	base := takeBaseline(t, s)
	prior := before(t)
	l := startLoad(s.url, "frozen-single", 4)
	time.Sleep(2 * time.Second)
	sh("freeze")
	frozenAt := l.since()
	time.Sleep(6 * time.Second)
	sh("thaw")
	thawed := l.since()
	var recovered time.Duration
	for deadline := time.Now().Add(30 * time.Second); recovered == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		recovered = l.firstOKAfter(thawed)
	}
	time.Sleep(time.Second)
	outcomes := l.end()
	if recovered == 0 {
		t.Fatal("no request succeeded within 30 s of the thaw")
	}
	acked := map[string]bool{}
	failedWhileFrozen := 0
	for _, o := range outcomes {
		switch o.status {
		case 200:
			acked[o.id] = true
		case 502, 504:
			failedWhileFrozen++
			if o.at+o.took < frozenAt {
				t.Errorf("%s failed (%d %s) before the broker was frozen", o.id, o.status, o.body)
			}
		default:
			t.Errorf("%s: %d %s, not a documented status", o.id, o.status, o.body)
		}
		if o.took > 3*time.Second+2*time.Second {
			t.Errorf("%s took %s, beyond produce_timeout (3s) + 2s", o.id, o.took)
		}
	}
	if failedWhileFrozen == 0 {
		t.Error("no request failed while the broker was frozen")
	}
	now := kafkatest.Snapshot(t, stack.bootstrap, map[string]int{topic: partitions})
	inKafka := map[string]int{}
	for p := range partitions {
		for _, rec := range kafkatest.Fetch(t, stack.bootstrap, topic, p, prior[topic][p], int(now[topic][p]-prior[topic][p])) {
			for _, h := range rec.Headers {
				if h.Key == "x-request-id" {
					inKafka[string(h.Value)]++
				}
			}
		}
	}
	missing := 0
	for id := range acked {
		if inKafka[id] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d requests answered 200 are not in Kafka", missing, len(acked))
	}
	t.Logf("frozen 6 s: %d requests, %d answered 200 (all in Kafka: %v), %d failed by their deadline; first 200 %.1fs after the thaw",
		len(outcomes), len(acked), missing == 0, failedWhileFrozen, (recovered - thawed).Seconds())

	// Killed: every request fails fast; a new broker brings service back.
	sh("kill")
	for i := range 3 {
		began := time.Now()
		code, body, err := sendWithID(http1, s.url, fmt.Sprintf("killed-single-%d", i))
		if err != nil || code != 502 || time.Since(began) > 5*time.Second {
			t.Errorf("request %d with the broker killed: %d %s (%v) after %s, want the 502 within produce_timeout", i, code, body, err, time.Since(began))
		}
	}
	sh("start")
	ensureTopics(t)
	if err := waitFor(60*time.Second, func() error {
		if code, body, err := sendWithID(http1, s.url, "back-single"); err != nil || code != 200 {
			return fmt.Errorf("%d %s (%v)", code, body, err)
		}
		return nil
	}); err != nil {
		t.Fatalf("no recovery after the broker was killed and started again: %v", err)
	}
	base.expect(t, s)
}
