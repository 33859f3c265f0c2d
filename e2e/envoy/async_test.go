//go:build e2e

package envoy_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
)

// post sends one request and returns the status, the body and the headers.
func post(t *testing.T, client *http.Client, path, body string, headers ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("POST", stack.url+path, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("content-type", "text/plain")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

const acceptedAsync = `{"message":"message accepted","records":[{"topic":"` + asyncTopic + `"}]}`

// Async mode through the real Envoy and broker: every request is answered
// 202 once buffered, and every accepted record is in Kafka soon after,
// exactly once.
func TestAsyncAcceptsThenDelivers(t *testing.T) {
	ensureTopics(t)
	prior := kafkatest.Snapshot(t, stack.bootstrap, map[string]int{asyncTopic: partitions})
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			client := clients[i%len(clients)]
			code, body, h := post(t, client.c, "/async", fmt.Sprintf("async-%d", i))
			if code != 202 || body != acceptedAsync || h.Get("content-type") != "application/json" {
				t.Errorf("request %d (%s): %d %s", i, client.name, code, body)
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	if err := waitFor(15*time.Second, func() error {
		now := kafkatest.Snapshot(t, stack.bootstrap, map[string]int{asyncTopic: partitions})
		got := int64(0)
		for p := range partitions {
			got += now[asyncTopic][p] - prior[asyncTopic][p]
		}
		if got < n {
			return fmt.Errorf("%d of %d records in Kafka", got, n)
		}
		for p := range partitions {
			for _, rec := range kafkatest.Fetch(t, stack.bootstrap, asyncTopic, p, prior[asyncTopic][p], int(now[asyncTopic][p]-prior[asyncTopic][p])) {
				env, _ := decodeEnvelope(t, rec.Value)
				seen[fmt.Sprint(env["body"])]++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if c := seen[fmt.Sprintf("async-%d", i)]; c != 1 {
			t.Errorf("record async-%d is in Kafka %d times, want once", i, c)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct records, want %d: %v", len(seen), n, seen)
	}
}

// Against a broker that accepts connections and never answers: the buffer
// takes exactly its bound, refuses the next request with 503 and
// Retry-After, and once the deliveries have timed out, health gating
// lets one probe through and refuses the rest.
func TestAsyncBufferBoundAndHealthGating(t *testing.T) {
	var wg sync.WaitGroup
	for i := range stalledBuffer {
		wg.Go(func() {
			if code, body, _ := post(t, http1, "/async-stalled", "held"); code != 202 {
				t.Errorf("request %d of %d: %d %s", i+1, stalledBuffer, code, body)
			}
		})
	}
	wg.Wait()
	start := time.Now()
	code, body, h := post(t, h2c, "/async-stalled", "one too many")
	want := `{"message":"Service Unavailable","error":"the async buffer is full (async.buffer_records or async.buffer_bytes); retry later"}`
	if code != 503 || body != want || h.Get("retry-after") != "1" {
		t.Fatalf("request %d: %d %s (retry-after %q), want 503 %s", stalledBuffer+1, code, body, h.Get("retry-after"), want)
	}
	// The deliveries give up after delivery_timeout; the buffer empties.
	time.Sleep(time.Until(start.Add(stalledDelivery + time.Second)))
	if code, body, _ := post(t, http1, "/async-stalled", "probe"); code != 202 {
		t.Errorf("the probe after the failures: %d %s, want 202", code, body)
	}
	code, body, h = post(t, http1, "/async-stalled", "gated")
	want = `{"message":"Service Unavailable","error":"the Kafka cluster is failing, so no record is buffered (async.health_gating); retry later"}`
	if code != 503 || body != want || h.Get("retry-after") != "1" {
		t.Errorf("while the cluster fails: %d %s (retry-after %q), want 503 %s", code, body, h.Get("retry-after"), want)
	}
}

// Prefer: respond-async on an async route is applied and says so.
func TestAsyncPreferenceApplied(t *testing.T) {
	ensureTopics(t)
	code, body, h := post(t, http1, "/async", "preferred", "prefer", "respond-async")
	if code != 202 || body != acceptedAsync || h.Get("preference-applied") != "respond-async" {
		t.Errorf("%d %s %v", code, body, h)
	}
}
