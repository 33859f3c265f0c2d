//go:build integration

package integration_test

// What goes wrong with secured clusters (issue 7), against the real broker:
// each TLS and authentication failure answered at once with its own status,
// details and body, logged once per cause (rate-limited) and publishing
// nothing; configs that cannot work refused at load naming the field; and
// no secret in anything the filter says.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/securetest"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter"
	"github.com/kafka-upstream/envoy-kafka-upstream/filter/filtertest"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

// The first words of the one log line of each kind of failure (ingest's
// failure table), followed by cluster=<brokers> (<security>) error=<cause>.
const (
	authLogLine = "ERROR authentication to the Kafka brokers failed cluster="
	tlsLogLine  = "ERROR TLS to the Kafka brokers failed cluster="
)

// TestSecuredFailures: every way a secured connection fails, each answered
// with 502 and its details within a fraction of produce_timeout, one log
// line naming the cause (and no second one for a second failure within the
// rate limit's 10 s), nothing published.
func TestSecuredFailures(t *testing.T) {
	t.Parallel()
	m := securetest.Load(t)
	bootstrap := kafkatest.Bootstrap(t)
	wrongPassword := secret("wrong-password-Pq9")
	password := secret(m.Password)
	const clientID = "producer"
	rightClientSecret := secret("right-client-secret-Hm2")
	wrongClientSecret := secret("wrong-client-secret-Vb7")
	tokenURL, _ := m.StartTokenServer(t, clientID, rightClientSecret, 10*time.Minute)
	closedURL := fmt.Sprintf("http://127.0.0.1:%d/token", kafkatest.FreePort(t))
	expiredToken := writeFile(t, "", "expired-token", secret(m.MintToken(m.Audience, m.Issuer, -time.Minute)))
	otherAudToken := writeFile(t, "", "aud-token", secret(m.MintToken("another-service", m.Issuer, 10*time.Minute)))

	userPass := func(mech, pw string) map[string]any {
		return map[string]any{"mechanism": mech, "username": m.User, "password": pw}
	}
	oauth := func(o map[string]any) map[string]any {
		return map[string]any{"mechanism": "OAUTHBEARER", "oauthbearer": o}
	}
	for _, tc := range []struct {
		name     string
		addr     string
		fields   map[string]any
		security string // Cluster.Describe's
		details  string
		cause    string // in the log line's error
	}{
		{"PLAIN wrong password", m.SASLSSL, map[string]any{"tls": tlsOn(m, nil), "sasl": userPass("PLAIN", wrongPassword)},
			"SASL_SSL PLAIN", authFailed, "SASL Authentication Failed"},
		{"SCRAM-SHA-256 wrong password", m.SASLSSL, map[string]any{"tls": tlsOn(m, nil), "sasl": userPass("SCRAM-SHA-256", wrongPassword)},
			"SASL_SSL SCRAM-SHA-256", authFailed, "SASL Authentication Failed"},
		{"SCRAM-SHA-512 wrong password", m.SASLSSL, map[string]any{"tls": tlsOn(m, nil), "sasl": userPass("SCRAM-SHA-512", wrongPassword)},
			"SASL_SSL SCRAM-SHA-512", authFailed, "SASL Authentication Failed"},
		{"mechanism not enabled on the listener", m.OAuth, map[string]any{"tls": tlsOn(m, nil), "sasl": userPass("SCRAM-SHA-512", password)},
			"SASL_SSL SCRAM-SHA-512", authFailed, "Unsupported SASL Mechanism"},
		{"untrusted CA", m.SSL, map[string]any{"tls": map[string]any{"enabled": true, "ca_file": m.OtherCAFile}},
			"SSL", tlsFailed, "x509: certificate signed by unknown authority"},
		{"expired broker certificate", m.Expired, map[string]any{"tls": tlsOn(m, nil)},
			"SSL", tlsFailed, "certificate has expired"},
		{"wrong server name", m.SSL, map[string]any{"tls": tlsOn(m, map[string]any{"server_name": "kafka.example.com"})},
			"SSL", tlsFailed, "not kafka.example.com"},
		{"mTLS without a client certificate", m.MTLS, map[string]any{"tls": tlsOn(m, nil)},
			"SSL", tlsFailed, "bad certificate"},
		{"TLS 1.3 minimum against a TLS 1.2 broker", m.TLS12, map[string]any{"tls": tlsOn(m, map[string]any{"min_version": "1.3"})},
			"SSL", tlsFailed, "protocol version"},
		{"token endpoint down", m.OAuth, map[string]any{"tls": tlsOn(m, nil), "sasl": oauth(map[string]any{
			"token_endpoint_url": closedURL, "client_id": clientID, "client_secret": rightClientSecret})},
			"SASL_SSL OAUTHBEARER", authFailed, "token endpoint"},
		{"token endpoint refuses the client", m.OAuth, map[string]any{"tls": tlsOn(m, nil), "sasl": oauth(map[string]any{
			"token_endpoint_url": tokenURL, "client_id": clientID, "client_secret": wrongClientSecret})},
			"SASL_SSL OAUTHBEARER", authFailed, "invalid_client"},
		{"expired token", m.OAuth, map[string]any{"tls": tlsOn(m, nil), "sasl": oauth(map[string]any{"token_file": expiredToken})},
			"SASL_SSL OAUTHBEARER", authFailed, "invalid_token"},
		{"token for another audience", m.OAuth, map[string]any{"tls": tlsOn(m, nil), "sasl": oauth(map[string]any{"token_file": otherAudToken})},
			"SASL_SSL OAUTHBEARER", authFailed, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := capture(t)
			topic := newTopic(t, bootstrap)
			cfg, rec := c.parse(t, secureFields(tc.addr, topic, tc.fields))

			reply, took := c.publish(t, cfg, "k-1", `{"attempt":1}`)
			expectReply(t, reply, 502, genericFailure, tc.details)
			if took > fastFailure {
				t.Errorf("the failure took %s; produce_timeout is %s, want under %s", took, secureProduceTimeout, fastFailure)
			}
			lineStart := tlsLogLine
			if tc.details == authFailed {
				lineStart = authLogLine
			}
			lineStart += fmt.Sprintf("[%s] (%s) error=", tc.addr, tc.security)
			own := ownLines(rec)
			t.Logf("answered in %s; log: %q", took.Round(time.Millisecond), own)
			if len(own) != 1 || !strings.HasPrefix(own[0], lineStart) || !strings.Contains(own[0], tc.cause) {
				t.Errorf("log = %q\nwant one line %q… naming %q", own, lineStart, tc.cause)
			}
			if named := linesWith(rec, tc.cause); len(named) != 1 {
				t.Errorf("%d log lines name %q, want 1: %q", len(named), tc.cause, named)
			}

			// Within the rate limit's 10 s: the same answer, no new line.
			reply, took = c.publish(t, cfg, "k-2", `{"attempt":2}`)
			expectReply(t, reply, 502, genericFailure, tc.details)
			if took > fastFailure {
				t.Errorf("the second failure took %s, want under %s", took, fastFailure)
			}
			if again := ownLines(rec); len(again) != len(own) {
				t.Errorf("a second failure within 10 s logged again: %q", again[len(own):])
			}
			expectEndOffset(t, bootstrap, topic, 0)
		})
	}
}

