package producer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

// makeJWT is a token shaped as an identity provider's: a header, claims
// and a signature (random: nothing here verifies it).
func makeJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	sig := make([]byte, 256)
	rand.Read(sig)
	return enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "k1"}) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// tokenRequest is what the token endpoint received.
type tokenRequest struct {
	method, contentType, accept, authorization string
	form                                       url.Values
}

// tokenEndpoint is an OAuth 2.0 token endpoint answering with answer.
type tokenEndpoint struct {
	*httptest.Server
	mu       sync.Mutex
	requests []tokenRequest
	answer   func(n int) (status int, body string) // n counts requests from 1
}

func newTokenEndpoint(t *testing.T, answer func(n int) (int, string)) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{answer: answer}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		e.mu.Lock()
		e.requests = append(e.requests, tokenRequest{r.Method, r.Header.Get("content-type"), r.Header.Get("accept"), r.Header.Get("authorization"), form})
		n := len(e.requests)
		e.mu.Unlock()
		status, out := e.answer(n)
		w.Header().Set("content-type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, out)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *tokenEndpoint) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.requests)
}

func (e *tokenEndpoint) last() tokenRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[len(e.requests)-1]
}

// numbered answers "tok-N" valid for expiresIn seconds.
func numbered(expiresIn int) func(int) (int, string) {
	return func(n int) (int, string) {
		return 200, fmt.Sprintf(`{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d}`, n, expiresIn)
	}
}

func newSource(t *testing.T, cfg *config.OAuth, onExpiry func()) *tokenSource {
	t.Helper()
	s := newTokenSource(cfg, onExpiry)
	t.Cleanup(s.stop)
	return s
}

func mustToken(t *testing.T, s *tokenSource) string {
	t.Helper()
	tok, err := s.token(context.Background())
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	return tok
}

func TestTokenRequest(t *testing.T) {
	e := newTokenEndpoint(t, numbered(3600))
	const id, secret = "client:1 é", "p@ss word/+=&%"
	s := newSource(t, &config.OAuth{TokenURL: e.URL + "/oauth2/token", ClientID: id, ClientSecret: config.NewSecret(secret),
		Scopes: []string{"kafka", "write"}, Params: map[string]string{"audience": "kafka", "resource": "urn:kafka"}}, func() {})
	if tok := mustToken(t, s); tok != "tok-1" {
		t.Errorf("token %q, want tok-1", tok)
	}
	r := e.last()
	if r.method != "POST" || r.contentType != "application/x-www-form-urlencoded" || r.accept != "application/json" {
		t.Errorf("request %s, content-type %q, accept %q", r.method, r.contentType, r.accept)
	}
	// RFC 6749 2.3.1: the client id and secret are form-encoded, then
	// used as HTTP Basic's user and password.
	const user, password = "client%3A1+%C3%A9", "p%40ss+word%2F%2B%3D%26%25"
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password)); r.authorization != want {
		t.Errorf("authorization %q, want %q", r.authorization, want)
	}
	want := url.Values{"grant_type": {"client_credentials"}, "scope": {"kafka write"}, "audience": {"kafka"}, "resource": {"urn:kafka"}}
	if fmt.Sprint(r.form) != fmt.Sprint(want) {
		t.Errorf("form %v, want %v", r.form, want)
	}
	if strings.Contains(fmt.Sprint(r.form), "p@ss") {
		t.Error("the secret is in the form")
	}

	// Without scopes or parameters: the grant type alone.
	e2 := newTokenEndpoint(t, numbered(3600))
	s2 := newSource(t, &config.OAuth{TokenURL: e2.URL, ClientID: "c", ClientSecret: config.NewSecret("s")}, func() {})
	mustToken(t, s2)
	if f := e2.last().form; fmt.Sprint(f) != fmt.Sprint(url.Values{"grant_type": {"client_credentials"}}) {
		t.Errorf("form %v, want the grant type only", f)
	}
}

func TestRefreshMargin(t *testing.T) {
	for _, tt := range []struct{ lifetime, want time.Duration }{
		{time.Hour, 12 * time.Minute}, {5 * time.Minute, time.Minute}, {25 * time.Second, 5 * time.Second},
		{10 * time.Second, 5 * time.Second}, {time.Second, 5 * time.Second},
	} {
		if got := refreshMargin(tt.lifetime); got != tt.want {
			t.Errorf("refreshMargin(%s) = %s, want %s", tt.lifetime, got, tt.want)
		}
	}
}

