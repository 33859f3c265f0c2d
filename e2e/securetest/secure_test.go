//go:build integration

// Self-test of the secured listeners against the broker of e2e/kafka.sh
// (started with KAFKA_SECURE_DIR), with franz-go only:
//
//	e2e/with-kafka.sh go test -count=1 -tags integration ./e2e/securetest/
package securetest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/securetest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

const root = "../.."

func topic(t *testing.T, name string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	tp := "securetest-" + name + "-" + hex.EncodeToString(b)
	kafkatest.CreateTopic(t, root, tp, 1) // over PLAINTEXT
	return tp
}

func TestWriteAndReadBack(t *testing.T) {
	m := securetest.Load(t)
	tokenURL, calls := m.StartTokenServer(t, "producer", "producer-secret", time.Minute)
	cases := []struct {
		name string
		addr string
		tls  *tls.Config
		mech sasl.Mechanism
	}{
		{"ssl", m.SSL, m.TLS(t), nil},
		{"tls12", m.TLS12, m.TLS(t), nil},
		{"plain", m.SASLSSL, m.TLS(t), securetest.Plain(m.User, m.Password)},
		{"scram-sha-256", m.SASLSSL, m.TLS(t), securetest.ScramSHA256(m.User, m.Password)},
		{"scram-sha-512", m.SASLSSL, m.TLS(t), securetest.ScramSHA512(m.User, m.Password)},
		{"mtls", m.MTLS, m.ClientTLS(t), nil},
		{"oauth-minted", m.OAuth, m.TLS(t), securetest.OAuthBearer(m.MintToken(m.Audience, m.Issuer, time.Minute))},
		{"oauth-client-credentials", m.OAuth, m.TLS(t), securetest.ClientCredentials(tokenURL, "producer", "producer-secret")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tp := topic(t, c.name)
			want := &kgo.Record{
				Topic:   tp,
				Key:     []byte("key-" + c.name),
				Value:   []byte(`{"listener":"` + c.name + `"}`),
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}},
			}
			start := time.Now()
			securetest.Write(t, c.addr, c.tls, c.mech, want)
			got := securetest.ReadBack(t, c.addr, c.tls, c.mech, tp, 1)
			t.Logf("%s: wrote and read back over %s in %s", c.name, c.addr, time.Since(start).Round(time.Millisecond))
			r := got[0]
			if !bytes.Equal(r.Key, want.Key) || !bytes.Equal(r.Value, want.Value) ||
				len(r.Headers) != 1 || r.Headers[0].Key != "h" || string(r.Headers[0].Value) != "v" {
				t.Fatalf("read back key %q value %q headers %v, want key %q value %q headers [h=v]", r.Key, r.Value, r.Headers, want.Key, want.Value)
			}
		})
	}
	t.Cleanup(func() {
		if calls() == 0 {
			t.Error("the token server was never called")
		}
	})
}

// expectFailure writes one record and checks that it fails fast with an
// error accepted by check.
func expectFailure(t *testing.T, addr string, tlsCfg *tls.Config, mech sasl.Mechanism, tp string, check func(error) bool) {
	t.Helper()
	start := time.Now()
	err := securetest.TryWrite(context.Background(), addr, tlsCfg, mech, &kgo.Record{Topic: tp, Value: []byte("x")})
	took := time.Since(start).Round(time.Millisecond)
	if err == nil {
		t.Fatalf("write over %s succeeded, want a failure", addr)
	}
	t.Logf("failed in %s: %v", took, err)
	if !check(err) {
		t.Fatalf("unexpected error (%T): %v", err, err)
	}
	if took > 10*time.Second {
		t.Errorf("failure took %s, want it fast", took)
	}
}

func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

func isExpired(err error) bool {
	var ci x509.CertificateInvalidError
	return errors.As(err, &ci) && ci.Reason == x509.Expired
}

func isSASLFailed(err error) bool { return errors.Is(err, kerr.SaslAuthenticationFailed) }

func isTLSAlert(err error) bool { return strings.Contains(err.Error(), "remote error: tls:") }

