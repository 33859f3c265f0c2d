package producer

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
)

// Producers are shared by every config that needs the same one
// (config.ProducerIdentity: same brokers, security, acks, batching, …):
// each config load — every LDS update, every Istio push — would otherwise
// open new connections to the cluster, and closing the old config would
// close its writer under requests still in flight. Acquire hands out a
// reference; Close gives it back, and the last Close flushes and closes
// the writer.
var shared = struct {
	sync.Mutex
	byIdentity map[string]*Producer
	// closing counts last Closes still flushing (FlushAll waits for them).
	closing sync.WaitGroup
}{byIdentity: map[string]*Producer{}}

// Acquire returns the producer for cluster c and settings s, building it
// on first use. Every Acquire needs one Close.
func Acquire(c config.Cluster, s config.Producer, log *slog.Logger) *Producer {
	// The identity holds secret fingerprints: a map key only, never logged.
	id := config.ProducerIdentity(c, s)
	shared.Lock()
	defer shared.Unlock()
	if p, ok := shared.byIdentity[id]; ok {
		p.refs++
		return p
	}
	p := New(c, s, log)
	p.identity, p.refs = id, 1
	shared.byIdentity[id] = p
	return p
}

// SharedProducers is how many distinct shared producers are open (tests).
func SharedProducers() int {
	shared.Lock()
	defer shared.Unlock()
	return len(shared.byIdentity)
}

// release gives back one reference to a shared producer and reports
// whether it was the last (the caller then closes the writer). A producer
// from New is not shared: its first Close is its last.
func (p *Producer) release() (last bool) {
	if p.identity == "" {
		return true
	}
	shared.Lock()
	defer shared.Unlock()
	if p.refs--; p.refs > 0 {
		return false
	}
	if shared.byIdentity[p.identity] == p {
		delete(shared.byIdentity, p.identity)
	}
	shared.closing.Add(1) // Done when Close has flushed (closed)
	return true
}

// closed ends a shared producer's last Close.
func (p *Producer) closed() {
	if p.identity != "" {
		shared.closing.Done()
	}
}

// FlushAll flushes the async buffer of every shared producer, each within
// its flush timeout, in parallel, and reports what could not be delivered
// to log: for a process about to exit without closing its configs (Envoy
// does not destroy a dynamic module's configs when it exits).
func FlushAll(log *slog.Logger) {
	shared.Lock()
	var buffers []*Producer
	for _, p := range shared.byIdentity {
		if p.async != nil {
			buffers = append(buffers, p)
		}
	}
	shared.Unlock()
	var wg sync.WaitGroup
	for _, p := range buffers {
		wg.Go(func() { p.flushAsync(log, "exit") })
	}
	wg.Wait()
	// Configs destroyed just before (Envoy's shutdown) may still be
	// flushing in their own goroutines: the process must not exit under
	// them.
	shared.closing.Wait()
}

// FlushAtExit is FlushAll for an exit handler (the in-process adapters'
// atexit hooks): what is lost goes to stderr, since the host's logger may
// be gone, and nothing may unwind into exit().
func FlushAtExit() {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "kafka-upstream: panic while flushing at exit: %v\n", r)
		}
	}()
	FlushAll(slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "kafka-upstream"))
}

// AsyncBuffered is the records and bytes held by the async buffers of
// every shared producer: the process's async buffer gauges.
func AsyncBuffered() (records, bytes int64) {
	shared.Lock()
	var buffers []*AsyncBuffer
	for _, p := range shared.byIdentity {
		if p.async != nil {
			buffers = append(buffers, p.async)
		}
	}
	shared.Unlock()
	for _, b := range buffers {
		r, n := b.Buffered()
		records += int64(r)
		bytes += n
	}
	return records, bytes
}
