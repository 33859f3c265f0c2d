package producer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/compress/snappy"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// --- certificates made in the test ---

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	pool *x509.CertPool
}

var serial struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serial.Lock()
	defer serial.Unlock()
	serial.n++
	return big.NewInt(serial.n)
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pool: pool}
}

type leaf struct {
	certPEM, keyPEM []byte
	tls             tls.Certificate
	der             []byte
}

// server issues a broker certificate for localhost and 127.0.0.1, valid
// from notBefore to notAfter (zero: now ± an hour).
func (ca *testCA) server(t *testing.T, notBefore, notAfter time.Time) leaf {
	if notBefore.IsZero() {
		notBefore, notAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	return ca.issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: notBefore, NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

func (ca *testCA) client(t *testing.T, cn string) leaf {
	return ca.issue(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (ca *testCA) issue(t *testing.T, tmpl *x509.Certificate) leaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = nextSerial()
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	l := leaf{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		der:     der,
	}
	if l.tls, err = tls.X509KeyPair(l.certPEM, l.keyPEM); err != nil {
		t.Fatal(err)
	}
	return l
}

// writeAt writes path with a modification time of at, so that a rewrite
// is seen as a change whatever the file system's time resolution.
func writeAt(t *testing.T, path string, content []byte, at time.Time) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// --- classification ---

func TestSecurityReasonAndRetriable(t *testing.T) {
	broker58 := fmt.Errorf("%w: %s", kafka.SASLAuthenticationFailed, "Authentication failed: Invalid username or password")
	invalidToken := fmt.Errorf("%w: %s", kafka.SASLAuthenticationFailed, `{"status":"invalid_token"}`)
	dial := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092},
		Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	endpointDown := &AuthError{Cause: "OAUTHBEARER token endpoint", Err: &url.Error{Op: "Post", URL: "http://127.0.0.1:1/token", Err: dial}}
	secretFile := &AuthError{Cause: "reading the SASL password", Err: fmt.Errorf("reading secret file: %w",
		&fs.PathError{Op: "open", Path: "/run/secrets/pw", Err: syscall.ENOENT})}
	unknownCA := &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}
	hostname := &tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"localhost"}}, Host: "kafka.example.com"}}
	expired := &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Reason: x509.Expired}}
	alert := &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}

	tests := []struct {
		name      string
		err       error
		want      Reason
		retriable bool
	}{
		{"SASL authentication failed", kafka.SASLAuthenticationFailed, AuthFailed, false},
		{"SASL authentication failed with the broker's text", broker58, AuthFailed, false},
		{"OAUTHBEARER token refused", invalidToken, AuthFailed, false},
		{"mechanism not enabled", kafka.UnsupportedSASLMechanism, AuthFailed, false},
		{"SASL on an SSL-only listener", kafka.IllegalSASLState, AuthFailed, false},
		{"token endpoint down (a net.OpError inside)", endpointDown, AuthFailed, false},
		{"secret file unreadable", secretFile, AuthFailed, false},
		{"untrusted CA", unknownCA, TLSFailed, false},
		{"untrusted CA, bare", x509.UnknownAuthorityError{}, TLSFailed, false},
		{"wrong server name", hostname, TLSFailed, false},
		{"wrong server name, bare", x509.HostnameError{Host: "kafka.example.com"}, TLSFailed, false},
		{"expired certificate", expired, TLSFailed, false},
		{"expired certificate, bare", x509.CertificateInvalidError{Reason: x509.Expired}, TLSFailed, false},
		{"client certificate refused (TLS alert)", alert, TLSFailed, false},
		{"TLS version refused (TLS alert)", &net.OpError{Op: "remote error", Err: errors.New("tls: protocol version not supported")}, TLSFailed, false},
		{"plaintext to a TLS listener, as text", errors.New("unexpected EOF: broker appears to be expecting TLS"), TLSFailed, false},
		{"plaintext to a TLS listener, as kafka-go wraps it", fmt.Errorf("%w: broker appears to be expecting TLS", io.ErrUnexpectedEOF), TLSFailed, false},
		{"TLS record header", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, TLSFailed, false},

		{"broker down (dial)", dial, Unavailable, true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, Unavailable, true},
		{"TLS to a plaintext listener (EOF)", io.EOF, Unavailable, true},
		{"no SASL on a SASL listener (unexpected EOF)", io.ErrUnexpectedEOF, Unavailable, true},
		{"a retriable broker error", kafka.NotEnoughReplicas, Unavailable, true},
		{"topic authorization", kafka.TopicAuthorizationFailed, Unavailable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := securityReason(tt.err); got != tt.want {
				t.Errorf("securityReason = %d, want %d", got, tt.want)
			}
			if got := classify(context.Background(), tt.err); got != tt.want {
				t.Errorf("classify = %d, want %d", got, tt.want)
			}
			if got := retriable(tt.err); got != tt.retriable {
				t.Errorf("retriable = %v, want %v", got, tt.retriable)
			}
			if tt.want != Unavailable {
				// The cause wins over the deadline or a client gone.
				expiredCtx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
				defer cancel()
				canceled, cancel2 := context.WithCancel(context.Background())
				cancel2()
				if got := classify(expiredCtx, tt.err); got != tt.want {
					t.Errorf("classify with an expired deadline = %d, want %d", got, tt.want)
				}
				if got := classify(canceled, tt.err); got != tt.want {
					t.Errorf("classify with a canceled context = %d, want %d", got, tt.want)
				}
			}
		})
	}
}