// TestSecuredFailureWithReturnErrorMessage: with
// error_handling.return_error_message, the reply's error is the cause.
func TestSecuredFailureWithReturnErrorMessage(t *testing.T) {
	t.Parallel()
	m := securetest.Load(t)
	bootstrap := kafkatest.Bootstrap(t)
	c := capture(t)
	topic := newTopic(t, bootstrap)
	cfg, _ := c.parse(t, secureFields(m.SASLSSL, topic, map[string]any{
		"tls":            tlsOn(m, nil),
		"sasl":           map[string]any{"mechanism": "SCRAM-SHA-512", "username": m.User, "password": secret("wrong-password-Rr3")},
		"error_handling": map[string]any{"return_error_message": true},
	}))
	reply, took := c.publish(t, cfg, "k", `{"n":1}`)
	if took > fastFailure {
		t.Errorf("the failure took %s, want under %s", took, fastFailure)
	}
	var body struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal([]byte(reply.Body), &body); err != nil {
		t.Fatalf("reply body %s: %v", reply.Body, err)
	}
	// kafka-go's text of the broker's SASL_AUTHENTICATION_FAILED (58).
	const cause = "[58] SASL Authentication Failed: SASL Authentication failed: " +
		"Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
	if reply.Status != 502 || reply.Details != authFailed || body.Message != "Bad Gateway" || !strings.Contains(body.Error, cause) {
		t.Errorf("reply = %d %s (details %q)\nwant 502 with the error naming %q (details %q)", reply.Status, reply.Body, reply.Details, cause, authFailed)
	}
	expectEndOffset(t, bootstrap, topic, 0)
}

