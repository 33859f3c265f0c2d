// Package securetest gives integration tests what they need to talk to the
// secured listeners of the broker that e2e/kafka.sh starts when
// KAFKA_SECURE_DIR is set (e2e/with-kafka.sh sets it by default): the
// material's paths, the listeners' addresses, the SASL user, JWTs the broker
// accepts, an OAuth 2.0 client-credentials token endpoint, and an
// independent client (franz-go, not kafka-go) that writes and reads records
// over those listeners.
//
// Listeners (P is KAFKA_PORT; all on 127.0.0.1, all advertise themselves):
//
//	P+2  SSL       TLS, broker cert from the test CA (IP SAN 127.0.0.1, DNS localhost)
//	P+3  SASL_SSL  TLS + SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (alice / alice-secret)
//	P+4  MTLS      TLS, client certificate required (signed by the test CA)
//	P+5  OAUTH     TLS + SASL OAUTHBEARER: RS256 JWT, kid k1, aud "kafka",
//	               iss "kafka-upstream-test-idp", checked against jwks.json
//	P+6  EXPIRED   TLS with a certificate that expired on 2024-02-01
//	P+7  TLS12     TLS, TLSv1.2 only
//
// No authorizer is configured: any authenticated client may create, write
// and read any topic. Topics are not auto-created: create them over
// PLAINTEXT with kafkatest.CreateTopic first.
package securetest

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/securetest/gen"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// What the broker expects; e2e/kafka.sh writes the same values into
// server.properties.
const (
	User     = "alice"
	Password = "alice-secret"
	Audience = "kafka"
	Issuer   = "kafka-upstream-test-idp"
	KeyID    = gen.KeyID
	// Subject is the "sub" claim of MintToken's tokens.
	Subject = "kafka-upstream-test"
	// Scope is the "scope" claim of MintToken's tokens.
	Scope = "kafka"
)

// Material is the test material in $KAFKA_SECURE_DIR and the secured
// listeners of the running broker.
type Material struct {
	Dir string

	CAFile         string // the CA that signed broker, expired and client certs
	OtherCAFile    string // a CA that signed nothing here: the broker is "untrusted" with it
	ClientCertFile string // clientAuth, CN=client, signed by CAFile's CA
	ClientKeyFile  string // PKCS#8 PEM, mode 0600
	ClientPEMFile  string // ClientKeyFile + ClientCertFile + CA in one file (Java clients)
	JWKSFile       string // what the OAUTH listener validates tokens with
	JWTKeyFile     string // the RS256 key that signs MintToken's tokens

	// host:port of each secured listener (see the package doc).
	SSL, SASLSSL, MTLS, OAuth, Expired, TLS12 string
	// Plaintext is $KAFKA_BOOTSTRAP, for creating topics.
	Plaintext string

	User, Password   string // valid for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
	Audience, Issuer string // what the OAUTH listener expects

	jwtKey *rsa.PrivateKey
	ca     *x509.Certificate
	caKey  *rsa.PrivateKey
}

// The variables e2e/kafka.sh env prints (and e2e/with-kafka.sh exports).
var addrVars = []struct {
	name string
	addr func(*Material) *string
}{
	{"KAFKA_BOOTSTRAP", func(m *Material) *string { return &m.Plaintext }},
	{"KAFKA_SSL_BOOTSTRAP", func(m *Material) *string { return &m.SSL }},
	{"KAFKA_SASL_SSL_BOOTSTRAP", func(m *Material) *string { return &m.SASLSSL }},
	{"KAFKA_MTLS_BOOTSTRAP", func(m *Material) *string { return &m.MTLS }},
	{"KAFKA_OAUTH_BOOTSTRAP", func(m *Material) *string { return &m.OAuth }},
	{"KAFKA_EXPIRED_BOOTSTRAP", func(m *Material) *string { return &m.Expired }},
	{"KAFKA_TLS12_BOOTSTRAP", func(m *Material) *string { return &m.TLS12 }},
}

const howTo = "run the tests with e2e/with-kafka.sh (`make integration`), which starts the broker with secured listeners, " +
	"or start one with `KAFKA_SECURE_DIR=DIR e2e/kafka.sh start` and export the output of `KAFKA_SECURE_DIR=DIR e2e/kafka.sh env`"