// kafka-go reports a record's failure inside WriteErrors; Publish
// classifies the record's own error, which unacknowledged takes out.
func TestSecurityCausesInsideWriteErrors(t *testing.T) {
	msgs := []kafka.Message{{Value: []byte("a")}, {Value: []byte("b")}}
	for _, tt := range []struct {
		err  error
		want Reason
	}{
		{kafka.WriteErrors{nil, fmt.Errorf("%w: %s", kafka.SASLAuthenticationFailed, "Authentication failed")}, AuthFailed},
		{kafka.WriteErrors{&AuthError{Cause: "OAUTHBEARER token endpoint", Err: errors.New("down")}, nil}, AuthFailed},
		{kafka.WriteErrors{&net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}, nil}, TLSFailed},
		{kafka.WriteErrors{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, nil}, TLSFailed},
	} {
		_, cause := unacknowledged(msgs, tt.err)
		if got := classify(context.Background(), cause); got != tt.want {
			t.Errorf("%v: classify = %d, want %d", tt.err, got, tt.want)
		}
		if retriable(cause) {
			t.Errorf("%v: retriable", tt.err)
		}
	}
}

func TestAuthErrorText(t *testing.T) {
	err := &AuthError{Cause: "reading the SASL password", Err: errors.New("secret file /run/pw is empty")}
	if got, want := err.Error(), "reading the SASL password: secret file /run/pw is empty"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, err.Err) {
		t.Error("AuthError does not unwrap")
	}
	// The record's error reads as the cause, not kafka-go's wrapper.
	perr := &Error{Reason: AuthFailed, Err: kafka.WriteErrors{fmt.Errorf("%w: %s", kafka.SASLAuthenticationFailed, "Authentication failed: Invalid username or password")}}
	if got, want := perr.Error(), "[58] SASL Authentication Failed: SASL Authentication failed: Authentication failed: Invalid username or password"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// Real TLS handshakes on 127.0.0.1 give the errors crypto/tls gives a