// TestSecuredConfigsRefusedAtLoad: configs that cannot work fail Parse with
// an error naming the field, and no secret.
func TestSecuredConfigsRefusedAtLoad(t *testing.T) {
	t.Parallel()
	m := securetest.Load(t)
	filtertest.InstallLogger()
	c := capture(t)
	password := secret(m.Password)
	_, otherKey := m.IssueClientCert(t, "other-client", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	const addr = "127.0.0.1:1" // never dialled
	for _, tc := range []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"client certificate without its key",
			map[string]any{"tls": tlsOn(m, map[string]any{"cert_file": m.ClientCertFile})},
			"tls.key_file: must be set with tls.cert_file (the client certificate's key)"},
		{"client key without its certificate",
			map[string]any{"tls": tlsOn(m, map[string]any{"key_file": m.ClientKeyFile})},
			"tls.cert_file: must be set with tls.key_file (the certificate of that key)"},
		{"client key of another certificate",
			map[string]any{"tls": tlsOn(m, map[string]any{"cert_file": m.ClientCertFile, "key_file": otherKey})},
			"tls.cert_file, tls.key_file: tls: private key does not match public key"},
		{"SCRAM without a user",
			map[string]any{"tls": tlsOn(m, nil), "sasl": map[string]any{"mechanism": "SCRAM-SHA-512", "password": password}},
			"sasl.username: must be set for SCRAM-SHA-512"},
		{"PLAIN without a password",
			map[string]any{"tls": tlsOn(m, nil), "sasl": map[string]any{"mechanism": "PLAIN", "username": m.User}},
			"sasl.password: must be set for PLAIN (or sasl.password_file)"},
		{"unreadable CA file",
			map[string]any{"tls": map[string]any{"enabled": true, "ca_file": "/nonexistent/ca.crt"}},
			"tls.ca_file: open /nonexistent/ca.crt: no such file or directory"},
		{"CA file without a certificate",
			map[string]any{"tls": map[string]any{"enabled": true, "ca_file": m.ClientKeyFile}},
			"tls.ca_file: " + m.ClientKeyFile + " holds no PEM certificate"},
		{"password file missing",
			map[string]any{"tls": tlsOn(m, nil), "sasl": map[string]any{"mechanism": "SCRAM-SHA-256", "username": m.User, "password_file": "/nonexistent/password"}},
			"sasl.password_file: reading secret file: open /nonexistent/password: no such file or directory"},
		{"password and password file",
			map[string]any{"tls": tlsOn(m, nil), "sasl": map[string]any{"mechanism": "SCRAM-SHA-256", "username": m.User,
				"password": password, "password_file": m.ClientKeyFile}},
			"sasl.password: set sasl.password or sasl.password_file, not both"},
		{"token file missing",
			map[string]any{"tls": tlsOn(m, nil), "sasl": map[string]any{"mechanism": "OAUTHBEARER",
				"oauthbearer": map[string]any{"token_file": "/nonexistent/token"}}},
			"sasl.oauthbearer.token_file: stat /nonexistent/token: no such file or directory"},
		{"client credentials without a secret",
			map[string]any{"tls": tlsOn(m, nil), "sasl": map[string]any{"mechanism": "OAUTHBEARER",
				"oauthbearer": map[string]any{"token_endpoint_url": "http://127.0.0.1:1/token", "client_id": "producer"}}},
			"sasl.oauthbearer.client_secret: must be set with token_endpoint_url (or client_secret_file)"},
		{"lower-case mechanism",
			map[string]any{"tls": tlsOn(m, nil), "sasl": map[string]any{"mechanism": "scram-sha-512", "username": m.User, "password": password}},
			`sasl.mechanism: must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER, got "scram-sha-512" (names are upper-case)`},
		{"a level for lz4",
			map[string]any{"compression": "lz4", "compression_level": 3},
			`compression_level: "lz4" has no level`},
		{"a second gzip level in the process",
			map[string]any{"compression": "gzip", "compression_level": gzipLevel - 1},
			fmt.Sprintf("compression_level: gzip already runs at level %d in this process, and kafka-go keeps one level per codec and process; use %d, or restart with the new level everywhere", gzipLevel, gzipLevel)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.name, "second gzip level") {
				// The level this binary uses (TestSecuredCompression's),
				// taken first whatever order the tests run in.
				parseOK(t, c, secureFields(addr, "it-never-created", map[string]any{"compression": "gzip", "compression_level": gzipLevel}))
			}
			for _, cb := range []api.ConfigCallbackHandler{nil, &filtertest.ConfigCallbacks{}} { // route level, filter level
				cfg, err := (&filter.Parser{}).Parse(kfaketest.TypedStruct(t, configTypeURL, secureFields(addr, "it-never-created", tc.fields)), cb)
				if err != nil {
					c.add("Parse error", err.Error())
				}
				if err == nil || err.Error() != tc.want {
					t.Errorf("Parse error = %v\nwant %s", err, tc.want)
				}
				if cfg != nil {
					t.Errorf("Parse returned a config (%T) with its error", cfg)
					if d, ok := cfg.(api.Config); ok {
						d.Destroy()
					}
				}
			}
		})
	}
}

