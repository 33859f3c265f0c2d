package securetest

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/e2e/securetest/gen"
)

// load generates material in a temp dir and loads it with made-up addresses.
func load(t *testing.T) *Material {
	t.Helper()
	dir := t.TempDir()
	if _, err := gen.Ensure(dir); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KAFKA_SECURE_DIR", dir)
	for i, v := range addrVars {
		t.Setenv(v.name, fmt.Sprintf("127.0.0.1:%d", 20000+i))
	}
	return Load(t)
}

func TestLoad(t *testing.T) {
	m := load(t)
	if m.Plaintext != "127.0.0.1:20000" || m.SSL != "127.0.0.1:20001" || m.TLS12 != "127.0.0.1:20006" {
		t.Errorf("addresses: %+v", m)
	}
	if m.User != "alice" || m.Password != "alice-secret" || m.Audience != "kafka" || m.Issuer != "kafka-upstream-test-idp" {
		t.Errorf("credentials: %q %q %q %q", m.User, m.Password, m.Audience, m.Issuer)
	}
	for _, f := range []string{m.CAFile, m.OtherCAFile, m.ClientCertFile, m.ClientKeyFile, m.ClientPEMFile, m.JWKSFile, m.JWTKeyFile} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	_ = m.ClientTLS(t)
	cert, key := m.IssueClientCert(t, "c2", time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if _, err := gen.ReadCert(cert); err != nil {
		t.Error(err)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("issued key: %v %v", st.Mode(), err)
	}
}

// verify checks a token against jwks.json as the broker does (RS256, kid)
// and returns its claims.
func verify(t *testing.T, m *Material, token string) map[string]any {
	t.Helper()
	var set struct {
		Keys []struct{ Kty, Kid, Alg, N, E string }
	}
	b, err := os.ReadFile(m.JWKSFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks.json: %v %s", err, b)
	}
	k := set.Keys[0]
	if k.Kty != "RSA" || k.Kid != "k1" || k.Alg != "RS256" {
		t.Fatalf("jwk %+v", k)
	}
	b64 := base64.RawURLEncoding
	n, _ := b64.DecodeString(k.N)
	e, _ := b64.DecodeString(k.E)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", token)
	}
	var hdr map[string]any
	hb, _ := b64.DecodeString(parts[0])
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr["alg"] != "RS256" || hdr["kid"] != "k1" || hdr["typ"] != "JWT" {
		t.Fatalf("header %s: %v", hb, err)
	}
	sig, _ := b64.DecodeString(parts[2])
	d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	var claims map[string]any
	cb, _ := b64.DecodeString(parts[1])
	if err := json.Unmarshal(cb, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestMintToken(t *testing.T) {
	m := load(t)
	c := verify(t, m, m.MintToken("kafka", "kafka-upstream-test-idp", time.Minute))
	now := float64(time.Now().Unix())
	if c["aud"] != "kafka" || c["iss"] != "kafka-upstream-test-idp" || c["sub"] != Subject || c["scope"] != Scope {
		t.Errorf("claims %v", c)
	}
	if exp := c["exp"].(float64); exp < now+55 || exp > now+65 {
		t.Errorf("exp %v, now %v", exp, now)
	}
	c = verify(t, m, m.MintToken("other", "x", -time.Minute))
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp > now-55 || iat >= exp {
		t.Errorf("expired token: exp %v iat %v now %v", exp, iat, now)
	}
}

func TestTokenServer(t *testing.T) {
	m := load(t)
	u, calls := m.StartTokenServer(t, "producer", "s3cr&t=", 90*time.Second)
	ctx := context.Background()

	// client_secret_basic (FetchToken form-urlencodes id and secret).
	tok, err := FetchToken(ctx, u, "producer", "s3cr&t=")
	if err != nil {
		t.Fatal(err)
	}
	if c := verify(t, m, tok); c["aud"] != "kafka" || c["iss"] != "kafka-upstream-test-idp" {
		t.Errorf("claims %v", c)
	}
	if _, err := FetchToken(ctx, u, "producer", "wrong"); err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("wrong secret: %v", err)
	}

	post := func(form url.Values) (*http.Response, map[string]any) {
		resp, err := http.PostForm(u, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp, body
	}
	// client_secret_post.
	resp, body := post(url.Values{"grant_type": {"client_credentials"}, "client_id": {"producer"}, "client_secret": {"s3cr&t="}, "scope": {"kafka"}})
	if resp.StatusCode != 200 || body["token_type"] != "Bearer" || body["expires_in"] != float64(90) || body["scope"] != "kafka" || body["access_token"] == "" {
		t.Errorf("form auth: %d %v", resp.StatusCode, body)
	}
	if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", resp.Header)
	}
	resp, body = post(url.Values{"grant_type": {"password"}, "client_id": {"producer"}, "client_secret": {"s3cr&t="}})
	if resp.StatusCode != 400 || body["error"] != "unsupported_grant_type" {
		t.Errorf("wrong grant: %d %v", resp.StatusCode, body)
	}
	resp, body = post(url.Values{"grant_type": {"client_credentials"}})
	if resp.StatusCode != 401 || body["error"] != "invalid_client" {
		t.Errorf("no credentials: %d %v", resp.StatusCode, body)
	}
	r, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 405 {
		t.Errorf("GET: %d", r.StatusCode)
	}
	if n := calls(); n != 6 {
		t.Errorf("calls() = %d, want 6", n)
	}
}