// broker's client; each one is a TLS failure, never retried.
func TestRealHandshakeFailuresAreTLSFailures(t *testing.T) {
	ca := newTestCA(t)
	good := ca.server(t, time.Time{}, time.Time{})
	expired := ca.server(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC))
	clientCert := ca.client(t, "producer")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	writeAt(t, certFile, clientCert.certPEM, time.Now())
	writeAt(t, keyFile, clientCert.keyPEM, time.Now())

	tests := []struct {
		name   string
		server *tls.Config
		client *config.TLS
		want   string // the handshake's error text, "" for success
	}{
		{"verified", &tls.Config{Certificates: []tls.Certificate{good.tls}},
			&config.TLS{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}, ""},
		{"untrusted CA (system roots)", &tls.Config{Certificates: []tls.Certificate{good.tls}},
			&config.TLS{MinVersion: tls.VersionTLS12}, "tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"wrong server name", &tls.Config{Certificates: []tls.Certificate{good.tls}},
			&config.TLS{RootCAs: ca.pool, ServerName: "kafka.example.com", MinVersion: tls.VersionTLS12},
			"tls: failed to verify certificate: x509: certificate is valid for localhost, not kafka.example.com"},
		{"expired", &tls.Config{Certificates: []tls.Certificate{expired.tls}},
			&config.TLS{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}, "tls: failed to verify certificate: x509: certificate has expired or is not yet valid: "},
		{"insecure_skip_verify accepts the expired one", &tls.Config{Certificates: []tls.Certificate{expired.tls}},
			&config.TLS{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, ""},
		{"client certificate required, none given", &tls.Config{Certificates: []tls.Certificate{good.tls}, MaxVersion: tls.VersionTLS12,
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool},
			// Go's broker side says handshake failure, Kafka's bad certificate.
			&config.TLS{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}, "remote error: tls: "},
		{"client certificate required and given", &tls.Config{Certificates: []tls.Certificate{good.tls}, MaxVersion: tls.VersionTLS12,
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool},
			&config.TLS{RootCAs: ca.pool, MinVersion: tls.VersionTLS12, CertFile: certFile, KeyFile: keyFile}, ""},
		{"TLS 1.3 asked of a TLS 1.2 broker", &tls.Config{Certificates: []tls.Certificate{good.tls}, MaxVersion: tls.VersionTLS12},
			&config.TLS{RootCAs: ca.pool, MinVersion: tls.VersionTLS13}, "remote error: tls: protocol version not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := tls.Listen("tcp", "127.0.0.1:0", tt.server)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			peer := make(chan []*x509.Certificate, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				tc := c.(*tls.Conn)
				_ = tc.Handshake()
				peer <- tc.ConnectionState().PeerCertificates
			}()
			cfg := tlsConfig(tt.client)
			if cfg.ServerName == "" {
				cfg = cfg.Clone()
				cfg.ServerName = "127.0.0.1" // as kafka-go does: the broker's host
			}
			d := &net.Dialer{Timeout: 5 * time.Second}
			conn, err := tls.DialWithDialer(d, "tcp", l.Addr().String(), cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				conn.Close()
				if tt.client.CertFile != "" {
					if got := <-peer; len(got) == 0 || got[0].Subject.CommonName != "producer" {
						t.Errorf("the broker saw client certificates %v, want the producer's", got)
					}
				}
				return
			}
			if err == nil {
				conn.Close()
				t.Fatalf("handshake succeeded, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q, want %q", err, tt.want)
			}
			if r := securityReason(err); r != TLSFailed {
				t.Errorf("securityReason(%v) = %d, want TLSFailed", err, r)
			}
			if retriable(err) {
				t.Errorf("retriable(%v) = true", err)
			}
		})
	}
}

// --- tls.Config ---

func TestTLSConfig(t *testing.T) {
	if tlsConfig(nil) != nil {
		t.Error("tlsConfig(nil) is not nil")
	}
	ca := newTestCA(t)
	c := tlsConfig(&config.TLS{RootCAs: ca.pool, ServerName: "kafka.internal", MinVersion: tls.VersionTLS13, InsecureSkipVerify: true})
	if c.RootCAs != ca.pool || c.ServerName != "kafka.internal" || c.MinVersion != tls.VersionTLS13 || !c.InsecureSkipVerify || c.GetClientCertificate != nil {
		t.Errorf("tls.Config = %+v", c)
	}
	c = tlsConfig(&config.TLS{MinVersion: tls.VersionTLS12})
	if c.RootCAs != nil || c.InsecureSkipVerify || c.MinVersion != tls.VersionTLS12 {
		t.Errorf("tls.Config = %+v, want system roots, verification on", c)
	}
}

