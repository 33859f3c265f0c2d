//go:build integration

package integration_test

// Publishing to secured clusters (issue 7) through the real golang filter
// and the secured listeners of the e2e/kafka.sh broker: every TLS and SASL
// mechanism, every compression codec, and secrets rotated without a
// restart. Each record is read back whole with franz-go, an independent
// client, over the same secured listener.

import (
	"fmt"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/kafkatest"
	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/securetest"
)

// TestSecuredMechanisms publishes one record over each mechanism and reads
// it back over the same listener.
func TestSecuredMechanisms(t *testing.T) {
	t.Parallel()
	m := securetest.Load(t)
	bootstrap := kafkatest.Bootstrap(t)
	password := secret(m.Password)

	tokenFile := writeFile(t, "", "token", secret(m.MintToken(m.Audience, m.Issuer, 10*time.Minute))+"\n")
	const clientID = "producer"
	clientSecret := secret("producer-secret-Kq81")
	tokenURL, tokenCalls := m.StartTokenServer(t, clientID, clientSecret, 10*time.Minute)
	secretFile := writeFile(t, "", "client-secret", clientSecret+"\n")
	passwordFile := writeFile(t, "", "password", password+"\n")

	for _, tc := range []struct {
		name   string
		addr   string
		fields map[string]any
		read   reader
	}{
		{"SSL", m.SSL, map[string]any{"tls": tlsOn(m, nil)},
			reader{m.SSL, m.TLS(t), nil}},
		{"mTLS", m.MTLS, map[string]any{"tls": tlsOn(m, map[string]any{"cert_file": m.ClientCertFile, "key_file": m.ClientKeyFile})},
			reader{m.MTLS, m.ClientTLS(t), nil}},
		{"SASL_SSL PLAIN", m.SASLSSL, map[string]any{"tls": tlsOn(m, nil),
			"sasl": map[string]any{"mechanism": "PLAIN", "username": m.User, "password": password}},
			reader{m.SASLSSL, m.TLS(t), securetest.Plain(m.User, m.Password)}},
		{"SASL_SSL SCRAM-SHA-256 password_file", m.SASLSSL, map[string]any{"tls": tlsOn(m, nil),
			"sasl": map[string]any{"mechanism": "SCRAM-SHA-256", "username": m.User, "password_file": passwordFile}},
			reader{m.SASLSSL, m.TLS(t), securetest.ScramSHA256(m.User, m.Password)}},
		{"SASL_SSL SCRAM-SHA-512", m.SASLSSL, map[string]any{"tls": tlsOn(m, nil),
			"sasl": map[string]any{"mechanism": "SCRAM-SHA-512", "username": m.User, "password": password}},
			reader{m.SASLSSL, m.TLS(t), securetest.ScramSHA512(m.User, m.Password)}},
		{"OAUTHBEARER token_file", m.OAuth, map[string]any{"tls": tlsOn(m, nil),
			"sasl": map[string]any{"mechanism": "OAUTHBEARER", "oauthbearer": map[string]any{"token_file": tokenFile}}},
			reader{m.OAuth, m.TLS(t), securetest.OAuthBearer(m.MintToken(m.Audience, m.Issuer, 10*time.Minute))}},
		{"OAUTHBEARER client credentials", m.OAuth, map[string]any{"tls": tlsOn(m, nil),
			"sasl": map[string]any{"mechanism": "OAUTHBEARER", "oauthbearer": map[string]any{
				"token_endpoint_url": tokenURL, "client_id": clientID, "client_secret_file": secretFile,
				"scopes": []any{"kafka"}}}},
			reader{m.OAuth, m.TLS(t), securetest.ClientCredentials(tokenURL, clientID, clientSecret)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := capture(t)
			topic := newTopic(t, bootstrap)
			cfg, rec := c.parse(t, secureFields(tc.addr, topic, tc.fields))
			key, body := "k-"+tc.name, fmt.Sprintf(`{"via":%s}`, jsonString(tc.name))
			reply, _ := c.publish(t, cfg, key, body)
			expectReply(t, reply, 200, sentBody(topic, 0), sentDetails)
			expectReadBack(t, tc.read, topic, 0, key, body)
			expectEndOffset(t, bootstrap, topic, 1)
			if l := rec.Lines(); len(l) != 0 {
				t.Errorf("log = %q, want nothing", l)
			}
		})
	}
	t.Cleanup(func() {
		// Run after the subtests: the filter and the read-back client each
		// fetched tokens.
		if n := tokenCalls(); n < 2 {
			t.Errorf("the token endpoint was called %d times, want at least 2 (filter and reader)", n)
		}
	})
}