func TestFailures(t *testing.T) {
	m := securetest.Load(t)
	tp := topic(t, "failures")
	// A valid client certificate issued now, and one that expired in 2024.
	rotatedCert, rotatedKey := m.IssueClientCert(t, "rotated", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	expCert, expKey := m.IssueClientCert(t, "expired-client", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC))
	withCert := func(certFile, keyFile string) *tls.Config {
		c := m.TLS(t)
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{kp}
		return c
	}
	tls13 := m.TLS(t)
	tls13.MinVersion = tls.VersionTLS13

	t.Run("untrusted-ca", func(t *testing.T) {
		t.Parallel()
		expectFailure(t, m.SSL, m.UntrustedTLS(t), nil, tp, isUnknownAuthority)
	})
	t.Run("expired-listener", func(t *testing.T) {
		t.Parallel()
		expectFailure(t, m.Expired, m.TLS(t), nil, tp, isExpired)
	})
	t.Run("plain-wrong-password", func(t *testing.T) {
		t.Parallel()
		expectFailure(t, m.SASLSSL, m.TLS(t), securetest.Plain(m.User, "wrong"), tp, isSASLFailed)
	})
	t.Run("scram-sha-256-wrong-password", func(t *testing.T) {
		t.Parallel()
		expectFailure(t, m.SASLSSL, m.TLS(t), securetest.ScramSHA256(m.User, "wrong"), tp, isSASLFailed)
	})
	t.Run("scram-sha-512-wrong-password", func(t *testing.T) {
		t.Parallel()
		expectFailure(t, m.SASLSSL, m.TLS(t), securetest.ScramSHA512(m.User, "wrong"), tp, isSASLFailed)
	})
	t.Run("mtls-without-client-cert", func(t *testing.T) {
		t.Parallel()
		expectFailure(t, m.MTLS, m.TLS(t), nil, tp, isTLSAlert)
	})
	t.Run("mtls-expired-client-cert", func(t *testing.T) {
		t.Parallel()
		expectFailure(t, m.MTLS, withCert(expCert, expKey), nil, tp, isTLSAlert)
	})
	t.Run("tls12-listener-tls13-client", func(t *testing.T) {
		t.Parallel()
		expectFailure(t, m.TLS12, tls13, nil, tp, isTLSAlert)
	})
	for name, tok := range map[string]string{
		"oauth-expired-token": m.MintToken(m.Audience, m.Issuer, -time.Minute),
		"oauth-wrong-aud":     m.MintToken("other", m.Issuer, time.Minute),
		"oauth-wrong-iss":     m.MintToken(m.Audience, "http://evil", time.Minute),
		"oauth-garbage":       "not.a.jwt",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			expectFailure(t, m.OAuth, m.TLS(t), securetest.OAuthBearer(tok), tp, isSASLFailed)
		})
	}
	// The negative cases above must not pass for a reason of their own:
	// the same topic accepts a record over mTLS with a freshly issued cert.
	t.Run("mtls-issued-client-cert", func(t *testing.T) {
		t.Parallel()
		securetest.Write(t, m.MTLS, withCert(rotatedCert, rotatedKey), nil, &kgo.Record{Topic: tp, Value: []byte("ok")})
	})
}

// The TLS12 listener speaks TLS 1.2 only; the others negotiate TLS 1.3.
func TestTLSVersions(t *testing.T) {
	m := securetest.Load(t)
	for addr, want := range map[string]uint16{m.TLS12: tls.VersionTLS12, m.SSL: tls.VersionTLS13} {
		d := &net.Dialer{Timeout: 5 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", addr, m.TLS(t))
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		st := conn.ConnectionState()
		conn.Close()
		if st.Version != want {
			t.Errorf("%s negotiated %s, want %s", addr, tls.VersionName(st.Version), tls.VersionName(want))
		}
		if cn := st.PeerCertificates[0].Subject.CommonName; cn != "localhost" {
			t.Errorf("%s presented CN %q", addr, cn)
		}
	}
}