// The client certificate is reloaded when its files change, and keeps
// the last good one while they are half-written.
func TestKeyPairReloadsAndKeepsTheLastGoodPair(t *testing.T) {
	ca := newTestCA(t)
	first, second, third := ca.client(t, "first"), ca.client(t, "second"), ca.client(t, "third")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	at := time.Now().Add(-time.Hour)
	writeAt(t, certFile, first.certPEM, at)
	writeAt(t, keyFile, first.keyPEM, at)
	get := tlsConfig(&config.TLS{CertFile: certFile, KeyFile: keyFile}).GetClientCertificate
	current := func(step string, want leaf) {
		t.Helper()
		c, err := get(&tls.CertificateRequestInfo{})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if len(c.Certificate) == 0 || !bytes.Equal(c.Certificate[0], want.der) {
			t.Errorf("%s: not the expected certificate", step)
		}
	}
	current("first load", first)
	current("unchanged files", first)

	// Rotated (cert-manager rewrites both files).
	at = at.Add(time.Minute)
	writeAt(t, certFile, second.certPEM, at)
	writeAt(t, keyFile, second.keyPEM, at)
	current("after the rotation", second)

	// Half-written: the new certificate, the old key.
	at = at.Add(time.Minute)
	writeAt(t, certFile, third.certPEM, at)
	current("certificate rewritten, key not yet", second)
	// Half-written: a truncated key.
	writeAt(t, keyFile, third.keyPEM[:len(third.keyPEM)/2], at.Add(time.Second))
	current("key half-written", second)
	// Done.
	writeAt(t, keyFile, third.keyPEM, at.Add(2*time.Second))
	current("both written", third)

	// Without a good pair ever, the error says what failed.
	none := filepath.Join(dir, "none.crt")
	_, err := tlsConfig(&config.TLS{CertFile: none, KeyFile: keyFile}).GetClientCertificate(&tls.CertificateRequestInfo{})
	var authErr *AuthError
	if !errors.As(err, &authErr) || err.Error() != "loading the client certificate: open "+none+": no such file or directory" {
		t.Errorf("error %v (%T), want an *AuthError naming the file", err, err)
	}
	if securityReason(err) != TLSFailed {
		t.Errorf("securityReason = %d, want TLSFailed (the credential is the TLS client certificate)", securityReason(err))
	}
}

// --- SASL mechanisms ---

func TestSecretMechanismReadsThePasswordFileOnEveryStart(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	writeAt(t, pw, []byte("first-pw\n"), time.Now())
	m := mechanism(&config.SASL{Mechanism: config.SASLPlain, Username: "alice", Password: config.SecretFile(pw)}, nil)
	if m.Name() != "PLAIN" {
		t.Errorf("Name = %q", m.Name())
	}
	start := func() []byte {
		t.Helper()
		_, ir, err := m.Start(context.Background())
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		return ir
	}
	if got := start(); string(got) != "\x00alice\x00first-pw" {
		t.Errorf("initial response %q, want %q", got, "\x00alice\x00first-pw")
	}
	// Rotated, same modification time even: read again.
	writeAt(t, pw, []byte("second-pw"), time.Now())
	if got := start(); string(got) != "\x00alice\x00second-pw" {
		t.Errorf("after rotation: initial response %q, want %q", got, "\x00alice\x00second-pw")
	}

	// An inline password.
	inline := mechanism(&config.SASL{Mechanism: config.SASLPlain, Username: "bob", Password: config.NewSecret("inline-pw")}, nil)
	if _, ir, err := inline.Start(context.Background()); err != nil || string(ir) != "\x00bob\x00inline-pw" {
		t.Errorf("inline: %q, %v", ir, err)
	}

	// A file that went away, or is empty: an AuthError naming the file.
	writeAt(t, pw, []byte(" \n"), time.Now())
	_, _, err := m.Start(context.Background())
	var authErr *AuthError
	if !errors.As(err, &authErr) || err.Error() != "reading the SASL password: secret file "+pw+" is empty" {
		t.Errorf("empty file: %v (%T)", err, err)
	}
	os.Remove(pw)
	_, _, err = m.Start(context.Background())
	if !errors.As(err, &authErr) || err.Error() != "reading the SASL password: reading secret file: open "+pw+": no such file or directory" {
		t.Errorf("missing file: %v (%T)", err, err)
	}
	if securityReason(err) != AuthFailed || retriable(err) {
		t.Errorf("missing file: reason %d, retriable %v", securityReason(err), retriable(err))
	}
}