// TestSecuredCompression publishes over SASL_SSL SCRAM-SHA-512 with each
// codec, gzip and zstd at a level, reads each record back whole, and checks
// the codec of the batch it came in.
func TestSecuredCompression(t *testing.T) {
	t.Parallel()
	m := securetest.Load(t)
	bootstrap := kafkatest.Bootstrap(t)
	password := secret(m.Password)
	for _, tc := range []struct {
		codec string
		level *int
		// franz-go's RecordAttrs.CompressionType: 0 none, 1 gzip, 2
		// snappy, 3 lz4, 4 zstd.
		attr uint8
	}{
		{"none", nil, 0},
		{"gzip", ptr(gzipLevel), 1},
		{"snappy", nil, 2},
		{"lz4", nil, 3},
		{"zstd", ptr(zstdLevel), 4},
	} {
		t.Run(tc.codec, func(t *testing.T) {
			t.Parallel()
			c := capture(t)
			topic := newTopic(t, bootstrap)
			extra := map[string]any{
				"tls":         tlsOn(m, nil),
				"sasl":        map[string]any{"mechanism": "SCRAM-SHA-512", "username": m.User, "password": password},
				"compression": tc.codec,
			}
			if tc.level != nil {
				extra["compression_level"] = *tc.level
			}
			cfg, rec := c.parse(t, secureFields(m.SASLSSL, topic, extra))
			// Compressible: a repeated phrase.
			phrase := fmt.Sprintf("compressed with %s, ", tc.codec)
			long := ""
			for len(long) < 4000 {
				long += phrase
			}
			body := fmt.Sprintf(`{"codec":%s,"text":%s}`, jsonString(tc.codec), jsonString(long))
			reply, _ := c.publish(t, cfg, "k-"+tc.codec, body)
			expectReply(t, reply, 200, sentBody(topic, 0), sentDetails)
			got := expectReadBack(t, reader{m.SASLSSL, m.TLS(t), securetest.ScramSHA512(m.User, m.Password)}, topic, 0, "k-"+tc.codec, body)
			if a := got.Attrs.CompressionType(); a != tc.attr {
				t.Errorf("the record's batch has compression type %d, want %d (%s)", a, tc.attr, tc.codec)
			}
			expectEndOffset(t, bootstrap, topic, 1)
			if l := rec.Lines(); len(l) != 0 {
				t.Errorf("log = %q, want nothing", l)
			}
		})
	}
}

// rotationBound is how long after a rotation the new secret must be in use
// at the latest.
const rotationBound = 3 * time.Second

func ptr[T any](v T) *T { return &v }

