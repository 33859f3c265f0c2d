package producer

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

func asyncLimits(records int, bytes int64) AsyncLimits {
	return AsyncLimits{Records: records, Bytes: bytes, DeliveryTimeout: 5 * time.Second, FlushTimeout: 5 * time.Second}
}

// The buffer takes records up to exactly its bound, refuses the next
// request whole, and frees its room as records are acknowledged.
func TestAsyncBufferBoundsAndDelivers(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p := newProducer(t, c.ListenAddrs(), 5*time.Second)
	arrived, release := kfaketest.HoldProduce(t, c)
	b := NewAsyncBuffer(p, asyncLimits(3, 1<<20))
	var settled sync.WaitGroup
	var failed atomic.Int32
	done := func(rs []message.Result) {
		for _, r := range rs {
			if r.Err != nil {
				failed.Add(1)
			}
		}
		settled.Done()
	}
	settled.Add(2)
	if err := b.Accept(record("one"), done); err != nil {
		t.Fatal(err)
	}
	if err := b.Accept([]message.Record{{Topic: topic, Value: []byte("two")}, {Topic: topic, Value: []byte("three")}}, done); err != nil {
		t.Fatal(err)
	}
	<-arrived
	if err := b.Accept(record("four"), done); err != ErrBufferFull {
		t.Fatalf("a fourth record into a 3-record buffer: %v, want ErrBufferFull", err)
	}
	if n, _ := b.Buffered(); n != 3 {
		t.Errorf("%d records buffered, want 3", n)
	}
	release()
	settled.Wait()
	if failed.Load() != 0 || b.Delivered() != 3 || b.Lost() != 0 {
		t.Errorf("failed %d, delivered %d, lost %d; want 0, 3, 0", failed.Load(), b.Delivered(), b.Lost())
	}
	if n, size := b.Buffered(); n != 0 || size != 0 {
		t.Errorf("buffered %d records, %d bytes after delivery, want none", n, size)
	}
	settled.Add(1)
	if err := b.Accept(record("five"), done); err != nil {
		t.Errorf("after delivery the buffer has room again: %v", err)
	}
	if lost := b.Close(); lost != 0 {
		t.Errorf("Close lost %d", lost)
	}
	settled.Wait()
	if n := kfaketest.Records(t, c, topic); n != 4 {
		t.Errorf("%d records in Kafka, want 4", n)
	}
}

func TestAsyncBufferByteBound(t *testing.T) {
	p := newProducer(t, []string{kfaketest.RefusingAddr(t)}, time.Second)
	one := record("0123456789")
	size := recordSize(one[0])
	b := NewAsyncBuffer(p, AsyncLimits{Records: 100, Bytes: 2 * size, DeliveryTimeout: 3 * time.Second, FlushTimeout: 10 * time.Millisecond})
	if err := b.Accept(append(one, one[0]), nil); err != nil {
		t.Fatalf("exactly the byte bound: %v", err)
	}
	if err := b.Accept(one, nil); err != ErrBufferFull {
		t.Errorf("one byte-bound record more: %v, want ErrBufferFull", err)
	}
	b.Close()
}

// Close waits for what is buffered: every accepted record is in Kafka
// when it returns.
func TestAsyncBufferCloseFlushes(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p := newProducer(t, c.ListenAddrs(), 5*time.Second)
	arrived, release := kfaketest.HoldProduce(t, c)
	b := NewAsyncBuffer(p, asyncLimits(1000, 1<<20))
	for range 50 {
		if err := b.Accept(record("r"), nil); err != nil {
			t.Fatal(err)
		}
	}
	<-arrived
	time.AfterFunc(100*time.Millisecond, release)
	if lost := b.Close(); lost != 0 {
		t.Errorf("Close lost %d, want 0", lost)
	}
	if n := kfaketest.Records(t, c, topic); n != 50 {
		t.Errorf("%d records in Kafka after Close, want 50", n)
	}
	if err := b.Accept(record("late"), nil); err != ErrBufferClosed {
		t.Errorf("Accept after Close: %v, want ErrBufferClosed", err)
	}
}

// A cluster that does not take the records: Close gives up after the
// flush timeout and counts every record it could not deliver.
func TestAsyncBufferCloseCountsLoss(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	p := newProducer(t, c.ListenAddrs(), 30*time.Second)
	arrived, _ := kfaketest.HoldProduce(t, c) // released only when the test ends
	b := NewAsyncBuffer(p, AsyncLimits{Records: 100, Bytes: 1 << 20, DeliveryTimeout: 30 * time.Second, FlushTimeout: 200 * time.Millisecond})
	var errs atomic.Int32
	for range 3 {
		b.Accept(record("r"), func(rs []message.Result) {
			if rs[0].Err != nil {
				errs.Add(1)
			}
		})
	}
	<-arrived
	start := time.Now()
	lost := b.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with a 200ms flush timeout", d)
	}
	if lost != 3 || errs.Load() != 3 {
		t.Errorf("lost %d, callbacks with an error %d; want 3 and 3", lost, errs.Load())
	}
}