// A token is used until its refresh margin, then fetched again.
func TestTokenCachedUntilTheRefreshMargin(t *testing.T) {
	e := newTokenEndpoint(t, numbered(3600))
	s := newSource(t, &config.OAuth{TokenURL: e.URL, ClientID: "c", ClientSecret: config.NewSecret("s")}, func() {})
	fetched := time.Now()
	if tok := mustToken(t, s); tok != "tok-1" {
		t.Fatalf("token %q", tok)
	}
	if tok := mustToken(t, s); tok != "tok-1" || e.count() != 1 {
		t.Errorf("second call: %q after %d requests, want tok-1 from the cache", tok, e.count())
	}
	s.mu.Lock()
	expiry, margin := s.expiry, s.margin
	s.mu.Unlock()
	if d := expiry.Sub(fetched.Add(time.Hour)); d < -time.Second || d > time.Second {
		t.Errorf("expiry %s, want an hour after the fetch", expiry)
	}
	if margin < 12*time.Minute-time.Second || margin > 12*time.Minute {
		t.Errorf("margin %s, want about 12m (a fifth of the lifetime)", margin)
	}

	setExpiry := func(at time.Time) {
		s.mu.Lock()
		s.expiry = at
		s.mu.Unlock()
	}
	setExpiry(time.Now().Add(margin + time.Minute))
	if tok := mustToken(t, s); tok != "tok-1" || e.count() != 1 {
		t.Errorf("a minute before the margin: %q after %d requests, want tok-1 from the cache", tok, e.count())
	}
	setExpiry(time.Now().Add(margin - time.Second))
	if tok := mustToken(t, s); tok != "tok-2" || e.count() != 2 {
		t.Errorf("within the margin: %q after %d requests, want tok-2 fetched", tok, e.count())
	}
	if tok := mustToken(t, s); tok != "tok-2" || e.count() != 2 {
		t.Errorf("after the refresh: %q after %d requests, want tok-2 from the cache", tok, e.count())
	}
}

