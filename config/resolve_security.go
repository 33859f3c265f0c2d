package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math"
	"net/url"
	"os"
	"sync"
)

// TLS is how to reach the brokers over TLS.
type TLS struct {
	// RootCAs verify the broker certificates; nil means the system's.
	RootCAs *x509.CertPool
	// CAFingerprint identifies the CA file's contents (SHA-256, hex), ""
	// without one: two configs naming one file share a producer only
	// while its contents are the same (ProducerIdentity).
	CAFingerprint string
	// ServerName overrides each broker's host for verification.
	ServerName string
	// MinVersion is tls.VersionTLS12 (default) or tls.VersionTLS13.
	MinVersion uint16
	// CertFile and KeyFile are the client certificate (mTLS), "" if none;
	// loaded at config load and re-read when they change.
	CertFile, KeyFile string
	// InsecureSkipVerify turns the verification of the brokers off.
	InsecureSkipVerify bool
}

// SASL is how to authenticate to the brokers.
type SASL struct {
	// Mechanism is one of the SASL* constants.
	Mechanism string
	Username  string
	Password  Secret
	OAuth     *OAuth
}

// SASL mechanisms, as written in the config.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
	SASLOAuthBearer = "OAUTHBEARER"
)

// Format prints the SASL settings without secrets, whatever the verb: fmt
// would print the fields of a struct it has a wrong verb for one by one,
// past Secret's String.
func (s SASL) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "{Mechanism:%s Username:%s Password:[redacted] OAuth:%v}", s.Mechanism, s.Username, s.OAuth)
}

// Format prints the OAuth settings without the client secret.
func (o OAuth) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "{TokenFile:%s TokenURL:%s ClientID:%s ClientSecret:[redacted] Scopes:%v}", o.TokenFile, o.TokenURL, o.ClientID, o.Scopes)
}

// OAuth is where OAUTHBEARER tokens come from: a file, or the OAuth 2.0
// client-credentials grant.
type OAuth struct {
	TokenFile    string
	TokenURL     string
	ClientID     string
	ClientSecret Secret
	Scopes       []string
	Params       map[string]string
}

func resolveTLS(t *Tls, p *problems) *TLS {
	if t == nil {
		return nil
	}
	if !t.GetEnabled() {
		if t.GetCaFile() != "" || t.GetServerName() != "" || t.GetMinVersion() != "" || t.GetCertFile() != "" ||
			t.GetKeyFile() != "" || t.GetInsecureSkipVerify() {
			p.add("tls.enabled", "is false, so the other tls fields have no effect; set it to true, or remove them")
		}
		return nil
	}
	out := &TLS{ServerName: t.GetServerName(), InsecureSkipVerify: t.GetInsecureSkipVerify(), CertFile: t.GetCertFile(), KeyFile: t.GetKeyFile()}
	switch t.GetMinVersion() {
	case "", "1.2":
		out.MinVersion = tls.VersionTLS12
	case "1.3":
		out.MinVersion = tls.VersionTLS13
	default:
		p.add("tls.min_version", `must be "1.2" or "1.3", got %q`, t.GetMinVersion())
	}
	if f := t.GetCaFile(); f != "" {
		pem, err := os.ReadFile(f)
		switch {
		case err != nil:
			p.add("tls.ca_file", "%v", err)
		default:
			out.RootCAs = x509.NewCertPool()
			sum := sha256.Sum256(pem)
			out.CAFingerprint = hex.EncodeToString(sum[:])
			if !out.RootCAs.AppendCertsFromPEM(pem) {
				p.add("tls.ca_file", "%s holds no PEM certificate", f)
			}
		}
	}
	switch {
	case out.CertFile != "" && out.KeyFile == "":
		p.add("tls.key_file", "must be set with tls.cert_file (the client certificate's key)")
	case out.CertFile == "" && out.KeyFile != "":
		p.add("tls.cert_file", "must be set with tls.key_file (the certificate of that key)")
	case out.CertFile != "":
		// tls's errors name no key material.
		if _, err := tls.LoadX509KeyPair(out.CertFile, out.KeyFile); err != nil {
			p.add("tls.cert_file, tls.key_file", "%v", err)
		}
	}
	if out.InsecureSkipVerify {
		p.warn("tls.insecure_skip_verify is true: the broker certificates are not verified, and anyone on the network path can read and change the traffic")
	}
	return out
}

func resolveSASL(s *Sasl, p *problems) *SASL {
	if s == nil {
		return nil
	}
	out := &SASL{Mechanism: s.GetMechanism(), Username: s.GetUsername()}
	out.Password = secretFrom(s.GetPassword(), s.GetPasswordFile(), "sasl.password", "sasl.password_file", p)
	switch out.Mechanism {
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if out.Username == "" {
			p.add("sasl.username", "must be set for %s", out.Mechanism)
		}
		if !out.Password.IsSet() {
			p.add("sasl.password", "must be set for %s (or sasl.password_file)", out.Mechanism)
		}
		if s.Oauthbearer != nil {
			p.add("sasl.oauthbearer", "applies to mechanism OAUTHBEARER only, not %s", out.Mechanism)
		}
	case SASLOAuthBearer:
		if out.Username != "" || out.Password.IsSet() {
			p.add("sasl.username", "OAUTHBEARER authenticates with a token (sasl.oauthbearer), not a user and password")
		}
		out.OAuth = resolveOAuth(s.GetOauthbearer(), p)
	case "":
		p.add("sasl.mechanism", "must be set: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER")
	default:
		p.add("sasl.mechanism", "must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER, got %q (names are upper-case)", out.Mechanism)
	}
	return out
}

