package securetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// ReadBackTimeout bounds ReadBack.
const ReadBackTimeout = 30 * time.Second

// WriteTimeout bounds Write and TryWrite.
const WriteTimeout = 20 * time.Second

// NewClient returns a franz-go client for one listener, closed when the
// test ends. tlsCfg nil means no TLS, mech nil no SASL. franz-go sets the
// TLS ServerName to the host it dials when tlsCfg has none.
func NewClient(t testing.TB, addr string, tlsCfg *tls.Config, mech sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := newClient(addr, tlsCfg, mech, opts...)
	if err != nil {
		t.Fatalf("securetest: franz-go client for %s: %v", addr, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newClient(addr string, tlsCfg *tls.Config, mech sasl.Mechanism, opts ...kgo.Opt) (*kgo.Client, error) {
	all := []kgo.Opt{kgo.SeedBrokers(addr), kgo.DialTimeout(10 * time.Second)}
	if tlsCfg != nil {
		all = append(all, kgo.DialTLSConfig(tlsCfg.Clone()))
	}
	if mech != nil {
		all = append(all, kgo.SASL(mech))
	}
	return kgo.NewClient(append(all, opts...)...)
}

// TryWrite produces records (each with its Topic set) over one listener
// with franz-go, acks=all, and returns the first error. A client that
// cannot connect or authenticate fails in about a second (three metadata
// attempts); nothing takes longer than WriteTimeout.
func TryWrite(ctx context.Context, addr string, tlsCfg *tls.Config, mech sasl.Mechanism, recs ...*kgo.Record) error {
	cl, err := newClient(addr, tlsCfg, mech,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(WriteTimeout),
		// A client that cannot connect or authenticate fails after this
		// many metadata attempts, MetadataMinAge apart (franz-go's
		// defaults, 5 s apart and unlimited, make that 15 s or more).
		kgo.RecordRetries(2),
		kgo.MetadataMinAge(200*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, WriteTimeout)
	defer cancel()
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// Write is TryWrite that fails the test on an error.
func Write(t testing.TB, addr string, tlsCfg *tls.Config, mech sasl.Mechanism, recs ...*kgo.Record) {
	t.Helper()
	if err := TryWrite(context.Background(), addr, tlsCfg, mech, recs...); err != nil {
		t.Fatalf("securetest: writing %d record(s) over %s: %v", len(recs), addr, err)
	}
}

// ReadBack reads the first n records of topic (all partitions, from the
// earliest offset) over one listener with franz-go, an independent client,
// and returns them (in order within each partition). It fails the test if
// they do not arrive within ReadBackTimeout, or at once on an error that
// retrying cannot cure (authentication, TLS). opts are added to the
// client's options (e.g. kgo.ConsumePartitions to start elsewhere).
func ReadBack(t testing.TB, addr string, tlsCfg *tls.Config, mech sasl.Mechanism, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	recs, err := TryReadBack(context.Background(), addr, tlsCfg, mech, topic, n, opts...)
	if err != nil {
		t.Fatalf("securetest: reading %d record(s) of %s back over %s: %v", n, topic, addr, err)
	}
	return recs
}

// TryReadBack is ReadBack returning the error instead of failing the test.
func TryReadBack(ctx context.Context, addr string, tlsCfg *tls.Config, mech sasl.Mechanism, topic string, n int, opts ...kgo.Opt) ([]*kgo.Record, error) {
	all := append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, opts...)
	cl, err := newClient(addr, tlsCfg, mech, all...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, ReadBackTimeout)
	defer cancel()
	// The consumer only retries when it cannot connect or authenticate;
	// Ping reports why at once.
	if err := cl.Ping(ctx); err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	var recs []*kgo.Record
	var last error
	for len(recs) < n {
		fs := cl.PollRecords(ctx, n-len(recs))
		if ctx.Err() != nil {
			if last == nil {
				last = ctx.Err()
			}
			return recs, fmt.Errorf("got %d of %d records within %s: %w", len(recs), n, ReadBackTimeout, last)
		}
		for _, fe := range fs.Errors() {
			last = fmt.Errorf("fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
			if fatal(fe.Err) {
				return recs, last
			}
		}
		recs = append(recs, fs.Records()...)
	}
	return recs, nil
}

// fatal reports errors that a retry cannot cure: a certificate that does
// not verify, a TLS alert, a refused authentication.
func fatal(err error) bool {
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) || errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, context.Canceled) {
		return true
	}
	for _, e := range []*kerr.Error{kerr.SaslAuthenticationFailed, kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState} {
		if errors.Is(err, e) {
			return true
		}
	}
	s := err.Error()
	return strings.Contains(s, "remote error: tls:") || strings.Contains(s, "x509:")
}
