package ingest

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
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/lograte"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/logtest"
	"github.com/kafka-upstream/envoy-kafka-upstream/producer"
)

const kongBadGateway = `{"message":"Bad Gateway","error":"could not send message to topic"}`

// brokerCert is a CA (PEM, in caFile) and a broker certificate it signed
// for 127.0.0.1.
type brokerCert struct {
	caFile string
	cert   tls.Certificate
}

func newBrokerCert(t *testing.T) brokerCert {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return brokerCert{caFile: caFile, cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// tlsCluster is a kfake cluster whose listener speaks TLS only.
func tlsCluster(t *testing.T, bc brokerCert) *kfake.Cluster {
	t.Helper()
	return kfaketest.NewClusterOpts(t, kfake.SeedTopics(1, topic), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{bc.cert}}))
}

// saslBroker makes c answer SASL as Kafka does: mechanism's handshake is
// accepted (others: error 33), and an authentication whose bytes accept
// refuses is answered with error 58 and message.
func saslBroker(c *kfake.Cluster, mechanism string, accept func([]byte) bool, message string) {
	c.ControlKey(int16(kmsg.SASLHandshake), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLHandshakeRequest)
		resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
		if r.Mechanism != mechanism {
			resp.ErrorCode = int16(kafka.UnsupportedSASLMechanism)
		}
		return resp, nil, true
	})
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLAuthenticateRequest)
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		if !accept(r.SASLAuthBytes) {
			resp.ErrorCode = int16(kafka.SASLAuthenticationFailed)
			resp.ErrorMessage = &message
		}
		return resp, nil, true
	})
}

// noSecrets fails the test if any of secrets shows in the reply or the log.
func noSecrets(t *testing.T, got Reply, logs *logtest.Recorder, secrets ...string) {
	t.Helper()
	all := string(got.Body) + "\n" + got.Details + "\n" + strings.Join(logs.Lines(), "\n")
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("%q shows in the captured output:\n%s", s, all)
		}
	}
}

func withCause(cfg *config.Config) *config.Config {
	cfg.ErrorHandling = &config.ErrorHandling{ReturnErrorMessage: true}
	return cfg
}

func TestAuthFailureReplies(t *testing.T) {
	const secret = "S3CRET-alice-password"
	plain := func() *config.Config {
		return &config.Config{Sasl: &config.Sasl{Mechanism: "PLAIN", Username: "alice", Password: secret}}
	}
	const cause = "[58] SASL Authentication Failed: SASL Authentication failed: Authentication failed: Invalid username or password"
	refuse := func(b []byte) bool { return false }
	for _, tt := range []struct {
		name  string
		cfg   *config.Config
		error string
	}{
		{"Kong's body", plain(), "could not send message to topic"},
		{"the cause with return_error_message", withCause(plain()), cause},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := kfaketest.NewCluster(t, topic)
			saslBroker(c, "PLAIN", refuse, "Authentication failed: Invalid username or password")
			p, logs := newPipeline(t, c.ListenAddrs(), tt.cfg)
			began := time.Now()
			got := p.Handle(context.Background(), get("/"))
			if d := time.Since(began); d > 5*time.Second {
				t.Errorf("the reply took %s", d)
			}
			expect(t, got, 502, `{"message":"Bad Gateway","error":"`+tt.error+`"}`, "kafka_upstream_auth_failed")
			want := fmt.Sprintf("ERROR authentication to the Kafka brokers failed cluster=%v (SASL_PLAINTEXT PLAIN) error=%s", c.ListenAddrs(), cause)
			if l := logs.OwnLines(); len(l) != 1 || l[0] != want {
				t.Errorf("log = %q, want [%q]", l, want)
			}
			noSecrets(t, got, logs, secret)
		})
	}

	t.Run("mechanism not enabled", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		saslBroker(c, "SCRAM-SHA-512", refuse, "")
		p, logs := newPipeline(t, c.ListenAddrs(), withCause(plain()))
		got := p.Handle(context.Background(), get("/"))
		expect(t, got, 502, `{"message":"Bad Gateway","error":"[33] Unsupported SASL Mechanism: the broker does not support the requested SASL mechanism"}`,
			"kafka_upstream_auth_failed")
		noSecrets(t, got, logs, secret)
	})

	t.Run("password file gone after the config loaded", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		saslBroker(c, "PLAIN", func([]byte) bool { return true }, "")
		pw := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(pw, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p, logs := newPipeline(t, c.ListenAddrs(), withCause(&config.Config{Sasl: &config.Sasl{Mechanism: "PLAIN", Username: "alice", PasswordFile: pw}}))
		os.Remove(pw)
		got := p.Handle(context.Background(), get("/"))
		expect(t, got, 502, `{"message":"Bad Gateway","error":"reading the SASL password: reading secret file: open `+pw+`: no such file or directory"}`,
			"kafka_upstream_auth_failed")
		noSecrets(t, got, logs, secret)
	})

	t.Run("PLAIN accepted: 200", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		saslBroker(c, "PLAIN", func(b []byte) bool { return bytes.Equal(b, []byte("\x00alice\x00"+secret)) }, "Authentication failed: Invalid username or password")
		p, logs := newPipeline(t, c.ListenAddrs(), plain())
		expect(t, p.Handle(context.Background(), get("/")), 200, sent(topic, 0, 0), "kafka_upstream_sent")
		noLogs(t, logs)
	})
}