// parseOK parses fields as a filter-level config and destroys it.
func parseOK(t *testing.T, c *captured, fields map[string]any) {
	t.Helper()
	cfg, err := (&filter.Parser{}).Parse(kfaketest.TypedStruct(t, configTypeURL, fields), &filtertest.ConfigCallbacks{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	c.add("parsed config", fmt.Sprintf("%+v", cfg))
	cfg.(api.Config).Destroy()
}

// TestSecuredSettingsPrintNoSecret: the resolved settings of configs with
// inline and file secrets print without them, at every level of the
// structure: with %v, %+v and %#v (slog's and panics' ways), and with
// verbs that do not fit a struct (%s, %d), which fmt prints through its
// error path, bypassing String and GoString.
func TestSecuredSettingsPrintNoSecret(t *testing.T) {
	t.Parallel()
	m := securetest.Load(t)
	password := secret(m.Password)
	passwordFile := writeFile(t, "", "password", password)
	clientSecret := secret("inline-client-secret-Lw5")
	secretFile := writeFile(t, "", "client-secret", secret("file-client-secret-Gd6"))
	for _, tc := range []struct {
		name string
		sasl map[string]any
	}{
		{"inline password", map[string]any{"mechanism": "SCRAM-SHA-512", "username": m.User, "password": password}},
		{"password file", map[string]any{"mechanism": "PLAIN", "username": m.User, "password_file": passwordFile}},
		{"inline client secret", map[string]any{"mechanism": "OAUTHBEARER", "oauthbearer": map[string]any{
			"token_endpoint_url": "https://idp.example.com/token", "client_id": "producer", "client_secret": clientSecret}}},
		{"client secret file", map[string]any{"mechanism": "OAUTHBEARER", "oauthbearer": map[string]any{
			"token_endpoint_url": "https://idp.example.com/token", "client_id": "producer", "client_secret_file": secretFile}}},
	} {
		fields := secureFields(m.SASLSSL, "it-never-created", map[string]any{"tls": tlsOn(m, nil), "sasl": tc.sasl})
		js, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.FromJSON(js)
		if err != nil {
			t.Fatalf("%s: FromJSON: %v", tc.name, err)
		}
		s, err := config.Resolve(cfg)
		if err != nil {
			t.Fatalf("%s: Resolve: %v", tc.name, err)
		}
		values := []any{*s, s, s.Cluster, *s.Cluster.TLS, *s.Cluster.SASL, s.Cluster.SASL.Password}
		if s.Cluster.SASL.OAuth != nil {
			values = append(values, *s.Cluster.SASL.OAuth, s.Cluster.SASL.OAuth.ClientSecret)
		}
		for _, verbs := range [][]string{{"%v", "%+v", "%#v"}, {"%s", "%d"}} {
			t.Run(tc.name+" "+strings.Join(verbs, " "), func(t *testing.T) {
				c := capture(t)
				for _, v := range values {
					for _, verb := range verbs {
						c.add(fmt.Sprintf("%s %s of %T", tc.name, verb, v), fmt.Sprintf(verb, v))
					}
				}
				c.add(tc.name+" Describe", s.Cluster.Describe())
			})
		}
	}
}
