//go:build e2e

package envoy_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// A replicated cluster under load (make cluster: e2e/kafka-cluster.sh,
// three brokers, replication factor 3, min.insync.replicas=2): the
// partition's leader is killed, then a second broker, then both come
// back. Every request answered 200 (synchronous, acks=all) must be in
// Kafka afterwards, matched by its x-request-id; the failures while two of
// three brokers are down end by their deadline with a documented status;
// service comes back by itself; duplicates are counted.
//
// It needs $KAFKA_CLUSTER_BOOTSTRAP (e2e/with-cluster.sh); the suite's
// single-broker run leaves it out with -skip TestCluster.

func clusterBrokers(t *testing.T) []string {
	t.Helper()
	b := os.Getenv("KAFKA_CLUSTER_BOOTSTRAP")
	if b == "" {
		t.Fatal("KAFKA_CLUSTER_BOOTSTRAP is not set: run `make cluster` (e2e/with-cluster.sh starts the cluster)")
	}
	return strings.Split(b, ",")
}

func clusterSh(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(stack.root, "e2e", "kafka-cluster.sh"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kafka-cluster.sh %v: %v\n%s", args, err, out)
	}
}

// leaderOf is the node id (1-3) leading topic's partition 0, asked of any
// live broker.
func leaderOf(t *testing.T, brokers []string, topic string) int {
	t.Helper()
	for _, b := range brokers {
		conn, err := kafka.DialContext(context.Background(), "tcp", b)
		if err != nil {
			continue
		}
		parts, err := conn.ReadPartitions(topic)
		conn.Close()
		if err == nil && len(parts) > 0 && parts[0].Leader.ID > 0 {
			return parts[0].Leader.ID
		}
	}
	t.Fatal("no broker says who leads the partition")
	return 0
}

type outcome struct {
	id     string
	status int
	body   string
	took   time.Duration
	at     time.Duration // since the load began
}

// clusterStack is an own stack of this run's adapter on the cluster.
func clusterStack(t *testing.T, brokers []string) *ownStack {
	t.Helper()
	clusterSh(t, "create-topic", topic, "1")
	serverYAML := fmt.Sprintf(`
default:
  bootstrap_servers: [%s]
  topic: %s
  required_acks: -1
  produce_timeout: 5s
  forward_body: true
  headers:
    forward_http_headers_as_record_headers: true
    include_headers: [x-request-id]
`, strings.Join(brokers, ", "), topic)
	return startOwnStackOn(t, brokers, serverYAML)
}

// load keeps workers sending requests, each with its own x-request-id
// (prefix-worker-n), until stop; outcomes holds every request's end.
type load struct {
	began    time.Time
	mu       sync.Mutex
	outcomes []outcome
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(url, prefix string, workers int) *load {
	l := &load{began: time.Now(), stop: make(chan struct{})}
	var seq atomic.Int64
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				id := fmt.Sprintf("%s-%d-%d", prefix, w, seq.Add(1))
				t0 := time.Now()
				code, body, err := sendWithID(client, url, id)
				if err != nil {
					code, body = -1, err.Error()
				}
				l.mu.Lock()
				l.outcomes = append(l.outcomes, outcome{id, code, body, time.Since(t0), t0.Sub(l.began)})
				l.mu.Unlock()
				if code != 200 {
					time.Sleep(50 * time.Millisecond) // a failing client backs off a little
				}
			}
		})
	}
	return l
}

func (l *load) since() time.Duration { return time.Since(l.began) }

// firstOKAfter is when the first 200 began after at, 0 if none yet.
func (l *load) firstOKAfter(at time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.outcomes {
		if o.status == 200 && o.at > at {
			return o.at
		}
	}
	return 0
}

func (l *load) end() []outcome {
	close(l.stop)
	l.wg.Wait()
	return l.outcomes
}

// checkOutcomes requires every request to have ended within its deadline
// with the filter's 200, 502, 503 or 504, and every 200 to be in Kafka;
// it returns the figures for the log.
func checkOutcomes(t *testing.T, outcomes []outcome, brokers []string, prefix string) string {
	t.Helper()
	acked := map[string]bool{}
	byStatus := map[int]int{}
	var slowest time.Duration
	for _, o := range outcomes {
		byStatus[o.status]++
		switch {
		case o.status == 200:
			acked[o.id] = true
		case o.status == 502 || o.status == 503 || o.status == 504:
			if !strings.HasPrefix(o.body, `{"message":`) {
				t.Errorf("%s: %d with body %q, want the filter's JSON", o.id, o.status, o.body)
			}
		default:
			t.Errorf("%s at %.1fs: status %d (%s), not a documented one", o.id, o.at.Seconds(), o.status, o.body)
		}
		slowest = max(slowest, o.took)
	}
	if slowest > 5*time.Second+3*time.Second {
		t.Errorf("a request took %s, beyond produce_timeout (5s) + 3s", slowest)
	}
	if len(acked) < 50 {
		t.Errorf("only %d requests answered 200: too little load to say anything", len(acked))
	}
	if byStatus[200] == len(outcomes) {
		t.Error("no request failed: the faults did not happen")
	}
	inKafka := clusterRecords(t, brokers, topic)
	missing, duplicates, unacked := 0, 0, 0
	for id := range acked {
		switch n := inKafka[id]; {
		case n == 0:
			missing++
			t.Errorf("%s was answered 200 and is not in Kafka", id)
		case n > 1:
			duplicates += n - 1
		}
	}
	for id, n := range inKafka {
		if strings.HasPrefix(id, prefix+"-") && !acked[id] {
			unacked += n
		}
	}
	statuses := []string{}
	for code, n := range byStatus {
		statuses = append(statuses, fmt.Sprintf("%d: %d", code, n))
	}
	sort.Strings(statuses)
	return fmt.Sprintf("adapter %s: %d requests (%s); %d answered 200, %d of them in Kafka (%d missing), %d duplicates of acknowledged records, %d records of requests not answered 200; slowest request %s",
		stack.adapter, len(outcomes), strings.Join(statuses, ", "), len(acked), len(acked)-missing, missing, duplicates, unacked, slowest.Round(time.Millisecond))
}