func TestOAuthFailureReplies(t *testing.T) {
	const secret = "S3CRET-client-secret"
	oauth := func(url string) *config.Config {
		return withCause(&config.Config{Sasl: &config.Sasl{Mechanism: "OAUTHBEARER", Oauthbearer: &config.OAuthBearer{
			TokenEndpointUrl: url, ClientId: "producer", ClientSecret: secret}}})
	}
	t.Run("token endpoint refuses the client", func(t *testing.T) {
		idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"bad client secret"}`)
		}))
		t.Cleanup(idp.Close)
		c := kfaketest.NewCluster(t, topic)
		saslBroker(c, "OAUTHBEARER", func([]byte) bool { return true }, "")
		p, logs := newPipeline(t, c.ListenAddrs(), oauth(idp.URL+"/token"))
		got := p.Handle(context.Background(), get("/"))
		cause := "OAUTHBEARER token endpoint: " + idp.URL + "/token answered 401 invalid_client bad client secret"
		expect(t, got, 502, `{"message":"Bad Gateway","error":"`+cause+`"}`, "kafka_upstream_auth_failed")
		want := fmt.Sprintf("ERROR authentication to the Kafka brokers failed cluster=%v (SASL_PLAINTEXT OAUTHBEARER) error=%s", c.ListenAddrs(), cause)
		if l := logs.OwnLines(); len(l) != 1 || l[0] != want {
			t.Errorf("log = %q, want [%q]", l, want)
		}
		noSecrets(t, got, logs, secret)
	})
	t.Run("token endpoint down", func(t *testing.T) {
		addr := kfaketest.RefusingAddr(t)
		c := kfaketest.NewCluster(t, topic)
		saslBroker(c, "OAUTHBEARER", func([]byte) bool { return true }, "")
		p, logs := newPipeline(t, c.ListenAddrs(), oauth("http://"+addr+"/token"))
		got := p.Handle(context.Background(), get("/"))
		expect(t, got, 502, `{"message":"Bad Gateway","error":"OAUTHBEARER token endpoint: Post \"http://`+addr+`/token\": dial tcp `+addr+`: connect: connection refused"}`,
			"kafka_upstream_auth_failed")
		noSecrets(t, got, logs, secret)
	})
	t.Run("token refused by the broker", func(t *testing.T) {
		idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"access_token":"S3CRET-token","expires_in":3600}`)
		}))
		t.Cleanup(idp.Close)
		c := kfaketest.NewCluster(t, topic)
		saslBroker(c, "OAUTHBEARER", func([]byte) bool { return false }, `{"status":"invalid_token"}`)
		p, logs := newPipeline(t, c.ListenAddrs(), oauth(idp.URL))
		got := p.Handle(context.Background(), get("/"))
		expect(t, got, 502, `{"message":"Bad Gateway","error":"[58] SASL Authentication Failed: SASL Authentication failed: {\"status\":\"invalid_token\"}"}`,
			"kafka_upstream_auth_failed")
		noSecrets(t, got, logs, secret, "S3CRET-token")
	})
	t.Run("token accepted: 200", func(t *testing.T) {
		idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"access_token":"good-token","expires_in":3600}`)
		}))
		t.Cleanup(idp.Close)
		c := kfaketest.NewCluster(t, topic)
		saslBroker(c, "OAUTHBEARER", func(b []byte) bool { return string(b) == "n,,\x01auth=Bearer good-token\x01\x01" }, `{"status":"invalid_token"}`)
		p, logs := newPipeline(t, c.ListenAddrs(), oauth(idp.URL))
		expect(t, p.Handle(context.Background(), get("/")), 200, sent(topic, 0, 0), "kafka_upstream_sent")
		noLogs(t, logs)
	})
}

func TestTLSFailureReplies(t *testing.T) {
	bc := newBrokerCert(t)
	c := tlsCluster(t, bc)
	const cause = "tls: failed to verify certificate: x509: certificate signed by unknown authority"
	for _, tt := range []struct {
		name  string
		cfg   *config.Config
		error string
	}{
		{"Kong's body", &config.Config{Tls: &config.Tls{Enabled: true}}, "could not send message to topic"},
		{"the cause with return_error_message", withCause(&config.Config{Tls: &config.Tls{Enabled: true}}), cause},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, logs := newPipeline(t, c.ListenAddrs(), tt.cfg)
			began := time.Now()
			got := p.Handle(context.Background(), get("/"))
			if d := time.Since(began); d > 5*time.Second {
				t.Errorf("the reply took %s", d)
			}
			expect(t, got, 502, `{"message":"Bad Gateway","error":"`+tt.error+`"}`, "kafka_upstream_tls_failed")
			want := fmt.Sprintf("ERROR TLS to the Kafka brokers failed cluster=%v (SSL) error=%s", c.ListenAddrs(), cause)
			if l := logs.OwnLines(); len(l) != 1 || l[0] != want {
				t.Errorf("log = %q, want [%q]", l, want)
			}
		})
	}
	t.Run("wrong server name", func(t *testing.T) {
		p, _ := newPipeline(t, c.ListenAddrs(), withCause(&config.Config{Tls: &config.Tls{Enabled: true, CaFile: bc.caFile, ServerName: "kafka.example.com"}}))
		expect(t, p.Handle(context.Background(), get("/")), 502,
			`{"message":"Bad Gateway","error":"tls: failed to verify certificate: x509: certificate is valid for localhost, not kafka.example.com"}`,
			"kafka_upstream_tls_failed")
	})
	t.Run("the CA file: 200", func(t *testing.T) {
		p, logs := newPipeline(t, c.ListenAddrs(), &config.Config{Tls: &config.Tls{Enabled: true, CaFile: bc.caFile}})
		expect(t, p.Handle(context.Background(), get("/")), 200, sent(topic, 0, 0), "kafka_upstream_sent")
		noLogs(t, logs)
	})
	t.Run("insecure_skip_verify: 200 and a warning at load", func(t *testing.T) {
		p, logs := newPipeline(t, c.ListenAddrs(), &config.Config{Tls: &config.Tls{Enabled: true, InsecureSkipVerify: true}})
		expect(t, p.Handle(context.Background(), get("/")), 200, sent(topic, 0, 1), "kafka_upstream_sent")
		want := "WARN tls.insecure_skip_verify is true: the broker certificates are not verified, and anyone on the network path can read and change the traffic"
		if l := logs.OwnLines(); len(l) != 1 || l[0] != want {
			t.Errorf("log = %q, want [%q]", l, want)
		}
	})
	t.Run("SASL_SSL: TLS fails first", func(t *testing.T) {
		p, _ := newPipeline(t, c.ListenAddrs(), &config.Config{Tls: &config.Tls{Enabled: true},
			Sasl: &config.Sasl{Mechanism: "SCRAM-SHA-512", Username: "alice", Password: "S3CRET"}})
		got := p.Handle(context.Background(), get("/"))
		expect(t, got, 502, kongBadGateway, "kafka_upstream_tls_failed")
	})
}

// While a cause lasts, one line per window: the requests failing alike are
// counted and the count is reported with the next line.
func TestFailureLogsRateLimited(t *testing.T) {
	t.Run("through Handle", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		saslBroker(c, "PLAIN", func([]byte) bool { return false }, "Authentication failed: Invalid username or password")
		p, logs := newPipeline(t, c.ListenAddrs(), &config.Config{Sasl: &config.Sasl{Mechanism: "PLAIN", Username: "alice", Password: "pw"},
			ProduceTimeout: durationpb.New(5 * time.Second)})
		for i := 0; i < 5; i++ {
			expect(t, p.Handle(context.Background(), get("/")), 502, kongBadGateway, "kafka_upstream_auth_failed")
		}
		if l := logs.OwnLines(); len(l) != 1 || !strings.HasPrefix(l[0], "ERROR authentication to the Kafka brokers failed ") {
			t.Errorf("log = %q, want one line for five failures", l)
		}
		kafkaLines := 0
		for _, l := range logs.Lines() {
			if strings.HasPrefix(l, "WARN kafka: ") {
				kafkaLines++
			}
		}
		if kafkaLines > 1 {
			t.Errorf("%d kafka-go lines within 10 s, want at most one: %q", kafkaLines, logs.Lines())
		}
	})

	t.Run("per cause, a window shared by the cluster's routes", func(t *testing.T) {
		p, logs := newPipeline(t, []string{"127.0.0.1:1"}, &config.Config{Tls: &config.Tls{Enabled: true},
			Sasl: &config.Sasl{Mechanism: "PLAIN", Username: "alice", Password: "pw"}})
		p.limit = lograte.NewLogged(time.Hour, p.log)
		auth := &producer.Error{Reason: producer.AuthFailed, Err: errors.New("wrong password")}
		tlsErr := &producer.Error{Reason: producer.TLSFailed, Err: errors.New("x509: certificate signed by unknown authority")}
		down := &producer.Error{Reason: producer.Unavailable, Err: errors.New("dial tcp: connection refused")}
		for i := 0; i < 3; i++ {
			expect(t, p.failure(auth, topic).reply(), 502, kongBadGateway, "kafka_upstream_auth_failed")
		}
		expect(t, p.failure(tlsErr, topic).reply(), 502, kongBadGateway, "kafka_upstream_tls_failed")
		p.failure(tlsErr, topic)
		p.failure(down, topic)
		// Another route of the same cluster shares the window.
		d := p.Derive(p.Settings())
		d.failure(auth, topic)
		const cluster = "cluster=[127.0.0.1:1] (SASL_SSL PLAIN)"
		want := []string{
			"ERROR authentication to the Kafka brokers failed " + cluster + " error=wrong password",
			"ERROR TLS to the Kafka brokers failed " + cluster + " error=x509: certificate signed by unknown authority",
			"ERROR publishing to kafka failed topic=events error=dial tcp: connection refused",
		}
		if l := logs.Lines(); fmt.Sprint(l) != fmt.Sprint(want) {
			t.Errorf("log\n got %q\nwant %q", l, want)
		}
		// The end of a window, with its summary: TestFailureLogSummaries.
	})
}

// While a cause lasts, its lines are one, then a summary per window with
// the count; a failure is never logged twice, nor left uncounted.
func TestFailureLogSummaries(t *testing.T) {
	p, logs := newPipeline(t, []string{"127.0.0.1:1"}, nil)
	p.limit = lograte.NewLogged(200*time.Millisecond, p.log)
	down := &producer.Error{Reason: producer.Unavailable, Err: errors.New("dial tcp: connection refused")}
	for range 5 {
		p.failure(down, topic)
	}
	deadline := time.Now().Add(wait)
	for len(logs.Lines()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	want := []string{
		"ERROR publishing to kafka failed topic=events error=dial tcp: connection refused",
		"WARN publishing to kafka failed similar_failures=4 within=200ms",
	}
	if l := logs.Lines(); fmt.Sprint(l) != fmt.Sprint(want) {
		t.Fatalf("log\n got %q\nwant %q", l, want)
	}
	// Once the cause is gone for a window, no more summaries, and the
	// next failure is a line of its own.
	time.Sleep(450 * time.Millisecond)
	p.failure(down, topic)
	want = append(want, want[0])
	if l := logs.Lines(); fmt.Sprint(l) != fmt.Sprint(want) {
		t.Errorf("log after the window\n got %q\nwant %q", l, want)
	}
}