func TestScramMechanismsReadThePasswordOnEveryStart(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	for _, name := range []string{config.SASLScramSHA256, config.SASLScramSHA512} {
		writeAt(t, pw, []byte("pw"), time.Now())
		m := mechanism(&config.SASL{Mechanism: name, Username: "alice", Password: config.SecretFile(pw)}, nil)
		if m.Name() != name {
			t.Errorf("Name = %q, want %q", m.Name(), name)
		}
		_, ir, err := m.Start(context.Background())
		if err != nil || !strings.HasPrefix(string(ir), "n,,n=alice,r=") {
			t.Errorf("%s: client-first %q, %v", name, ir, err)
		}
		os.Remove(pw)
		if _, _, err := m.Start(context.Background()); securityReason(err) != AuthFailed {
			t.Errorf("%s without its password file: %v, want an AuthError", name, err)
		}
	}
	if mechanism(nil, nil) != nil {
		t.Error("mechanism(nil) is not nil")
	}
}

func TestOAuthBearerMechanism(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	writeAt(t, tokenFile, []byte("TOKEN\n"), time.Now())
	m := mechanism(&config.SASL{Mechanism: config.SASLOAuthBearer, OAuth: &config.OAuth{TokenFile: tokenFile}}, nil)
	if m.Name() != "OAUTHBEARER" {
		t.Errorf("Name = %q", m.Name())
	}
	sess, ir, err := m.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := "n,,\x01auth=Bearer TOKEN\x01\x01"; string(ir) != want {
		t.Errorf("initial response %q, want %q", ir, want)
	}
	done, resp, err := sess.Next(context.Background(), nil)
	if !done || resp != nil || err != nil {
		t.Errorf("empty challenge: Next = %v, %q, %v; want done", done, resp, err)
	}
	done, resp, err = sess.Next(context.Background(), []byte{})
	if !done || resp != nil || err != nil {
		t.Errorf("zero-length challenge: Next = %v, %q, %v; want done", done, resp, err)
	}

	// The broker's error: answer %x01, then fail with its text.
	sess, _, err = m.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done, resp, err = sess.Next(context.Background(), []byte(`{"status":"invalid_token"}`))
	if done || !bytes.Equal(resp, []byte{1}) || err != nil {
		t.Errorf("error challenge: Next = %v, %q, %v; want not done, [1], nil", done, resp, err)
	}
	done, resp, err = sess.Next(context.Background(), nil)
	if done || resp != nil || err == nil || err.Error() != `OAUTHBEARER refused by the broker: {"status":"invalid_token"}` {
		t.Errorf("after the error challenge: Next = %v, %q, %v", done, resp, err)
	}

	// No token: Start fails with an AuthError.
	os.Remove(tokenFile)
	if _, _, err := m.Start(context.Background()); securityReason(err) != AuthFailed {
		t.Errorf("Start without the token file: %v (%T), want an AuthError", err, err)
	}
}

// --- compression ---