func TestTokenLifetime(t *testing.T) {
	exp := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	jwt := makeJWT(t, map[string]any{"sub": "producer", "aud": "kafka", "iss": "https://idp", "iat": time.Now().Unix(), "exp": exp.Unix()})
	tests := []struct {
		name, body string
		want       time.Time
	}{
		{"expires_in", `{"access_token":"opaque","expires_in":600}`, time.Now().Add(600 * time.Second)},
		{"expires_in as a string", `{"access_token":"opaque","expires_in":"600"}`, time.Now().Add(600 * time.Second)},
		{"expires_in wins over the JWT", `{"access_token":"` + jwt + `","expires_in":600}`, time.Now().Add(600 * time.Second)},
		{"no expires_in: the JWT's exp", `{"access_token":"` + jwt + `"}`, exp},
		{"expires_in 0: the JWT's exp", `{"access_token":"` + jwt + `","expires_in":0}`, exp},
		{"no expires_in, no JWT: an hour", `{"access_token":"opaque"}`, time.Now().Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEndpoint(t, func(int) (int, string) { return 200, tt.body })
			s := newSource(t, &config.OAuth{TokenURL: e.URL, ClientID: "c", ClientSecret: config.NewSecret("s")}, func() {})
			mustToken(t, s)
			s.mu.Lock()
			got := s.expiry
			s.mu.Unlock()
			if d := got.Sub(tt.want); d < -2*time.Second || d > 2*time.Second {
				t.Errorf("expiry %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	const secret = "S3CRET-client-secret"
	tests := []struct {
		name   string
		status int
		body   string
		want   string // after "OAUTHBEARER token endpoint: <url> "
	}{
		{"invalid_client", 401, `{"error":"invalid_client"}`, "answered 401 invalid_client"},
		{"invalid_scope with a description", 400, `{"error":"invalid_scope","error_description":"scope kafka is unknown"}`,
			"answered 400 invalid_scope scope kafka is unknown"},
		{"server error without JSON", 500, `<html>oops</html>`, "answered 500"},
		{"200 without a token", 200, `{"token_type":"Bearer"}`, "answered no access_token"},
		{"200 that is no JSON", 200, `access_token=x`, "answered no access_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEndpoint(t, func(int) (int, string) { return tt.status, tt.body })
			s := newSource(t, &config.OAuth{TokenURL: e.URL + "/token", ClientID: "producer", ClientSecret: config.NewSecret(secret)}, func() {})
			_, err := s.token(context.Background())
			var authErr *AuthError
			if !errors.As(err, &authErr) {
				t.Fatalf("error %v (%T), want *AuthError", err, err)
			}
			if want := "OAUTHBEARER token endpoint: " + e.URL + "/token " + tt.want; err.Error() != want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret: %v", err)
			}
			if securityReason(err) != AuthFailed || retriable(err) {
				t.Errorf("reason %d, retriable %v; want AuthFailed, not retriable", securityReason(err), retriable(err))
			}
			// Not cached: the next connection asks again.
			s.token(context.Background())
			if e.count() != 2 {
				t.Errorf("%d requests after two failures, want 2", e.count())
			}
		})
	}
}

func TestTokenEndpointDown(t *testing.T) {
	addr := kfaketest.RefusingAddr(t)
	s := newSource(t, &config.OAuth{TokenURL: "http://" + addr + "/token", ClientID: "producer", ClientSecret: config.NewSecret("S3CRET")}, func() {})
	_, err := s.token(context.Background())
	var authErr *AuthError
	var opErr *net.OpError
	if !errors.As(err, &authErr) || !errors.As(err, &opErr) {
		t.Fatalf("error %v (%T), want an *AuthError around the *net.OpError", err, err)
	}
	if want := `OAUTHBEARER token endpoint: Post "http://` + addr + `/token": dial tcp ` + addr + `: connect: connection refused`; err.Error() != want {
		t.Errorf("error\n got %q\nwant %q", err, want)
	}
	// Not taken for an unreachable broker.
	if securityReason(err) != AuthFailed || classify(context.Background(), err) != AuthFailed || retriable(err) {
		t.Errorf("reason %d, retriable %v; want AuthFailed, not retriable", securityReason(err), retriable(err))
	}
}

// The request is bounded by the connection's context (kafka-go's dial
// timeout): an endpoint that hangs does not hang the producer.
func TestTokenEndpointHanging(t *testing.T) {
	release := make(chan struct{})
	e := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(e.Close)
	t.Cleanup(func() { close(release) })
	s := newSource(t, &config.OAuth{TokenURL: e.URL, ClientID: "c", ClientSecret: config.NewSecret("s")}, func() {})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := s.token(ctx)
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("token took %s with a 200ms context", d)
	}
	var authErr *AuthError
	if !errors.As(err, &authErr) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v (%T), want an *AuthError around the deadline", err, err)
	}
}

// The client secret file is read for each token request.
func TestClientSecretFileReadForEachRequest(t *testing.T) {
	e := newTokenEndpoint(t, numbered(3600))
	path := filepath.Join(t.TempDir(), "client-secret")
	writeAt(t, path, []byte("first-secret\n"), time.Now())
	s := newSource(t, &config.OAuth{TokenURL: e.URL, ClientID: "c", ClientSecret: config.SecretFile(path)}, func() {})
	basic := func(secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte("c:"+secret))
	}
	mustToken(t, s)
	if got := e.last().authorization; got != basic("first-secret") {
		t.Errorf("authorization %q, want the first secret", got)
	}
	writeAt(t, path, []byte("second-secret\n"), time.Now())
	s.mu.Lock()
	s.expiry = time.Now() // due for a refresh
	s.mu.Unlock()
	mustToken(t, s)
	if got := e.last().authorization; got != basic("second-secret") {
		t.Errorf("authorization %q, want the rotated secret", got)
	}
	os.Remove(path)
	s.mu.Lock()
	s.expiry = time.Now()
	s.mu.Unlock()
	_, err := s.token(context.Background())
	if want := "OAUTHBEARER token endpoint: reading secret file: open " + path + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	if e.count() != 2 {
		t.Errorf("%d requests, want none without a secret", e.count())
	}
}

