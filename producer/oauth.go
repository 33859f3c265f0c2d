package producer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/tlsfiles"
)

// tokenSource hands out OAUTHBEARER tokens: read from a file (re-read when
// it changes), or fetched with the OAuth 2.0 client-credentials grant and
// cached until shortly before they expire.
//
// kafka-go cannot re-authenticate a connection (KIP-368), and a broker
// drops a connection when its token expires. So shortly before a token
// expires, onExpiry closes the transport's idle connections: the next ones
// authenticate with a fresh token instead of failing mid-write.
type tokenSource struct {
	cfg      *config.OAuth
	onExpiry func()
	client   *http.Client

	mu      sync.Mutex
	current string
	expiry  time.Time // zero when unknown
	margin  time.Duration
	stamp   time.Time // token file's modification time
	timer   *time.Timer
}

func newTokenSource(cfg *config.OAuth, onExpiry func()) *tokenSource {
	return &tokenSource{cfg: cfg, onExpiry: onExpiry, client: &http.Client{}}
}

// refreshMargin is how long before its expiry a token is replaced.
func refreshMargin(lifetime time.Duration) time.Duration {
	return max(lifetime/5, 5*time.Second)
}

func (s *tokenSource) token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.TokenFile != "" {
		return s.fromFile()
	}
	if s.current != "" && time.Until(s.expiry) > s.margin {
		return s.current, nil
	}
	token, lifetime, err := s.fetch(ctx)
	if err != nil {
		return "", &AuthError{Cause: "OAUTHBEARER token endpoint", Err: err}
	}
	s.set(token, time.Now().Add(lifetime))
	return token, nil
}

func (s *tokenSource) fromFile() (string, error) {
	stamp := tlsfiles.ModTime(s.cfg.TokenFile)
	if s.current != "" && stamp.Equal(s.stamp) && (s.expiry.IsZero() || time.Now().Before(s.expiry)) {
		return s.current, nil
	}
	b, err := os.ReadFile(s.cfg.TokenFile)
	if err != nil {
		return "", &AuthError{Cause: "reading the OAUTHBEARER token file", Err: err}
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", &AuthError{Cause: "reading the OAUTHBEARER token file", Err: fmt.Errorf("%s is empty", s.cfg.TokenFile)}
	}
	s.stamp = stamp
	s.set(token, jwtExpiry(token))
	return token, nil
}

// set keeps token and arms the timer that retires connections before it
// expires.
func (s *tokenSource) set(token string, expiry time.Time) {
	s.current, s.expiry = token, expiry
	if s.timer != nil {
		s.timer.Stop()
	}
	if expiry.IsZero() || s.onExpiry == nil {
		return
	}
	lifetime := time.Until(expiry)
	s.margin = refreshMargin(lifetime)
	s.timer = time.AfterFunc(max(lifetime-s.margin, 0), s.onExpiry)
}

// stop disarms the timer (the producer is closing).
func (s *tokenSource) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
}

// fetch runs the client-credentials grant (RFC 6749 4.4), the client
// authenticating with HTTP Basic (2.3.1).
func (s *tokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	secret, err := s.cfg.ClientSecret.Reveal()
	if err != nil {
		return "", 0, err
	}
	form := url.Values{}
	for k, v := range s.cfg.Params {
		form.Set(k, v)
	}
	// Last: the grant is this source's to say, not a parameter's.
	form.Set("grant_type", "client_credentials")
	if len(s.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(s.cfg.Scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("content-type", "application/x-www-form-urlencoded")
	req.Header.Set("accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(s.cfg.ClientID), url.QueryEscape(secret))
	resp, err := s.client.Do(req)
	if err != nil {
		// url.Error names the URL and the cause, never the form.
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, err
	}
	var answer struct {
		AccessToken string      `json:"access_token"`
		ExpiresIn   json.Number `json:"expires_in"`
		Error       string      `json:"error"`
		Description string      `json:"error_description"`
	}
	if resp.StatusCode != http.StatusOK {
		_ = json.Unmarshal(body, &answer)
		if answer.Error != "" {
			return "", 0, fmt.Errorf("%s answered %d %s", s.cfg.TokenURL, resp.StatusCode, strings.TrimSpace(answer.Error+" "+answer.Description))
		}
		return "", 0, fmt.Errorf("%s answered %d", s.cfg.TokenURL, resp.StatusCode)
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.AccessToken == "" {
		return "", 0, fmt.Errorf("%s answered no access_token", s.cfg.TokenURL)
	}
	lifetime := time.Hour // RFC 6749 leaves expires_in optional
	if n, err := answer.ExpiresIn.Int64(); err == nil && n > 0 {
		lifetime = time.Duration(n) * time.Second
	} else if exp := jwtExpiry(answer.AccessToken); !exp.IsZero() {
		lifetime = time.Until(exp)
	}
	return answer.AccessToken, lifetime, nil
}

// jwtExpiry reads a JWT's exp claim without verifying anything (the broker
// does): only to know when to replace it. Zero when it is no JWT.
func jwtExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}
	}
	// RFC 7519 NumericDate: seconds, possibly fractional.
	f, err := claims.Exp.Float64()
	if err != nil || f <= 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(f*1e9))
}
