package securetest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

var randReader = rand.Reader

// MintToken returns an RS256 JWT signed with jwt.key (header kid "k1",
// typ "JWT"; claims sub, aud, iss, iat, exp and scope). The OAUTH listener
// accepts it when aud is m.Audience ("kafka"), iss is m.Issuer
// ("kafka-upstream-test-idp") and it has not expired. The broker allows 30 s
// of clock skew (sasl.oauthbearer.clock.skew.seconds), so a token is only
// refused as expired once ttl is below -30s (use e.g. -time.Minute). A
// connection authenticated with a token ends when the token expires
// (the broker sets the session lifetime to exp).
func (m *Material) MintToken(aud, iss string, ttl time.Duration) string {
	now := time.Now()
	exp := now.Add(ttl)
	iat := now
	if !exp.After(iat) {
		iat = exp.Add(-time.Minute) // an expired token, issued before it expired
	}
	return m.sign(map[string]any{
		"sub":   Subject,
		"aud":   aud,
		"iss":   iss,
		"iat":   iat.Unix(),
		"exp":   exp.Unix(),
		"scope": Scope,
	})
}

func (m *Material) sign(claims map[string]any) string {
	b64 := base64.RawURLEncoding
	h, err := json.Marshal(map[string]any{"alg": "RS256", "typ": "JWT", "kid": KeyID})
	if err != nil {
		panic(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	in := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	d := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(randReader, m.jwtKey, crypto.SHA256, d[:])
	if err != nil {
		panic(err)
	}
	return in + "." + b64.EncodeToString(sig)
}

// StartTokenServer starts an OAuth 2.0 token endpoint (RFC 6749 4.4, the
// client-credentials grant) on 127.0.0.1 and returns its URL
// (http://127.0.0.1:PORT/token) and a function returning how many requests
// reached it so far (any request to any path, good or bad). It is stopped
// when the test ends.
//
// It accepts POST with grant_type=client_credentials and the client
// authenticated either by HTTP Basic (client_secret_basic; the id and
// secret form-urlencoded first, as RFC 6749 2.3.1 says) or by the form
// fields client_id and client_secret (client_secret_post). It answers 200
// {"access_token": MintToken(Audience, Issuer, ttl), "token_type": "Bearer",
// "expires_in": ttl in seconds, "scope": the requested scope if any}.
// Errors are JSON {"error": ..., "error_description": ...}: 401
// invalid_client for wrong or missing credentials, 400
// unsupported_grant_type or invalid_request, 405 for another method.
func (m *Material) StartTokenServer(t testing.TB, clientID, clientSecret string, ttl time.Duration) (tokenURL string, calls func() int) {
	t.Helper()
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.NotFound(w, r)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		fail := func(status int, code, desc string) {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Basic realm="kafka-upstream-test-idp"`)
			}
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			fail(http.StatusMethodNotAllowed, "invalid_request", "use POST")
			return
		}
		if err := r.ParseForm(); err != nil {
			fail(http.StatusBadRequest, "invalid_request", "unreadable form")
			return
		}
		id, secret, basic := r.BasicAuth()
		if basic {
			// client_secret_basic form-urlencodes both before base64.
			if u, err := url.QueryUnescape(id); err == nil {
				id = u
			}
			if u, err := url.QueryUnescape(secret); err == nil {
				secret = u
			}
		} else {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != clientID || secret != clientSecret || id == "" {
			fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
			return
		}
		if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
			fail(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
			return
		}
		resp := map[string]any{
			"access_token": m.MintToken(m.Audience, m.Issuer, ttl),
			"token_type":   "Bearer",
			"expires_in":   int64(ttl / time.Second),
		}
		if s := strings.TrimSpace(r.PostForm.Get("scope")); s != "" {
			resp["scope"] = s
		}
		_ = json.NewEncoder(w).Encode(resp)
	})
	srv := httptest.NewServer(mux) // listens on 127.0.0.1:0
	t.Cleanup(srv.Close)
	return srv.URL + "/token", func() int { return int(n.Load()) }
}

// FetchToken gets an access token from a client-credentials token endpoint
// (such as StartTokenServer's), authenticating with HTTP Basic.
func FetchToken(ctx context.Context, tokenURL, clientID, clientSecret string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {Scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("token endpoint: %s: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: %s: %q", resp.Status, body.Error)
	}
	return body.AccessToken, nil
}

// ClientCredentials is a franz-go OAUTHBEARER mechanism that fetches a new
// token from tokenURL (FetchToken) for every connection.
func ClientCredentials(tokenURL, clientID, clientSecret string) sasl.Mechanism {
	return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		tok, err := FetchToken(ctx, tokenURL, clientID, clientSecret)
		return oauth.Auth{Token: tok}, err
	})
}