// TestSecretRotation replaces secret files between two requests of the same
// config (the same producer): the first request fails with the old content,
// the second succeeds with the new one, without a restart.
func TestSecretRotation(t *testing.T) {
	t.Parallel()
	m := securetest.Load(t)
	bootstrap := kafkatest.Bootstrap(t)
	password := secret(m.Password)

	// rotate publishes once before rotate() (want: failure with details)
	// and once after (want: 200), then reads the one record back.
	run := func(t *testing.T, c *captured, addr string, fields map[string]any, details string, rotate func(), read reader) {
		t.Helper()
		topic := newTopic(t, bootstrap)
		cfg, rec := c.parse(t, secureFields(addr, topic, fields))
		reply, took := c.publish(t, cfg, "k-before", `{"rotated":false}`)
		expectReply(t, reply, 502, genericFailure, details)
		if took > fastFailure {
			t.Errorf("the failure took %s, want under %s", took, fastFailure)
		}
		rotate()
		rotated := time.Now()
		// New connections read the new secret. The failed authentication
		// left no connection, so the very next request should dial (and
		// authenticate) again.
		reply, took = c.publish(t, cfg, "k-after", `{"rotated":true}`)
		if reply.Status != 200 {
			t.Errorf("the first request after the rotation got %d %s (details %q) in %s: the producer answered from "+
				"the failure it cached before the rotation instead of connecting again", reply.Status, reply.Body, reply.Details, took)
			// How long until the new secret is used (kafka-go refreshes its
			// metadata, and so reconnects, within MetadataTTL, 1 s).
			for reply.Status != 200 && time.Since(rotated) < rotationBound {
				time.Sleep(50 * time.Millisecond)
				if reply.Status != 502 || reply.Details != details {
					t.Errorf("while waiting: %d %s (details %q), want the same failure", reply.Status, reply.Body, reply.Details)
				}
				reply, _ = c.publish(t, cfg, "k-after", `{"rotated":true}`)
			}
			t.Logf("the new secret was used %s after the rotation", time.Since(rotated).Round(time.Millisecond))
		}
		if reply.Status != 200 {
			t.Fatalf("no 200 within %s of the rotation: %d %s (details %q)", rotationBound, reply.Status, reply.Body, reply.Details)
		}
		expectReply(t, reply, 200, sentBody(topic, 0), sentDetails)
		expectReadBack(t, read, topic, 0, "k-after", `{"rotated":true}`)
		expectEndOffset(t, bootstrap, topic, 1)
		if l := ownLines(rec); len(l) != 1 {
			t.Errorf("log = %q, want the one line of the first failure", l)
		}
	}

	t.Run("password_file", func(t *testing.T) {
		t.Parallel()
		c := capture(t)
		file := writeFile(t, "", "password", secret("wrong-password-Zt4")+"\n")
		run(t, c, m.SASLSSL, map[string]any{"tls": tlsOn(m, nil),
			"sasl": map[string]any{"mechanism": "SCRAM-SHA-512", "username": m.User, "password_file": file}},
			authFailed, func() { replaceFile(t, file, password+"\n") },
			reader{m.SASLSSL, m.TLS(t), securetest.ScramSHA512(m.User, m.Password)})
	})

	t.Run("token_file", func(t *testing.T) {
		t.Parallel()
		c := capture(t)
		// A token for another audience (not expired: only the change of
		// the file makes the producer read it again).
		file := writeFile(t, "", "token", secret(m.MintToken("another-service", m.Issuer, 10*time.Minute)))
		fresh := secret(m.MintToken(m.Audience, m.Issuer, 10*time.Minute))
		run(t, c, m.OAuth, map[string]any{"tls": tlsOn(m, nil),
			"sasl": map[string]any{"mechanism": "OAUTHBEARER", "oauthbearer": map[string]any{"token_file": file}}},
			authFailed, func() { replaceFile(t, file, fresh) },
			reader{m.OAuth, m.TLS(t), securetest.OAuthBearer(fresh)})
	})

	t.Run("client certificate", func(t *testing.T) {
		t.Parallel()
		c := capture(t)
		// An expired certificate first (it loads: only the broker checks
		// dates), then a valid one written over the same files.
		expiredCert, expiredKey := m.IssueClientCert(t, "expired-client", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
		validCert, validKey := m.IssueClientCert(t, "rotated-client", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
		dir := t.TempDir()
		certFile, keyFile := dir+"/tls.crt", dir+"/tls.key"
		copyFile(t, expiredCert, certFile)
		copyFile(t, expiredKey, keyFile)
		run(t, c, m.MTLS, map[string]any{"tls": tlsOn(m, map[string]any{"cert_file": certFile, "key_file": keyFile})},
			tlsFailed, func() {
				// Ahead of the file times of the first pair, whatever the
				// file system's time granularity.
				time.Sleep(10 * time.Millisecond)
				copyFile(t, validKey, keyFile)
				copyFile(t, validCert, certFile)
			},
			reader{m.MTLS, m.ClientTLS(t), nil})
	})
}