// Load returns the material of $KAFKA_SECURE_DIR and the listener addresses
// of $KAFKA_*_BOOTSTRAP. Anything missing fails the test (it does not skip):
// these tests are run on purpose, with a secured broker.
func Load(t testing.TB) *Material {
	t.Helper()
	dir := os.Getenv("KAFKA_SECURE_DIR")
	if dir == "" {
		t.Fatal("securetest: KAFKA_SECURE_DIR is not set: " + howTo)
	}
	m := &Material{
		Dir:            dir,
		CAFile:         filepath.Join(dir, gen.CACert),
		OtherCAFile:    filepath.Join(dir, gen.OtherCACert),
		ClientCertFile: filepath.Join(dir, gen.ClientCert),
		ClientKeyFile:  filepath.Join(dir, gen.ClientKey),
		ClientPEMFile:  filepath.Join(dir, gen.ClientPEM),
		JWKSFile:       filepath.Join(dir, gen.JWKS),
		JWTKeyFile:     filepath.Join(dir, gen.JWTKey),
		User:           User,
		Password:       Password,
		Audience:       Audience,
		Issuer:         Issuer,
	}
	var missing []string
	for _, v := range addrVars {
		a := os.Getenv(v.name)
		if a == "" {
			missing = append(missing, v.name)
		}
		*v.addr(m) = a
	}
	if len(missing) > 0 {
		t.Fatalf("securetest: %s not set although KAFKA_SECURE_DIR=%s is: %s", strings.Join(missing, ", "), dir, howTo)
	}
	// An hour is enough for a test run; the generator renews a day ahead.
	if err := gen.Check(dir, time.Now(), time.Hour); err != nil {
		t.Fatalf("securetest: %s does not hold usable material (%v): regenerate it with `go run ./e2e/securetest/cmd/gen %s` and restart the broker", dir, err, dir)
	}
	var err error
	if m.jwtKey, err = gen.ReadKey(m.JWTKeyFile); err != nil {
		t.Fatalf("securetest: %v", err)
	}
	if m.ca, err = gen.ReadCert(m.CAFile); err != nil {
		t.Fatalf("securetest: %v", err)
	}
	if m.caKey, err = gen.ReadKey(filepath.Join(dir, gen.CAKey)); err != nil {
		t.Fatalf("securetest: %v", err)
	}
	return m
}

func pool(t testing.TB, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("securetest: %v", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatalf("securetest: no certificate in %s", file)
	}
	return p
}

// TLS returns a client config that trusts the test CA (and nothing else).
// ServerName is left empty: franz-go and kafka-go both set it to the host
// they dial, 127.0.0.1, which the broker certificate has as an IP SAN.
func (m *Material) TLS(t testing.TB) *tls.Config {
	t.Helper()
	return &tls.Config{RootCAs: pool(t, m.CAFile), MinVersion: tls.VersionTLS12}
}

// UntrustedTLS returns a client config that trusts only the other CA, which
// signed nothing the broker presents.
func (m *Material) UntrustedTLS(t testing.TB) *tls.Config {
	t.Helper()
	return &tls.Config{RootCAs: pool(t, m.OtherCAFile), MinVersion: tls.VersionTLS12}
}

// ClientTLS returns TLS(t) plus the client certificate, for the MTLS listener.
func (m *Material) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	c := m.TLS(t)
	cert, err := tls.LoadX509KeyPair(m.ClientCertFile, m.ClientKeyFile)
	if err != nil {
		t.Fatalf("securetest: %v", err)
	}
	c.Certificates = []tls.Certificate{cert}
	return c
}

// IssueClientCert signs a new client certificate (clientAuth, CN=cn, valid
// notBefore..notAfter) with the test CA and writes it and its key into a
// test temp dir: for certificate rotation, or an expired client certificate.
func (m *Material) IssueClientCert(t testing.TB, cn string, notBefore, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(randReader, 2048)
	if err != nil {
		t.Fatalf("securetest: %v", err)
	}
	cert, err := gen.IssueClient(m.ca, m.caKey, key, cn, notBefore, notAfter)
	if err != nil {
		t.Fatalf("securetest: %v", err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	if err := os.WriteFile(certFile, gen.CertPEM(cert), 0o644); err != nil {
		t.Fatalf("securetest: %v", err)
	}
	if err := os.WriteFile(keyFile, gen.KeyPEM(key), 0o600); err != nil {
		t.Fatalf("securetest: %v", err)
	}
	return certFile, keyFile
}

// Franz-go SASL mechanisms for the independent client. The producer under
// test uses kafka-go's own.

// Plain is SASL PLAIN as user/password.
func Plain(user, password string) sasl.Mechanism {
	return plain.Auth{User: user, Pass: password}.AsMechanism()
}

// ScramSHA256 is SASL SCRAM-SHA-256 as user/password.
func ScramSHA256(user, password string) sasl.Mechanism {
	return scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
}

// ScramSHA512 is SASL SCRAM-SHA-512 as user/password.
func ScramSHA512(user, password string) sasl.Mechanism {
	return scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
}

// OAuthBearer is SASL OAUTHBEARER with a fixed token (see MintToken).
func OAuthBearer(token string) sasl.Mechanism {
	return oauth.Auth{Token: token}.AsMechanism()
}