// waitCall waits up to limit for a receive on ch and returns how long it
// took, failing the test if nothing came.
func waitCall(t *testing.T, ch <-chan time.Time, limit time.Duration) time.Time {
	t.Helper()
	select {
	case at := <-ch:
		return at
	case <-time.After(limit):
		t.Fatalf("onExpiry not called within %s", limit)
		return time.Time{}
	}
}

func TestOnExpiryBeforeTheTokenExpires(t *testing.T) {
	t.Run("a fetched token", func(t *testing.T) {
		// 6 s: the margin is 5 s, so connections retire a second in.
		e := newTokenEndpoint(t, numbered(6))
		calls := make(chan time.Time, 4)
		s := newSource(t, &config.OAuth{TokenURL: e.URL, ClientID: "c", ClientSecret: config.NewSecret("s")}, func() { calls <- time.Now() })
		fetched := time.Now()
		mustToken(t, s)
		at := waitCall(t, calls, 5*time.Second)
		if d := at.Sub(fetched); d < 800*time.Millisecond || d >= 6*time.Second {
			t.Errorf("onExpiry %s after the fetch, want about 1s (6s lifetime, 5s margin)", d)
		}
		// Connections opened now get a fresh token.
		if tok := mustToken(t, s); tok != "tok-2" {
			t.Errorf("token after onExpiry %q, want tok-2", tok)
		}
	})
	t.Run("set directly", func(t *testing.T) {
		calls := make(chan time.Time, 4)
		s := newSource(t, &config.OAuth{TokenURL: "http://unused"}, func() { calls <- time.Now() })
		expiry := time.Now().Add(5*time.Second + 200*time.Millisecond)
		s.mu.Lock()
		s.set("t", expiry)
		s.mu.Unlock()
		at := waitCall(t, calls, 4*time.Second)
		if !at.Before(expiry.Add(-4 * time.Second)) {
			t.Errorf("onExpiry at %s before expiry, want at least the 5s margin", expiry.Sub(at))
		}
	})
	t.Run("a replaced token's timer is stopped", func(t *testing.T) {
		calls := make(chan time.Time, 4)
		s := newSource(t, &config.OAuth{TokenURL: "http://unused"}, func() { calls <- time.Now() })
		s.mu.Lock()
		s.set("first", time.Now().Add(5*time.Second+100*time.Millisecond))
		s.set("second", time.Now().Add(time.Hour))
		s.mu.Unlock()
		select {
		case <-calls:
			t.Error("onExpiry called for a replaced token")
		case <-time.After(500 * time.Millisecond):
		}
	})
	t.Run("stop disarms it", func(t *testing.T) {
		calls := make(chan time.Time, 4)
		s := newSource(t, &config.OAuth{TokenURL: "http://unused"}, func() { calls <- time.Now() })
		s.mu.Lock()
		s.set("t", time.Now().Add(5*time.Second+100*time.Millisecond))
		s.mu.Unlock()
		s.stop()
		select {
		case <-calls:
			t.Error("onExpiry called after stop")
		case <-time.After(500 * time.Millisecond):
		}
	})
}

func TestTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	at := time.Now().Add(-time.Hour)
	writeAt(t, path, []byte("tok-1\n"), at)
	s := newSource(t, &config.OAuth{TokenFile: path}, func() {})
	if tok := mustToken(t, s); tok != "tok-1" {
		t.Errorf("token %q, want tok-1 (trimmed)", tok)
	}
	// Same modification time: not read again.
	writeAt(t, path, []byte("tok-2"), at)
	if tok := mustToken(t, s); tok != "tok-1" {
		t.Errorf("unchanged file: token %q, want tok-1", tok)
	}
	// Changed (the kubelet rewrote it).
	writeAt(t, path, []byte("tok-2"), at.Add(time.Minute))
	if tok := mustToken(t, s); tok != "tok-2" {
		t.Errorf("changed file: token %q, want tok-2", tok)
	}

	// A JWT past its exp is read again even if the file looks unchanged.
	old := makeJWT(t, map[string]any{"sub": "a", "exp": time.Now().Add(-time.Minute).Unix()})
	writeAt(t, path, []byte(old), at.Add(2*time.Minute))
	if tok := mustToken(t, s); tok != old {
		t.Errorf("token %q, want the expired JWT", tok)
	}
	fresh := makeJWT(t, map[string]any{"sub": "a", "exp": time.Now().Add(time.Hour).Unix()})
	writeAt(t, path, []byte(fresh), at.Add(2*time.Minute))
	if tok := mustToken(t, s); tok != fresh {
		t.Errorf("token %q, want the file read again after the JWT expired", tok)
	}
	s.mu.Lock()
	expiry := s.expiry
	s.mu.Unlock()
	if d := time.Until(expiry); d < 59*time.Minute || d > time.Hour+time.Second {
		t.Errorf("expiry in %s, want the JWT's exp (1h)", d)
	}

	// Empty or gone: an AuthError naming the file.
	writeAt(t, path, []byte("\n"), at.Add(3*time.Minute))
	_, err := s.token(context.Background())
	var authErr *AuthError
	if !errors.As(err, &authErr) || err.Error() != "reading the OAUTHBEARER token file: "+path+" is empty" {
		t.Errorf("empty file: %v (%T)", err, err)
	}
	os.Remove(path)
	_, err = s.token(context.Background())
	if !errors.As(err, &authErr) || err.Error() != "reading the OAUTHBEARER token file: open "+path+": no such file or directory" {
		t.Errorf("missing file: %v (%T)", err, err)
	}
	if securityReason(err) != AuthFailed {
		t.Errorf("missing file: reason %d", securityReason(err))
	}
}

func TestJWTExpiry(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	real := makeJWT(t, map[string]any{"sub": "producer", "aud": "kafka", "iss": "https://idp.example.com", "iat": 1767222000, "exp": 1767225600, "scope": "kafka"})
	if got := jwtExpiry(real); !got.Equal(time.Unix(1767225600, 0)) {
		t.Errorf("jwtExpiry = %s, want %s", got, time.Unix(1767225600, 0))
	}
	for _, garbage := range []string{
		"", "opaque-token", "a.b", "a.b.c.d", "not.a.jwt",
		"x." + b64([]byte("not json")) + ".y",
		"x." + b64([]byte(`{"sub":"a"}`)) + ".y",
		"x." + b64([]byte(`{"exp":"soon"}`)) + ".y",
		"x." + b64([]byte(`{"exp":null}`)) + ".y",
		"x." + base64.StdEncoding.EncodeToString([]byte(`{"exp":1767225600}`))[:10] + "!!.y",
	} {
		if got := jwtExpiry(garbage); !got.IsZero() {
			t.Errorf("jwtExpiry(%q) = %s, want zero", garbage, got)
		}
	}
}