func TestClusterLeaderAndQuorumLoss(t *testing.T) {
	brokers := clusterBrokers(t)
	s := clusterStack(t, brokers)
	base := takeBaseline(t, s)
	l := startLoad(s.url, "loss", 6)
	phase := func(what string) { t.Logf("%5.1fs %s", l.since().Seconds(), what) }

	time.Sleep(4 * time.Second)
	leader := leaderOf(t, brokers, topic)
	clusterSh(t, "kill", strconv.Itoa(leader))
	phase(fmt.Sprintf("killed node %d, the partition's leader", leader))
	time.Sleep(6 * time.Second)
	second := leader%3 + 1
	clusterSh(t, "kill", strconv.Itoa(second))
	phase(fmt.Sprintf("killed node %d: one broker of three left, below min.insync.replicas", second))
	time.Sleep(8 * time.Second)
	restarted := l.since()
	clusterSh(t, "restart", strconv.Itoa(second))
	phase(fmt.Sprintf("restarted node %d: two brokers again", second))
	clusterSh(t, "restart", strconv.Itoa(leader))
	phase(fmt.Sprintf("restarted node %d", leader))
	var recovered time.Duration
	for deadline := time.Now().Add(60 * time.Second); recovered == 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		recovered = l.firstOKAfter(restarted)
	}
	time.Sleep(4 * time.Second)
	outcomes := l.end()
	phase("load stopped")
	if recovered == 0 {
		t.Fatalf("no request succeeded within 60 s of the restart")
	}
	t.Logf("%s; first 200 %.1fs after the first restart began", checkOutcomes(t, outcomes, brokers, "loss"), (recovered - restarted).Seconds())
	base.expect(t, s)
}

// The leader frozen (SIGSTOP) for 8 s, then thawed: requests to it end by
// their deadline (produce_timeout) while it is frozen, the cluster moves
// leadership, and nothing answered 200 is lost.
func TestClusterLeaderFrozen(t *testing.T) {
	brokers := clusterBrokers(t)
	s := clusterStack(t, brokers)
	base := takeBaseline(t, s)
	l := startLoad(s.url, "frozen", 6)
	time.Sleep(3 * time.Second)
	leader := leaderOf(t, brokers, topic)
	clusterSh(t, "freeze", strconv.Itoa(leader))
	t.Logf("%5.1fs froze node %d, the partition's leader", l.since().Seconds(), leader)
	time.Sleep(8 * time.Second)
	clusterSh(t, "thaw", strconv.Itoa(leader))
	thawed := l.since()
	t.Logf("%5.1fs thawed node %d", thawed.Seconds(), leader)
	time.Sleep(8 * time.Second)
	outcomes := l.end()
	t.Log(checkOutcomes(t, outcomes, brokers, "frozen"))
	if l.firstOKAfter(thawed) == 0 {
		t.Error("no request succeeded after the thaw")
	}
	base.expect(t, s)
}

// sendWithID posts a JSON body to base's /cluster with the request id the
// records are matched by afterwards.
func sendWithID(client *http.Client, base, id string) (int, string, error) {
	code, body, _, err := sendAt(context.Background(), client, base, "POST", "/cluster", "application/json", []byte(`{"id":"`+id+`"}`), "x-request-id", id)
	return code, body, err
}

// clusterRecords reads the whole of topic's partition 0 from the cluster:
// x-request-id → how many records carry it.
func clusterRecords(t *testing.T, brokers []string, topic string) map[string]int {
	t.Helper()
	var end int64
	if err := waitFor(30*time.Second, func() error {
		conn, err := kafka.DialLeader(context.Background(), "tcp", brokers[0], topic, 0)
		if err != nil {
			return err
		}
		defer conn.Close()
		end, err = conn.ReadLastOffset()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond, MaxBytes: 16 << 20})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := map[string]int{}
	for read := int64(0); read < end; read++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading %s: %d of %d records: %v", topic, read, end, err)
		}
		for _, h := range m.Headers {
			if h.Key == "x-request-id" {
				out[string(h.Value)]++
			}
		}
	}
	return out
}