func TestCodec(t *testing.T) {
	saveGzip, saveZstd, saveSnappy := compress.GzipCodec.Level, compress.ZstdCodec.Level, compress.SnappyCodec.Compression
	t.Cleanup(func() {
		compress.GzipCodec.Level, compress.ZstdCodec.Level, compress.SnappyCodec.Compression = saveGzip, saveZstd, saveSnappy
		for i := range levelOnce {
			levelOnce[i] = sync.Once{}
		}
	})
	for i := range levelOnce {
		levelOnce[i] = sync.Once{}
	}
	level := func(n int) *int { return &n }
	for _, tt := range []struct {
		name string
		want kafka.Compression
	}{{"", compress.None}, {"none", compress.None}, {"gzip", kafka.Gzip}, {"snappy", kafka.Snappy}, {"lz4", kafka.Lz4}, {"zstd", kafka.Zstd}} {
		if got := codec(config.Producer{Compression: tt.name}); got != tt.want {
			t.Errorf("codec(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
	if compress.GzipCodec.Level != saveGzip || compress.ZstdCodec.Level != saveZstd || compress.SnappyCodec.Compression != saveSnappy {
		t.Error("a codec without a level changed a level")
	}

	if got := codec(config.Producer{Compression: "gzip", CompressionLevel: level(9)}); got != kafka.Gzip {
		t.Errorf("gzip 9: %v", got)
	}
	if compress.GzipCodec.Level != 9 {
		t.Errorf("gzip level %d, want 9", compress.GzipCodec.Level)
	}
	// Once only: a level is not changed under a running writer.
	codec(config.Producer{Compression: "gzip", CompressionLevel: level(2)})
	if compress.GzipCodec.Level != 9 {
		t.Errorf("gzip level %d after a second level, want 9 (applied once)", compress.GzipCodec.Level)
	}
	codec(config.Producer{Compression: "zstd", CompressionLevel: level(19)})
	if compress.ZstdCodec.Level != 19 {
		t.Errorf("zstd level %d, want 19", compress.ZstdCodec.Level)
	}
	codec(config.Producer{Compression: "snappy", CompressionLevel: level(3)})
	if compress.SnappyCodec.Compression != snappy.BestCompression {
		t.Errorf("snappy compression %d, want BestCompression", compress.SnappyCodec.Compression)
	}
	// kafka-go's writers use these very codecs.
	if compress.Codecs[compress.Gzip] != &compress.GzipCodec || compress.Codecs[compress.Zstd] != &compress.ZstdCodec {
		t.Error("compress.Codecs does not hold the global codecs")
	}

	p := newProducerWith(t, []string{"127.0.0.1:1"}, func(s *config.Producer) { s.Compression = "lz4" })
	if p.writer.Compression != kafka.Lz4 {
		t.Errorf("writer compression %v, want lz4", p.writer.Compression)
	}
}

// Each codec writes records kfake's consumer (franz-go) reads back whole.
func TestPublishWithEachCodec(t *testing.T) {
	for _, name := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(name, func(t *testing.T) {
			c := kfaketest.NewCluster(t, topic)
			p := newProducerWith(t, c.ListenAddrs(), func(s *config.Producer) { s.Compression = name })
			value := strings.Repeat(`{"compressible":"yes"}`, 50)
			if err := FirstError(p.Publish(context.Background(), record(value))); err != nil {
				t.Fatal(err)
			}
			if got := kfaketest.ReadValues(t, c, topic, 1); len(got) != 1 || got[0] != value {
				t.Errorf("read back %q", got)
			}
		})
	}
}

// --- through kfake: TLS and SASL on a real connection ---

func securedProducer(t *testing.T, brokers []string, c config.Cluster) *Producer {
	t.Helper()
	c.Brokers, c.ClientID = brokers, "test"
	p := New(c, config.Producer{
		RequiredAcks: -1, ProduceTimeout: 10 * time.Second,
		BatchTimeout: time.Millisecond, BatchSize: 100, BatchBytes: 1 << 20,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { p.Close() })
	return p
}

// publishFast publishes one record and fails the test if that took longer
// than a few seconds (the produce timeout is 10 s).
func publishFast(t *testing.T, p *Producer) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	began := time.Now()
	err := FirstError(p.Publish(ctx, record("v")))
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("Publish took %s", d)
	}
	return err
}

// eventually publishes until it succeeds (kafka-go serves a connection
// failure from its cache until its next metadata refresh, within a second).
func eventually(t *testing.T, p *Producer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := publishFast(t, p)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPublishOverTLS(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.server(t, time.Time{}, time.Time{})
	c := kfaketest.NewClusterOpts(t, kfake.SeedTopics(1, topic), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert.tls}}))

	t.Run("verified with the CA", func(t *testing.T) {
		p := securedProducer(t, c.ListenAddrs(), config.Cluster{TLS: &config.TLS{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}})
		if err := publishFast(t, p); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("untrusted CA", func(t *testing.T) {
		p := securedProducer(t, c.ListenAddrs(), config.Cluster{TLS: &config.TLS{MinVersion: tls.VersionTLS12}})
		err := publishFast(t, p)
		if r := reasonOf(t, err); r != TLSFailed {
			t.Fatalf("reason %d (%v), want TLSFailed", r, err)
		}
		if want := "tls: failed to verify certificate: x509: certificate signed by unknown authority"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	})
	t.Run("wrong server name", func(t *testing.T) {
		p := securedProducer(t, c.ListenAddrs(), config.Cluster{TLS: &config.TLS{RootCAs: ca.pool, ServerName: "kafka.example.com", MinVersion: tls.VersionTLS12}})
		err := publishFast(t, p)
		if r := reasonOf(t, err); r != TLSFailed {
			t.Fatalf("reason %d (%v), want TLSFailed", r, err)
		}
		if want := "tls: failed to verify certificate: x509: certificate is valid for localhost, not kafka.example.com"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	})
}

func TestPublishOverMTLS(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.server(t, time.Time{}, time.Time{})
	c := kfaketest.NewClusterOpts(t, kfake.SeedTopics(1, topic), kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{cert.tls}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool}))
	client := ca.client(t, "producer")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeAt(t, certFile, client.certPEM, time.Now())
	writeAt(t, keyFile, client.keyPEM, time.Now())

	p := securedProducer(t, c.ListenAddrs(), config.Cluster{TLS: &config.TLS{RootCAs: ca.pool, MinVersion: tls.VersionTLS12, CertFile: certFile, KeyFile: keyFile}})
	if err := publishFast(t, p); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	p = securedProducer(t, c.ListenAddrs(), config.Cluster{TLS: &config.TLS{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}})
	err := publishFast(t, p)
	if r := reasonOf(t, err); r != TLSFailed {
		t.Fatalf("without a client certificate: reason %d (%v), want TLSFailed", r, err)
	}
}

