package producer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// The transport's metadata cache is refreshed every MetadataTTL, and a
// shared producer's cache is as old as the producer: a topic created a
// moment ago (then named by a new config, say) is not in it yet. Before a
// request is refused for an unknown topic, a broker is asked directly.
// Its answer is kept for confirmFor, so that a stream of requests to a
// topic that does not exist costs one dial a second, not one each.

const confirmFor = time.Second

type topicConfirmations struct {
	mu     sync.Mutex
	byName map[string]confirmation
}

type confirmation struct {
	exists bool
	at     time.Time
}

// topicExists reports whether the cluster has topic, asking a broker over
// a connection of its own (the transport would answer from its cache). ok
// is false when no broker could be asked: the caller keeps the cache's
// verdict.
func (p *Producer) topicExists(ctx context.Context, topic string) (exists, ok bool) {
	p.confirmed.mu.Lock()
	if c, hit := p.confirmed.byName[topic]; hit && time.Since(c.at) < confirmFor {
		p.confirmed.mu.Unlock()
		return c.exists, true
	}
	p.confirmed.mu.Unlock()

	d := p.dialer()
	for _, broker := range p.brokers {
		conn, err := d.DialContext(ctx, "tcp", broker)
		if err != nil {
			continue
		}
		_, err = conn.ReadPartitions(topic)
		conn.Close()
		switch {
		case err == nil:
			exists = true
		case errors.Is(err, kafka.UnknownTopicOrPartition):
			exists = false
		default:
			continue
		}
		p.confirmed.mu.Lock()
		if p.confirmed.byName == nil {
			p.confirmed.byName = map[string]confirmation{}
		}
		p.confirmed.byName[topic] = confirmation{exists: exists, at: time.Now()}
		p.confirmed.mu.Unlock()
		return exists, true
	}
	return false, false
}

// Ping reports whether a broker of the cluster answers a metadata
// request, over a connection of its own with the producer's TLS and SASL
// (health checks: the writer's pooled connections say nothing until a
// request needs them). The first broker that answers is enough.
func (p *Producer) Ping(ctx context.Context) error {
	d := p.dialer()
	var errs []error
	for _, broker := range p.brokers {
		conn, err := d.DialContext(ctx, "tcp", broker)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if deadline, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(deadline)
		}
		_, err = conn.Brokers()
		conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", broker, err))
	}
	return errors.Join(errs...)
}

// dialer connects to one broker as the writer's transport does.
func (p *Producer) dialer() *kafka.Dialer {
	return &kafka.Dialer{ClientID: p.transport.ClientID, TLS: p.transport.TLS, SASLMechanism: p.transport.SASL, Timeout: p.transport.DialTimeout}
}