func resolveOAuth(o *OAuthBearer, p *problems) *OAuth {
	if o == nil {
		p.add("sasl.oauthbearer", "must be set for OAUTHBEARER: token_file, or token_endpoint_url with client_id and client_secret")
		return nil
	}
	out := &OAuth{TokenFile: o.GetTokenFile(), TokenURL: o.GetTokenEndpointUrl(), ClientID: o.GetClientId(),
		Scopes: append([]string(nil), o.GetScopes()...), Params: map[string]string{}}
	for k, v := range o.GetTokenEndpointParams() {
		out.Params[k] = v
	}
	out.ClientSecret = secretFrom(o.GetClientSecret(), o.GetClientSecretFile(), "sasl.oauthbearer.client_secret", "sasl.oauthbearer.client_secret_file", p)
	switch {
	case out.TokenFile != "" && out.TokenURL != "":
		p.add("sasl.oauthbearer", "set token_file or token_endpoint_url, not both")
	case out.TokenFile != "":
		if _, err := os.Stat(out.TokenFile); err != nil {
			p.add("sasl.oauthbearer.token_file", "%v", err)
		}
		if out.ClientID != "" {
			p.add("sasl.oauthbearer.client_id", "belongs to the client-credentials grant (token_endpoint_url), not to token_file")
		}
		if out.ClientSecret.IsSet() {
			p.add("sasl.oauthbearer.client_secret", "belongs to the client-credentials grant (token_endpoint_url), not to token_file")
		}
	case out.TokenURL != "":
		u, err := url.Parse(out.TokenURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add("sasl.oauthbearer.token_endpoint_url", "must be an http(s) URL, got %q", out.TokenURL)
		}
		if out.ClientID == "" {
			p.add("sasl.oauthbearer.client_id", "must be set with token_endpoint_url")
		}
		if !out.ClientSecret.IsSet() {
			p.add("sasl.oauthbearer.client_secret", "must be set with token_endpoint_url (or client_secret_file)")
		}
	default:
		p.add("sasl.oauthbearer", "needs token_file, or token_endpoint_url with client_id and client_secret")
	}
	return out
}

// Compression codecs, as written in the config.
var codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// codecLevels holds, per codec, the level the process uses: kafka-go keeps
// one per codec, global to the process (see compression_level).
var codecLevels struct {
	sync.Mutex
	level map[string]int
}

func resolveCompression(cfg *Config, p *problems) (string, *int) {
	codec := oneOf(cfg.GetCompression(), "compression", p, codecs...)
	if cfg.CompressionLevel == nil {
		return codec, nil
	}
	level := int(cfg.GetCompressionLevel())
	ok := false
	switch codec {
	case "gzip":
		ok = level >= -3 && level <= 9 && level != 0 && level != -1
	case "zstd":
		ok = level >= 1 && level <= 22
	case "snappy":
		ok = level >= 0 && level <= 3
	default:
		p.add("compression_level", "%q has no level", codec)
		return codec, nil
	}
	if !ok {
		p.add("compression_level", "%d is no %s level (%s)", level, codec, map[string]string{
			"gzip": "1-9, -2 Huffman only, -3 stateless", "zstd": "1-22", "snappy": "0 default, 1 faster, 2 better, 3 best"}[codec])
		return codec, nil
	}
	return codec, &level
}

// claimCodecLevel records the level a loaded config runs its codec at
// (nil: the codec's default), refusing one that differs from the level
// already in use: kafka-go keeps one per codec and process. Only configs
// that resolved claim, and a claim lasts as long as the process.
func claimCodecLevel(codec string, level *int, prefix string) error {
	if codec == "none" || codec == "lz4" {
		return nil
	}
	want := defaultLevel
	if level != nil {
		want = *level
	}
	codecLevels.Lock()
	defer codecLevels.Unlock()
	if prev, taken := codecLevels.level[codec]; taken && prev != want {
		use := fmt.Sprintf("use %d", prev)
		if prev == defaultLevel {
			use = "leave compression_level out"
		}
		return fmt.Errorf("%scompression_level: %s already runs at %s in this process, and kafka-go keeps one level per codec and process; %s, or restart with the new level everywhere",
			prefix, codec, levelText(prev), use)
	}
	if codecLevels.level == nil {
		codecLevels.level = map[string]int{}
	}
	codecLevels.level[codec] = want
	return nil
}

// defaultLevel stands for "the codec's own level" in codecLevels.
const defaultLevel = math.MinInt

func levelText(level int) string {
	if level == defaultLevel {
		return "its default level"
	}
	return fmt.Sprintf("level %d", level)
}

// Describe names a cluster for logs without any secret.
func (c Cluster) Describe() string {
	security := "plaintext"
	switch {
	case c.TLS != nil && c.SASL != nil:
		security = "SASL_SSL " + c.SASL.Mechanism
	case c.TLS != nil:
		security = "SSL"
	case c.SASL != nil:
		security = "SASL_PLAINTEXT " + c.SASL.Mechanism
	}
	return fmt.Sprintf("%v (%s)", c.Brokers, security)
}