// refusePlain makes c answer a PLAIN authentication whose password is not
// password as Kafka does, with error 58 and Kafka's text (kfake itself
// closes the connection); it counts the refusals.
func refusePlain(c *kfake.Cluster, password string) *atomic.Int32 {
	var refused atomic.Int32
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLAuthenticateRequest)
		if parts := bytes.Split(r.SASLAuthBytes, []byte{0}); len(parts) == 3 && string(parts[2]) == password {
			return nil, nil, false
		}
		refused.Add(1)
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = int16(kafka.SASLAuthenticationFailed)
		msg := "Authentication failed: Invalid username or password"
		resp.ErrorMessage = &msg
		return resp, nil, true
	})
	return &refused
}

func TestPublishWithPLAINPasswordFileRotated(t *testing.T) {
	c := kfaketest.NewClusterOpts(t, kfake.SeedTopics(1, topic), kfake.EnableSASL(), kfake.Superuser(config.SASLPlain, "alice", "alice-secret"))
	refused := refusePlain(c, "alice-secret")
	pw := filepath.Join(t.TempDir(), "password")
	writeAt(t, pw, []byte("wrong-secret\n"), time.Now())
	p := securedProducer(t, c.ListenAddrs(), config.Cluster{SASL: &config.SASL{Mechanism: config.SASLPlain, Username: "alice", Password: config.SecretFile(pw)}})
	err := publishFast(t, p)
	if r := reasonOf(t, err); r != AuthFailed {
		t.Fatalf("wrong password: reason %d (%v), want AuthFailed", r, err)
	}
	if want := "[58] SASL Authentication Failed: SASL Authentication failed: Authentication failed: Invalid username or password"; err.Error() != want {
		t.Errorf("wrong password: error %q, want %q", err, want)
	}
	if refused.Load() == 0 {
		t.Error("the broker saw no authentication")
	}
	// The password file is rotated: the same producer authenticates with
	// the new password, without a restart.
	writeAt(t, pw, []byte("alice-secret\n"), time.Now().Add(time.Minute))
	eventually(t, p)
	if hw := kfaketest.HighWatermark(t, c, topic); hw != 1 {
		t.Errorf("high watermark %d, want 1", hw)
	}
}

func TestPublishWithSCRAMPasswordFileRotated(t *testing.T) {
	for _, mech := range []string{config.SASLScramSHA256, config.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			c := kfaketest.NewClusterOpts(t, kfake.SeedTopics(1, topic), kfake.EnableSASL(), kfake.Superuser(mech, "alice", "alice-secret"))
			pw := filepath.Join(t.TempDir(), "password")
			writeAt(t, pw, []byte("wrong-secret\n"), time.Now())
			p := securedProducer(t, c.ListenAddrs(), config.Cluster{SASL: &config.SASL{Mechanism: mech, Username: "alice", Password: config.SecretFile(pw)}})
			// kfake closes the connection on a wrong proof (Kafka answers 58).
			if err := publishFast(t, p); err == nil {
				t.Fatal("published with the wrong password")
			}
			writeAt(t, pw, []byte("alice-secret\n"), time.Now().Add(time.Minute))
			eventually(t, p)
		})
	}
}