// RFC 7519 2: a NumericDate "can represent non-integer values".
func TestJWTExpiryFractional(t *testing.T) {
	token := "x." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1767225600.5}`)) + ".y"
	got := jwtExpiry(token)
	if d := got.Sub(time.Unix(1767225600, 0)); got.IsZero() || d < 0 || d > time.Second {
		t.Errorf("jwtExpiry(exp 1767225600.5) = %s, want 1767225600 (to the second)", got)
	}
}

// --- OAUTHBEARER on the wire (kfake answering the SASL requests) ---

// oauthBroker makes c take OAUTHBEARER as a Kafka broker does: the
// handshake, then the client's first message, answered with an empty
// challenge when valid accepts the token, else with Kafka's error
// challenge and, after the client's %x01, error 58. It returns the tokens
// seen.
func oauthBroker(c *kfake.Cluster, valid func(string) bool) func() []string {
	var mu sync.Mutex
	var seen []string
	c.ControlKey(int16(kmsg.SASLHandshake), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLHandshakeRequest)
		resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
		if r.Mechanism != "OAUTHBEARER" {
			resp.ErrorCode = int16(kafka.UnsupportedSASLMechanism)
			resp.SupportedMechanisms = []string{"OAUTHBEARER"}
		}
		return resp, nil, true
	})
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLAuthenticateRequest)
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		if bytes.Equal(r.SASLAuthBytes, []byte{1}) {
			resp.ErrorCode = int16(kafka.SASLAuthenticationFailed)
			msg := `{"status":"invalid_token"}`
			resp.ErrorMessage = &msg
			return resp, nil, true
		}
		msg := string(r.SASLAuthBytes)
		token := strings.TrimSuffix(strings.TrimPrefix(msg, "n,,\x01auth=Bearer "), "\x01\x01")
		if !strings.HasPrefix(msg, "n,,\x01auth=Bearer ") || !strings.HasSuffix(msg, "\x01\x01") {
			token = "malformed: " + msg
		}
		mu.Lock()
		seen = append(seen, token)
		mu.Unlock()
		if !valid(token) {
			resp.SASLAuthBytes = []byte(`{"status":"invalid_token","scope":"","openid-configuration":""}`)
		}
		return resp, nil, true
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func oauthProducer(t *testing.T, brokers []string, o *config.OAuth) *Producer {
	t.Helper()
	p := New(config.Cluster{Brokers: brokers, ClientID: "test", SASL: &config.SASL{Mechanism: config.SASLOAuthBearer, OAuth: o}},
		config.Producer{RequiredAcks: -1, ProduceTimeout: 10 * time.Second, BatchTimeout: time.Millisecond, BatchSize: 100, BatchBytes: 1 << 20},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPublishWithOAuthBearer(t *testing.T) {
	t.Run("client credentials", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		seen := oauthBroker(c, func(tok string) bool { return strings.HasPrefix(tok, "tok-") })
		e := newTokenEndpoint(t, numbered(3600))
		p := oauthProducer(t, c.ListenAddrs(), &config.OAuth{TokenURL: e.URL, ClientID: "c", ClientSecret: config.NewSecret("s")})
		if err := publishFast(t, p); err != nil {
			t.Fatal(err)
		}
		if got := seen(); len(got) == 0 || got[0] != "tok-1" {
			t.Errorf("the broker saw tokens %q, want tok-1", got)
		}
		if e.count() != 1 {
			t.Errorf("%d token requests, want 1 (cached for every connection)", e.count())
		}
		if got := kfaketest.ReadValues(t, c, topic, 1); got[0] != "v" {
			t.Errorf("records %q", got)
		}
	})
	t.Run("token refused", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		oauthBroker(c, func(string) bool { return false })
		tokenFile := filepath.Join(t.TempDir(), "token")
		writeAt(t, tokenFile, []byte("expired-token"), time.Now())
		p := oauthProducer(t, c.ListenAddrs(), &config.OAuth{TokenFile: tokenFile})
		err := publishFast(t, p)
		if r := reasonOf(t, err); r != AuthFailed {
			t.Fatalf("reason %d (%v), want AuthFailed", r, err)
		}
		if want := `[58] SASL Authentication Failed: SASL Authentication failed: {"status":"invalid_token"}`; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	})
	t.Run("token endpoint down", func(t *testing.T) {
		c := kfaketest.NewCluster(t, topic)
		oauthBroker(c, func(string) bool { return true })
		addr := kfaketest.RefusingAddr(t)
		p := oauthProducer(t, c.ListenAddrs(), &config.OAuth{TokenURL: "http://" + addr + "/token", ClientID: "c", ClientSecret: config.NewSecret("S3CRET")})
		err := publishFast(t, p)
		if r := reasonOf(t, err); r != AuthFailed {
			t.Fatalf("reason %d (%v), want AuthFailed", r, err)
		}
		if want := `OAUTHBEARER token endpoint: Post "http://` + addr + `/token": dial tcp ` + addr + `: connect: connection refused`; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	})
}

// Shortly before a token expires the producer retires its connections; the
// next ones authenticate with a fresh token.
func TestConnectionsRetiredBeforeTheTokenExpires(t *testing.T) {
	c := kfaketest.NewCluster(t, topic)
	seen := oauthBroker(c, func(string) bool { return true })
	e := newTokenEndpoint(t, numbered(6)) // retired about 1 s in
	p := oauthProducer(t, c.ListenAddrs(), &config.OAuth{TokenURL: e.URL, ClientID: "c", ClientSecret: config.NewSecret("s")})
	if err := publishFast(t, p); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(8 * time.Second)
	for {
		got := seen()
		if len(got) > 0 && got[len(got)-1] != "tok-1" {
			if got[len(got)-1] != "tok-2" {
				t.Errorf("tokens seen %q, want tok-2 after tok-1", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new connection with a new token; tokens seen %q", got)
		}
		if err := publishFast(t, p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := publishFast(t, p); err != nil {
		t.Errorf("after the new token: %v", err)
	}
}