func TestPublishWithAMechanismTheBrokerLacks(t *testing.T) {
	c := kfaketest.NewClusterOpts(t, kfake.SeedTopics(1, topic), kfake.EnableSASL(), kfake.Superuser(config.SASLPlain, "alice", "alice-secret"))
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeAt(t, tokenFile, []byte("tok"), time.Now())
	p := securedProducer(t, c.ListenAddrs(), config.Cluster{SASL: &config.SASL{Mechanism: config.SASLOAuthBearer, OAuth: &config.OAuth{TokenFile: tokenFile}}})
	err := publishFast(t, p)
	if r := reasonOf(t, err); r != AuthFailed {
		t.Fatalf("reason %d (%v), want AuthFailed", r, err)
	}
	if want := "[33] Unsupported SASL Mechanism: the broker does not support the requested SASL mechanism"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// The records of a failed publish carry the reason too.
func TestAuthFailureResultsAreNotRetried(t *testing.T) {
	c := kfaketest.NewClusterOpts(t, kfake.SeedTopics(1, topic), kfake.EnableSASL(), kfake.Superuser(config.SASLPlain, "alice", "alice-secret"))
	refusePlain(c, "alice-secret")
	p := securedProducer(t, c.ListenAddrs(), config.Cluster{SASL: &config.SASL{Mechanism: config.SASLPlain, Username: "alice", Password: config.NewSecret("nope")}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	results := p.Publish(ctx, []message.Record{{Topic: topic, Value: []byte("a")}, {Topic: topic, Value: []byte("b")}})
	for i, r := range results {
		if reasonOf(t, r.Err) != AuthFailed {
			t.Errorf("record %d: %v, want AuthFailed", i, r.Err)
		}
	}
	// Retrying would have waited out backoff(0..) = 100, 200, 400 ms …
	// until the deadline; an AuthFailed comes back at once.
	if dl, _ := ctx.Deadline(); time.Until(dl) < 9*time.Second {
		t.Errorf("Publish took %s, want it not retried", 10*time.Second-time.Until(dl))
	}
}

// fakeListener is a broker that reads what a client sends first, answers
// with answer (may be nil) and closes the connection.
func fakeListener(t *testing.T, answer []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 512)
				if _, err := c.Read(buf); err != nil {
					return
				}
				if answer != nil {
					c.Write(answer)
				}
			}()
		}
	}()
	return l.Addr().String()
}

// Plaintext to a TLS listener is a TLS failure; TLS to a plaintext one
// only shows as a closed connection (README: 502 produce_failed). Kafka's
// listeners are mimicked: a Java TLS listener answers a plaintext request
// with a TLS alert record, a plaintext listener closes the connection on a
// ClientHello (kfake and Go's TLS server behave otherwise).
func TestPublishWithTheWrongTransport(t *testing.T) {
	alert := []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50} // fatal internal_error, TLS 1.2
	p := securedProducer(t, []string{fakeListener(t, alert)}, config.Cluster{})
	err := publishFast(t, p)
	if r := reasonOf(t, err); r != TLSFailed {
		t.Errorf("plaintext to TLS: reason %d (%v), want TLSFailed", r, err)
	}
	if err != nil && err.Error() != "unexpected EOF: broker appears to be expecting TLS" {
		t.Errorf("plaintext to TLS: error %q", err)
	}

	ca := newTestCA(t)
	p = securedProducer(t, []string{fakeListener(t, nil)}, config.Cluster{TLS: &config.TLS{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}})
	err = publishFast(t, p)
	if r := reasonOf(t, err); r != Unavailable {
		t.Errorf("TLS to plaintext: reason %d (%v), want Unavailable", r, err)
	}
	if err != nil && !isNetwork(err) {
		t.Errorf("TLS to plaintext: error %q is no network error", err)
	}
}
