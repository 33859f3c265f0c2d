package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/internal/kfaketest"
)

// Tests of the tls, sasl, compression and compression_level fields
// (issue 7), and of secrets never showing in errors or prints.

// secFiles are the files a secured config names, written in a test's
// temporary directory.
type secFiles struct {
	dir                 string
	ca, cert, key, key2 string // PEM: a CA, a client certificate it signed, its key, another key
	caPEM               []byte
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newSecFiles(t *testing.T) *secFiles {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := func(k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	f := &secFiles{dir: dir, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	f.ca = writeFile(t, filepath.Join(dir, "ca.pem"), string(f.caPEM))
	f.cert = writeFile(t, filepath.Join(dir, "client.crt"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})))
	f.key = writeFile(t, filepath.Join(dir, "client.key"), keyPEM(leafKey))
	f.key2 = writeFile(t, filepath.Join(dir, "other.key"), keyPEM(otherKey))
	return f
}

// resolveWith resolves a minimal config with extra fields (a JSON object's
// members, without braces).
func resolveWith(extra string) (*Settings, error) {
	cfg, err := FromJSON([]byte(`{"bootstrap_servers":["k1:9093"],"topic":"t",` + extra + `}`))
	if err != nil {
		return nil, err
	}
	return Resolve(cfg)
}

// q quotes s for JSON.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// resetCodecLevels empties the process-wide registry of compression levels
// for the test, and restores it afterwards.
func resetCodecLevels(t *testing.T) {
	t.Helper()
	codecLevels.Lock()
	saved := codecLevels.level
	codecLevels.level = nil
	codecLevels.Unlock()
	t.Cleanup(func() {
		codecLevels.Lock()
		codecLevels.level = saved
		codecLevels.Unlock()
	})
}

const insecureWarning = "tls.insecure_skip_verify is true: the broker certificates are not verified, and anyone on the network path can read and change the traffic"

func TestSecurityFieldErrors(t *testing.T) {
	f := newSecFiles(t)
	missing := filepath.Join(f.dir, "missing")
	notPEM := writeFile(t, filepath.Join(f.dir, "notpem.txt"), "S3CRET-content")
	empty := writeFile(t, filepath.Join(f.dir, "empty"), " \n\t\n")
	pw := writeFile(t, filepath.Join(f.dir, "pw"), "pw-from-file\n")
	token := writeFile(t, filepath.Join(f.dir, "token"), "tok")
	const tlsOff = "tls.enabled: is false, so the other tls fields have no effect; set it to true, or remove them"
	const mechanisms = "must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER, got %q (names are upper-case)"
	tests := []struct{ name, extra, want string }{
		// tls
		{"tls ca_file without enabled", `"tls":{"ca_file":` + q(f.ca) + `}`, tlsOff},
		{"tls server_name without enabled", `"tls":{"server_name":"kafka"}`, tlsOff},
		{"tls min_version without enabled", `"tls":{"min_version":"1.3"}`, tlsOff},
		{"tls cert_file without enabled", `"tls":{"cert_file":` + q(f.cert) + `}`, tlsOff},
		{"tls key_file without enabled", `"tls":{"key_file":` + q(f.key) + `}`, tlsOff},
		{"tls insecure_skip_verify without enabled", `"tls":{"insecure_skip_verify":true}`, tlsOff},
		{"tls explicitly disabled with a field", `"tls":{"enabled":false,"ca_file":` + q(f.ca) + `}`, tlsOff},
		{"min_version 1.1", `"tls":{"enabled":true,"min_version":"1.1"}`, `tls.min_version: must be "1.2" or "1.3", got "1.1"`},
		{"min_version 1.0", `"tls":{"enabled":true,"min_version":"1.0"}`, `tls.min_version: must be "1.2" or "1.3", got "1.0"`},
		{"min_version TLS1.3", `"tls":{"enabled":true,"min_version":"TLS1.3"}`, `tls.min_version: must be "1.2" or "1.3", got "TLS1.3"`},
		{"min_version 1.4", `"tls":{"enabled":true,"min_version":"1.4"}`, `tls.min_version: must be "1.2" or "1.3", got "1.4"`},
		{"ca_file missing", `"tls":{"enabled":true,"ca_file":` + q(missing) + `}`,
			"tls.ca_file: open " + missing + ": no such file or directory"},
		{"ca_file unreadable (a directory)", `"tls":{"enabled":true,"ca_file":` + q(f.dir) + `}`,
			"tls.ca_file: read " + f.dir + ": is a directory"},
		{"ca_file not PEM", `"tls":{"enabled":true,"ca_file":` + q(notPEM) + `}`,
			"tls.ca_file: " + notPEM + " holds no PEM certificate"},
		{"ca_file holding a key only", `"tls":{"enabled":true,"ca_file":` + q(f.key) + `}`,
			"tls.ca_file: " + f.key + " holds no PEM certificate"},
		{"cert_file without key_file", `"tls":{"enabled":true,"cert_file":` + q(f.cert) + `}`,
			"tls.key_file: must be set with tls.cert_file (the client certificate's key)"},
		{"key_file without cert_file", `"tls":{"enabled":true,"key_file":` + q(f.key) + `}`,
			"tls.cert_file: must be set with tls.key_file (the certificate of that key)"},
		{"a key of another certificate", `"tls":{"enabled":true,"cert_file":` + q(f.cert) + `,"key_file":` + q(f.key2) + `}`,
			"tls.cert_file, tls.key_file: tls: private key does not match public key"},
		{"a key file that is no PEM", `"tls":{"enabled":true,"cert_file":` + q(f.cert) + `,"key_file":` + q(notPEM) + `}`,
			"tls.cert_file, tls.key_file: tls: failed to find any PEM data in key input"},
		{"a cert file that is no PEM", `"tls":{"enabled":true,"cert_file":` + q(notPEM) + `,"key_file":` + q(f.key) + `}`,
			"tls.cert_file, tls.key_file: tls: failed to find any PEM data in certificate input"},
		{"cert and key swapped", `"tls":{"enabled":true,"cert_file":` + q(f.key) + `,"key_file":` + q(f.cert) + `}`,
			"tls.cert_file, tls.key_file: tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched"},
		{"cert_file missing", `"tls":{"enabled":true,"cert_file":` + q(missing) + `,"key_file":` + q(f.key) + `}`,
			"tls.cert_file, tls.key_file: open " + missing + ": no such file or directory"},

		// sasl
		{"sasl without mechanism", `"sasl":{"username":"u","password":"p"}`,
			"sasl.mechanism: must be set: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"},
		{"empty sasl", `"sasl":{}`,
			"sasl.mechanism: must be set: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"},
		{"unknown mechanism", `"sasl":{"mechanism":"GSSAPI","username":"u","password":"p"}`, "sasl.mechanism: " + fmt.Sprintf(mechanisms, "GSSAPI")},
		{"MSK IAM is not offered", `"sasl":{"mechanism":"AWS_MSK_IAM"}`, "sasl.mechanism: " + fmt.Sprintf(mechanisms, "AWS_MSK_IAM")},
		{"lower-case plain", `"sasl":{"mechanism":"plain","username":"u","password":"p"}`, "sasl.mechanism: " + fmt.Sprintf(mechanisms, "plain")},
		{"lower-case scram", `"sasl":{"mechanism":"scram-sha-512","username":"u","password":"p"}`,
			"sasl.mechanism: " + fmt.Sprintf(mechanisms, "scram-sha-512")},
		{"lower-case oauthbearer", `"sasl":{"mechanism":"oauthbearer","oauthbearer":{"token_file":` + q(token) + `}}`,
			"sasl.mechanism: " + fmt.Sprintf(mechanisms, "oauthbearer")},
		{"PLAIN without username", `"sasl":{"mechanism":"PLAIN","password":"p"}`, "sasl.username: must be set for PLAIN"},
		{"PLAIN without password", `"sasl":{"mechanism":"PLAIN","username":"u"}`,
			"sasl.password: must be set for PLAIN (or sasl.password_file)"},
		{"SCRAM-SHA-256 without either", `"sasl":{"mechanism":"SCRAM-SHA-256"}`,
			"sasl.username: must be set for SCRAM-SHA-256; sasl.password: must be set for SCRAM-SHA-256 (or sasl.password_file)"},
		{"SCRAM-SHA-512 without password", `"sasl":{"mechanism":"SCRAM-SHA-512","username":"u"}`,
			"sasl.password: must be set for SCRAM-SHA-512 (or sasl.password_file)"},
		{"SCRAM-SHA-512 without username", `"sasl":{"mechanism":"SCRAM-SHA-512","password_file":` + q(pw) + `}`,
			"sasl.username: must be set for SCRAM-SHA-512"},
		{"password and password_file", `"sasl":{"mechanism":"PLAIN","username":"u","password":"p","password_file":` + q(pw) + `}`,
			"sasl.password: set sasl.password or sasl.password_file, not both"},
		{"password_file missing", `"sasl":{"mechanism":"PLAIN","username":"u","password_file":` + q(missing) + `}`,
			"sasl.password_file: reading secret file: open " + missing + ": no such file or directory"},
		{"password_file unreadable (a directory)", `"sasl":{"mechanism":"SCRAM-SHA-256","username":"u","password_file":` + q(f.dir) + `}`,
			"sasl.password_file: reading secret file: read " + f.dir + ": is a directory"},
		{"password_file empty", `"sasl":{"mechanism":"SCRAM-SHA-256","username":"u","password_file":` + q(empty) + `}`,
			"sasl.password_file: secret file " + empty + " is empty"},
		{"OAUTHBEARER without oauthbearer", `"sasl":{"mechanism":"OAUTHBEARER"}`,
			"sasl.oauthbearer: must be set for OAUTHBEARER: token_file, or token_endpoint_url with client_id and client_secret"},
		{"token_file and token_endpoint_url", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_file":` + q(token) +
			`,"token_endpoint_url":"https://idp/token","client_id":"c","client_secret":"s"}}`,
			"sasl.oauthbearer: set token_file or token_endpoint_url, not both"},
		{"neither token_file nor token_endpoint_url", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{}}`,
			"sasl.oauthbearer: needs token_file, or token_endpoint_url with client_id and client_secret"},
		{"only scopes", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"scopes":["kafka"]}}`,
			"sasl.oauthbearer: needs token_file, or token_endpoint_url with client_id and client_secret"},
		{"token_file missing", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_file":` + q(missing) + `}}`,
			"sasl.oauthbearer.token_file: stat " + missing + ": no such file or directory"},
		{"endpoint without client_id", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"https://idp/token","client_secret":"s"}}`,
			"sasl.oauthbearer.client_id: must be set with token_endpoint_url"},
		{"endpoint without client_secret", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"https://idp/token","client_id":"c"}}`,
			"sasl.oauthbearer.client_secret: must be set with token_endpoint_url (or client_secret_file)"},
		{"endpoint without client", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"https://idp/token"}}`,
			"sasl.oauthbearer.client_id: must be set with token_endpoint_url; sasl.oauthbearer.client_secret: must be set with token_endpoint_url (or client_secret_file)"},
		{"endpoint ftp", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"ftp://idp/token","client_id":"c","client_secret":"s"}}`,
			`sasl.oauthbearer.token_endpoint_url: must be an http(s) URL, got "ftp://idp/token"`},
		{"endpoint without scheme", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"idp.example.com/token","client_id":"c","client_secret":"s"}}`,
			`sasl.oauthbearer.token_endpoint_url: must be an http(s) URL, got "idp.example.com/token"`},
		{"endpoint without host", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"https:///token","client_id":"c","client_secret":"s"}}`,
			`sasl.oauthbearer.token_endpoint_url: must be an http(s) URL, got "https:///token"`},
		{"endpoint that does not parse", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"http://[::1","client_id":"c","client_secret":"s"}}`,
			`sasl.oauthbearer.token_endpoint_url: must be an http(s) URL, got "http://[::1"`},
		{"client_id with token_file", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_file":` + q(token) + `,"client_id":"c"}}`,
			"sasl.oauthbearer.client_id: belongs to the client-credentials grant (token_endpoint_url), not to token_file"},
		{"client_secret and client_secret_file", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"https://idp/token","client_id":"c","client_secret":"s","client_secret_file":` + q(pw) + `}}`,
			"sasl.oauthbearer.client_secret: set sasl.oauthbearer.client_secret or sasl.oauthbearer.client_secret_file, not both"},
		{"client_secret_file empty", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"https://idp/token","client_id":"c","client_secret_file":` + q(empty) + `}}`,
			"sasl.oauthbearer.client_secret_file: secret file " + empty + " is empty"},
		{"client_secret_file missing", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"https://idp/token","client_id":"c","client_secret_file":` + q(missing) + `}}`,
			"sasl.oauthbearer.client_secret_file: reading secret file: open " + missing + ": no such file or directory"},
		{"oauthbearer with PLAIN", `"sasl":{"mechanism":"PLAIN","username":"u","password":"p","oauthbearer":{"token_file":` + q(token) + `}}`,
			"sasl.oauthbearer: applies to mechanism OAUTHBEARER only, not PLAIN"},
		{"oauthbearer with SCRAM-SHA-256", `"sasl":{"mechanism":"SCRAM-SHA-256","username":"u","password":"p","oauthbearer":{}}`,
			"sasl.oauthbearer: applies to mechanism OAUTHBEARER only, not SCRAM-SHA-256"},
		{"OAUTHBEARER with a username", `"sasl":{"mechanism":"OAUTHBEARER","username":"u","oauthbearer":{"token_file":` + q(token) + `}}`,
			"sasl.username: OAUTHBEARER authenticates with a token (sasl.oauthbearer), not a user and password"},
		{"OAUTHBEARER with a password file", `"sasl":{"mechanism":"OAUTHBEARER","password_file":` + q(pw) + `,"oauthbearer":{"token_file":` + q(token) + `}}`,
			"sasl.username: OAUTHBEARER authenticates with a token (sasl.oauthbearer), not a user and password"},

		// compression
		{"unknown codec", `"compression":"brotli"`, `compression: must be one of "none", "gzip", "snappy", "lz4", "zstd", got "brotli"`},
		{"upper-case codec", `"compression":"GZIP"`, `compression: must be one of "none", "gzip", "snappy", "lz4", "zstd", got "GZIP"`},
		{"kafka-go's uncompressed", `"compression":"uncompressed"`, `compression: must be one of "none", "gzip", "snappy", "lz4", "zstd", got "uncompressed"`},

		// several sections at once, in order
		{"tls, sasl and compression problems together", `"tls":{"enabled":true,"min_version":"1.1"},"sasl":{"mechanism":"PLAIN"},"compression":"xz"`,
			`tls.min_version: must be "1.2" or "1.3", got "1.1"; sasl.username: must be set for PLAIN; sasl.password: must be set for PLAIN (or sasl.password_file); ` +
				`compression: must be one of "none", "gzip", "snappy", "lz4", "zstd", got "xz"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := resolveWith(tt.extra)
			if err == nil {
				t.Fatalf("got %+v, want error %q", s, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
}

// A client secret given with token_file is refused like a client id, and
// the error names the field that is set.
func TestClientSecretWithTokenFileNamesItsField(t *testing.T) {
	f := newSecFiles(t)
	token := writeFile(t, filepath.Join(f.dir, "token"), "tok")
	_, err := resolveWith(`"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_file":` + q(token) + `,"client_secret":"s"}}`)
	const want = "sasl.oauthbearer.client_secret: belongs to the client-credentials grant (token_endpoint_url), not to token_file"
	if err == nil || err.Error() != want {
		t.Errorf("error\n got %v\nwant %s", err, want)
	}
}

func TestTLSMinVersion(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint16
	}{{"", tls.VersionTLS12}, {"1.2", tls.VersionTLS12}, {"1.3", tls.VersionTLS13}} {
		s, err := resolveWith(`"tls":{"enabled":true,"min_version":` + q(tt.in) + `}`)
		if err != nil {
			t.Fatalf("min_version %q: %v", tt.in, err)
		}
		if s.Cluster.TLS.MinVersion != tt.want {
			t.Errorf("min_version %q: MinVersion = %#x, want %#x", tt.in, s.Cluster.TLS.MinVersion, tt.want)
		}
	}
}

func TestTLSAndSASLAbsentOrOff(t *testing.T) {
	for _, extra := range []string{`"tls":{}`, `"tls":{"enabled":false}`, `"client_id":"x"`} {
		s, err := resolveWith(extra)
		if err != nil {
			t.Fatalf("%s: %v", extra, err)
		}
		if s.Cluster.TLS != nil || s.Cluster.SASL != nil || s.Warnings != nil {
			t.Errorf("%s: TLS %+v, SASL %+v, warnings %q; want nil, nil, nil", extra, s.Cluster.TLS, s.Cluster.SASL, s.Warnings)
		}
	}
}

func TestInsecureSkipVerifyWarns(t *testing.T) {
	s, err := resolveWith(`"tls":{"enabled":true,"insecure_skip_verify":true}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{insecureWarning}; !reflect.DeepEqual(s.Warnings, want) {
		t.Errorf("warnings = %q, want %q", s.Warnings, want)
	}
	if !s.Cluster.TLS.InsecureSkipVerify {
		t.Error("InsecureSkipVerify = false")
	}

	// Named configs of the ext_proc server: the warning names the config.
	ss, err := ServerFromYAML([]byte(`
configs:
  a: {bootstrap_servers: ["k:1"], topic: a, tls: {enabled: true, insecure_skip_verify: true}}
  b: {bootstrap_servers: ["k:2"], topic: b, tls: {enabled: true}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"configs.a." + insecureWarning}; !reflect.DeepEqual(ss.Named["a"].Warnings, want) {
		t.Errorf("configs.a warnings = %q, want %q", ss.Named["a"].Warnings, want)
	}
	if ss.Named["b"].Warnings != nil {
		t.Errorf("configs.b warnings = %q, want none", ss.Named["b"].Warnings)
	}
}

func TestCompressionCodecs(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "none"}, {"none", "none"}, {"gzip", "gzip"}, {"snappy", "snappy"}, {"lz4", "lz4"}, {"zstd", "zstd"},
	} {
		s, err := resolveWith(`"compression":` + q(tt.in))
		if err != nil {
			t.Fatalf("compression %q: %v", tt.in, err)
		}
		if s.Producer.Compression != tt.want || s.Producer.CompressionLevel != nil {
			t.Errorf("compression %q: got %q level %v, want %q, no level", tt.in, s.Producer.Compression, s.Producer.CompressionLevel, tt.want)
		}
	}
}

func TestCompressionLevels(t *testing.T) {
	tests := []struct {
		codec string
		level int
		want  string // "" when valid
	}{
		{"gzip", 1, ""}, {"gzip", 6, ""}, {"gzip", 9, ""}, {"gzip", -2, ""}, {"gzip", -3, ""},
		{"gzip", 0, "compression_level: 0 is no gzip level (1-9, -2 Huffman only, -3 stateless)"},
		{"gzip", -1, "compression_level: -1 is no gzip level (1-9, -2 Huffman only, -3 stateless)"},
		{"gzip", 10, "compression_level: 10 is no gzip level (1-9, -2 Huffman only, -3 stateless)"},
		{"gzip", -4, "compression_level: -4 is no gzip level (1-9, -2 Huffman only, -3 stateless)"},
		{"zstd", 1, ""}, {"zstd", 3, ""}, {"zstd", 22, ""},
		{"zstd", 0, "compression_level: 0 is no zstd level (1-22)"},
		{"zstd", 23, "compression_level: 23 is no zstd level (1-22)"},
		{"zstd", -1, "compression_level: -1 is no zstd level (1-22)"},
		{"snappy", 0, ""}, {"snappy", 1, ""}, {"snappy", 2, ""}, {"snappy", 3, ""},
		{"snappy", 4, "compression_level: 4 is no snappy level (0 default, 1 faster, 2 better, 3 best)"},
		{"snappy", -1, "compression_level: -1 is no snappy level (0 default, 1 faster, 2 better, 3 best)"},
		{"lz4", 1, `compression_level: "lz4" has no level`},
		{"lz4", 0, `compression_level: "lz4" has no level`},
		{"none", 1, `compression_level: "none" has no level`},
		{"", 5, `compression_level: "none" has no level`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d", tt.codec, tt.level), func(t *testing.T) {
			resetCodecLevels(t)
			s, err := resolveWith(fmt.Sprintf(`"compression":%q,"compression_level":%d`, tt.codec, tt.level))
			if tt.want != "" {
				if err == nil || err.Error() != tt.want {
					t.Errorf("error\n got %v\nwant %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Producer.Compression != tt.codec || s.Producer.CompressionLevel == nil || *s.Producer.CompressionLevel != tt.level {
				t.Errorf("got %q level %v, want %q level %d", s.Producer.Compression, s.Producer.CompressionLevel, tt.codec, tt.level)
			}
		})
	}
}

func TestCompressionLevelIsOnePerCodecAndProcess(t *testing.T) {
	resetCodecLevels(t)
	level := func(codec string, n int) error {
		_, err := resolveWith(fmt.Sprintf(`"compression":%q,"compression_level":%d`, codec, n))
		return err
	}
	if err := level("gzip", 5); err != nil {
		t.Fatal(err)
	}
	if err := level("gzip", 5); err != nil {
		t.Errorf("the same level again: %v", err)
	}
	const want = "compression_level: gzip already runs at level 5 in this process, and kafka-go keeps one level per codec and process; use 5, or restart with the new level everywhere"
	if err := level("gzip", 9); err == nil || err.Error() != want {
		t.Errorf("another level\n got %v\nwant %s", err, want)
	}
	// Each codec has its own level.
	if err := level("zstd", 19); err != nil {
		t.Errorf("zstd beside gzip: %v", err)
	}
	if err := level("snappy", 3); err != nil {
		t.Errorf("snappy beside gzip: %v", err)
	}
	if err := level("zstd", 3); err == nil || !strings.Contains(err.Error(), "zstd already runs at level 19") {
		t.Errorf("zstd at another level: %v", err)
	}
	// A codec used without a level would run at the level in use, not at
	// its default: refused too.
	const wantDefault = "compression_level: gzip already runs at level 5 in this process, and kafka-go keeps one level per codec and process; use 5, or restart with the new level everywhere"
	if _, err := resolveWith(`"compression":"gzip"`); err == nil || err.Error() != wantDefault {
		t.Errorf("gzip without a level\n got %v\nwant %s", err, wantDefault)
	}

	// The ext_proc server's named configs share the process too.
	resetCodecLevels(t)
	_, err := ServerFromYAML([]byte(`
configs:
  a: {bootstrap_servers: ["k:1"], topic: a, compression: gzip, compression_level: 5}
  b: {bootstrap_servers: ["k:2"], topic: b, compression: gzip, compression_level: 9}
`))
	const wantServer = "configs.b.compression_level: gzip already runs at level 5 in this process, and kafka-go keeps one level per codec and process; use 5, or restart with the new level everywhere"
	if err == nil || err.Error() != wantServer {
		t.Errorf("server config\n got %v\nwant %s", err, wantServer)
	}
}

// A config that is refused holds no level: nothing runs at it.
func TestRefusedConfigTakesNoCompressionLevel(t *testing.T) {
	t.Run("Resolve", func(t *testing.T) {
		resetCodecLevels(t)
		if _, err := resolveWith(`"compression":"gzip","compression_level":5,"required_acks":7`); err == nil {
			t.Fatal("a config with required_acks 7 was accepted")
		}
		if _, err := resolveWith(`"compression":"gzip","compression_level":9`); err != nil {
			t.Errorf("after a refused config asking for level 5, level 9 is refused: %v", err)
		}
	})
	t.Run("CheckInheriting", func(t *testing.T) {
		resetCodecLevels(t)
		if err := CheckInheriting(mustJSON(t, `{"compression":"zstd","compression_level":5}`), ""); err == nil {
			t.Fatal("an inheriting config with compression was accepted")
		}
		if _, err := resolveWith(`"compression":"zstd","compression_level":9`); err != nil {
			t.Errorf("after a refused inheriting config asking for level 5, level 9 is refused: %v", err)
		}
	})
}

// compression_level's documentation: "every config of a process that uses
// a codec must agree on its level", and without compression_level a config
// runs at the codec's default (gzip 6). A second config at another level
// would change the first one's level (kafka-go's codecs are global), so it
// is refused.
func TestCompressionLevelDisagreeingWithADefaultLevelIsRefused(t *testing.T) {
	resetCodecLevels(t)
	if _, err := resolveWith(`"compression":"gzip"`); err != nil {
		t.Fatal(err)
	}
	_, err := resolveWith(`"compression":"gzip","compression_level":9`)
	if err == nil || !strings.HasPrefix(err.Error(), "compression_level: gzip already runs at ") {
		t.Errorf("gzip level 9 after a gzip config at the default level: got %v, want a compression_level error", err)
	}
}

func TestCheckInheritingRefusesSecurityAndCompression(t *testing.T) {
	resetCodecLevels(t)
	refused := func(prefix string, fields ...string) string {
		var out []string
		for _, f := range fields {
			out = append(out, prefix+f+": "+producerRule)
		}
		return strings.Join(out, "; ")
	}
	tests := []struct {
		name, json, prefix, want string
	}{
		{"tls", `{"tls":{"enabled":true}}`, "", refused("", "tls")},
		{"tls turned off", `{"tls":{"enabled":false}}`, "", refused("", "tls")},
		{"sasl", `{"sasl":{"mechanism":"PLAIN","username":"u","password":"p"}}`, "", refused("", "sasl")},
		{"compression", `{"compression":"lz4"}`, "", refused("", "compression")},
		{"compression and its level", `{"compression":"snappy","compression_level":2}`, "configs.raw.",
			refused("configs.raw.", "compression", "compression_level")},
		{"all of them, in the list's order", `{"compression":"gzip","sasl":{"mechanism":"SCRAM-SHA-256","username":"u","password":"p"},
			"tls":{"enabled":true},"client_id":"c"}`, "",
			refused("", "client_id", "tls", "sasl", "compression")},
		{"an invalid sasl is also reported", `{"sasl":{"mechanism":"plain"}}`, "configs.a.",
			refused("configs.a.", "sasl") + `; configs.a.sasl.mechanism: must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER, got "plain" (names are upper-case)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckInheriting(mustJSON(t, tt.json), tt.prefix)
			if err == nil || err.Error() != tt.want {
				t.Errorf("CheckInheriting error\n got %v\nwant %s", err, tt.want)
			}
		})
	}
	// In the server's file: a config with a base cannot bring its own.
	_, err := ServerFromYAML([]byte(`
configs:
  a: {bootstrap_servers: ["k:1"], topic: a}
  b: {base: a, topic: b, sasl: {mechanism: PLAIN, username: u, password: p}}
`))
	if want := refused("configs.b.", "sasl"); err == nil || err.Error() != want {
		t.Errorf("server config\n got %v\nwant %s", err, want)
	}
}

// Every field of a secured config, resolved and compared whole.
func TestSettingsOfSecuredConfigs(t *testing.T) {
	f := newSecFiles(t)
	pw := writeFile(t, filepath.Join(f.dir, "pw"), "pw-from-file\n")
	token := writeFile(t, filepath.Join(f.dir, "token"), "tok")
	cs := writeFile(t, filepath.Join(f.dir, "client-secret"), "cs-from-file\n")
	wantPool := x509.NewCertPool()
	wantPool.AppendCertsFromPEM(f.caPEM)
	level := func(n int) *int { return &n }

	t.Run("mTLS, SCRAM-SHA-512 with a password file, zstd 19", func(t *testing.T) {
		resetCodecLevels(t)
		got := resolveJSON(t, `{"bootstrap_servers":["k1:9093","k2:9093"],"topic":"t",
			"tls":{"enabled":true,"ca_file":`+q(f.ca)+`,"server_name":"kafka.internal","min_version":"1.3",
				"cert_file":`+q(f.cert)+`,"key_file":`+q(f.key)+`},
			"sasl":{"mechanism":"SCRAM-SHA-512","username":"alice","password_file":`+q(pw)+`},
			"compression":"zstd","compression_level":19}`)
		if got.Cluster.TLS == nil || got.Cluster.TLS.RootCAs == nil {
			t.Fatalf("TLS = %+v, want RootCAs", got.Cluster.TLS)
		}
		if !got.Cluster.TLS.RootCAs.Equal(wantPool) {
			t.Error("RootCAs is not the pool of the CA file")
		}
		if v, err := got.Cluster.SASL.Password.Reveal(); v != "pw-from-file" || err != nil {
			t.Errorf("password = %q, %v; want the file's content without its newline", v, err)
		}
		if got.Cluster.SASL.Password.File() != pw {
			t.Errorf("password file = %q, want %q", got.Cluster.SASL.Password.File(), pw)
		}
		want := defaults()
		want.Cluster = Cluster{Brokers: []string{"k1:9093", "k2:9093"}, ClientID: "kafka-upstream",
			TLS: &TLS{RootCAs: got.Cluster.TLS.RootCAs, CAFingerprint: fmt.Sprintf("%x", sha256.Sum256(f.caPEM)), ServerName: "kafka.internal", MinVersion: tls.VersionTLS13,
				CertFile: f.cert, KeyFile: f.key},
			SASL: &SASL{Mechanism: SASLScramSHA512, Username: "alice", Password: SecretFile(pw)},
		}
		want.Routing = Routing{Topic: "t", AllowedTopics: map[string]bool{"t": true}}
		want.Producer.Compression, want.Producer.CompressionLevel = "zstd", level(19)
		checkSecured(t, got, want)
		if d := got.Cluster.Describe(); d != "[k1:9093 k2:9093] (SASL_SSL SCRAM-SHA-512)" {
			t.Errorf("Describe = %q", d)
		}
	})

	t.Run("OAUTHBEARER client credentials, TLS unverified, gzip", func(t *testing.T) {
		got := resolveJSON(t, `{"bootstrap_servers":["k1:9093"],"topic":"t",
			"tls":{"enabled":true,"insecure_skip_verify":true},
			"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"https://idp.example.com/oauth2/token",
				"client_id":"producer","client_secret":"cs-inline","scopes":["kafka","write"],
				"token_endpoint_params":{"audience":"kafka","resource":"urn:kafka"}}},
			"compression":"gzip"}`)
		if v, err := got.Cluster.SASL.OAuth.ClientSecret.Reveal(); v != "cs-inline" || err != nil {
			t.Errorf("client secret = %q, %v", v, err)
		}
		want := defaults()
		want.Cluster = Cluster{Brokers: []string{"k1:9093"}, ClientID: "kafka-upstream",
			TLS: &TLS{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true},
			SASL: &SASL{Mechanism: SASLOAuthBearer, OAuth: &OAuth{
				TokenURL: "https://idp.example.com/oauth2/token", ClientID: "producer", ClientSecret: NewSecret("cs-inline"),
				Scopes: []string{"kafka", "write"}, Params: map[string]string{"audience": "kafka", "resource": "urn:kafka"},
			}},
		}
		want.Routing = Routing{Topic: "t", AllowedTopics: map[string]bool{"t": true}}
		want.Producer.Compression = "gzip"
		want.Warnings = []string{insecureWarning}
		checkSecured(t, got, want)
	})

	t.Run("OAUTHBEARER client secret file, token file", func(t *testing.T) {
		got := resolveJSON(t, `{"bootstrap_servers":["k1:9093"],"topic":"t",
			"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"http://127.0.0.1:8080/token",
				"client_id":"producer","client_secret_file":`+q(cs)+`}}}`)
		if v, err := got.Cluster.SASL.OAuth.ClientSecret.Reveal(); v != "cs-from-file" || err != nil {
			t.Errorf("client secret = %q, %v", v, err)
		}
		want := defaults()
		want.Cluster = Cluster{Brokers: []string{"k1:9093"}, ClientID: "kafka-upstream",
			SASL: &SASL{Mechanism: SASLOAuthBearer, OAuth: &OAuth{
				TokenURL: "http://127.0.0.1:8080/token", ClientID: "producer", ClientSecret: SecretFile(cs), Params: map[string]string{},
			}},
		}
		want.Routing = Routing{Topic: "t", AllowedTopics: map[string]bool{"t": true}}
		checkSecured(t, got, want)

		got = resolveJSON(t, `{"bootstrap_servers":["k1:9093"],"topic":"t","tls":{"enabled":true},
			"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_file":`+q(token)+`}}}`)
		want.Cluster.TLS = &TLS{MinVersion: tls.VersionTLS12}
		want.Cluster.SASL = &SASL{Mechanism: SASLOAuthBearer, OAuth: &OAuth{TokenFile: token, Params: map[string]string{}}}
		checkSecured(t, got, want)
		if d := got.Cluster.Describe(); d != "[k1:9093] (SASL_SSL OAUTHBEARER)" {
			t.Errorf("Describe = %q", d)
		}
	})

	t.Run("PLAIN without TLS, snappy 2", func(t *testing.T) {
		resetCodecLevels(t)
		got := resolveJSON(t, `{"bootstrap_servers":["k1:9092"],"topic":"t",
			"sasl":{"mechanism":"PLAIN","username":"alice","password":"alice-secret"},
			"compression":"snappy","compression_level":2}`)
		want := defaults()
		want.Cluster = Cluster{Brokers: []string{"k1:9092"}, ClientID: "kafka-upstream",
			SASL: &SASL{Mechanism: SASLPlain, Username: "alice", Password: NewSecret("alice-secret")}}
		want.Routing = Routing{Topic: "t", AllowedTopics: map[string]bool{"t": true}}
		want.Producer.Compression, want.Producer.CompressionLevel = "snappy", level(2)
		checkSecured(t, got, want)
		if v, _ := got.Cluster.SASL.Password.Reveal(); v != "alice-secret" {
			t.Errorf("password = %q", v)
		}
		if got.Cluster.SASL.Password.File() != "" {
			t.Errorf("inline password has file %q", got.Cluster.SASL.Password.File())
		}
	})
}

// checkSecured is checkSettings printing what the pointers point to.
func checkSecured(t *testing.T, got *Settings, want Settings) {
	t.Helper()
	if reflect.DeepEqual(*got, want) {
		return
	}
	show := func(s *Settings) string {
		level := "nil"
		if s.Producer.CompressionLevel != nil {
			level = fmt.Sprint(*s.Producer.CompressionLevel)
		}
		var oauth any
		if s.Cluster.SASL != nil {
			oauth = s.Cluster.SASL.OAuth
		}
		return fmt.Sprintf("%+v\n  TLS %+v\n  SASL %+v\n  OAuth %+v\n  level %s", *s, s.Cluster.TLS, s.Cluster.SASL, oauth, level)
	}
	t.Errorf("settings\n got %s\nwant %s", show(got), show(&want))
}

func TestDescribe(t *testing.T) {
	brokers := []string{"k:1"}
	for _, tt := range []struct {
		c    Cluster
		want string
	}{
		{Cluster{Brokers: brokers}, "[k:1] (plaintext)"},
		{Cluster{Brokers: brokers, TLS: &TLS{}}, "[k:1] (SSL)"},
		{Cluster{Brokers: brokers, SASL: &SASL{Mechanism: SASLPlain, Password: NewSecret("p")}}, "[k:1] (SASL_PLAINTEXT PLAIN)"},
		{Cluster{Brokers: brokers, TLS: &TLS{}, SASL: &SASL{Mechanism: SASLScramSHA256}}, "[k:1] (SASL_SSL SCRAM-SHA-256)"},
	} {
		if got := tt.c.Describe(); got != tt.want {
			t.Errorf("Describe = %q, want %q", got, tt.want)
		}
	}
}

func TestSecretReveal(t *testing.T) {
	dir := t.TempDir()
	if v, err := NewSecret("inline").Reveal(); v != "inline" || err != nil {
		t.Errorf("inline: %q, %v", v, err)
	}
	if NewSecret("").IsSet() || (Secret{}).IsSet() || !NewSecret("x").IsSet() || !SecretFile("/f").IsSet() {
		t.Error("IsSet is wrong")
	}
	path := writeFile(t, filepath.Join(dir, "s"), "  first\n")
	s := SecretFile(path)
	if v, err := s.Reveal(); v != "first" || err != nil {
		t.Errorf("file: %q, %v", v, err)
	}
	writeFile(t, path, "second\r\n")
	if v, err := s.Reveal(); v != "second" || err != nil {
		t.Errorf("file read again: %q, %v (want each Reveal to read the file)", v, err)
	}
	writeFile(t, path, "\n")
	if _, err := s.Reveal(); err == nil || err.Error() != "secret file "+path+" is empty" {
		t.Errorf("empty file: %v", err)
	}
	os.Remove(path)
	if _, err := s.Reveal(); err == nil || err.Error() != "reading secret file: open "+path+": no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
}

// Secrets, inline or from files, never show when settings are printed.
func TestSecretsNeverPrinted(t *testing.T) {
	f := newSecFiles(t)
	pwFile := writeFile(t, filepath.Join(f.dir, "pw"), "file-S3CRET-pw\n")
	csFile := writeFile(t, filepath.Join(f.dir, "cs"), "file-S3CRET-cs\n")
	secrets := []string{"inline-S3CRET-pw", "inline-S3CRET-cs", "file-S3CRET-pw", "file-S3CRET-cs"}
	configs := []string{
		`"sasl":{"mechanism":"PLAIN","username":"alice","password":"inline-S3CRET-pw"}`,
		`"sasl":{"mechanism":"SCRAM-SHA-256","username":"alice","password_file":` + q(pwFile) + `}`,
		`"tls":{"enabled":true},"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"https://idp/token","client_id":"c","client_secret":"inline-S3CRET-cs"}}`,
		`"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"https://idp/token","client_id":"c","client_secret_file":` + q(csFile) + `}}`,
	}
	for _, extra := range configs {
		s, err := resolveWith(extra)
		if err != nil {
			t.Fatal(err)
		}
		var prints []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			prints = append(prints,
				fmt.Sprintf(verb, *s), fmt.Sprintf(verb, s), fmt.Sprintf(verb, s.Cluster),
				fmt.Sprintf(verb, s.Cluster.SASL), fmt.Sprintf(verb, *s.Cluster.SASL),
				fmt.Sprintf(verb, s.Cluster.SASL.Password))
			if o := s.Cluster.SASL.OAuth; o != nil {
				prints = append(prints, fmt.Sprintf(verb, o), fmt.Sprintf(verb, *o), fmt.Sprintf(verb, o.ClientSecret))
			}
		}
		prints = append(prints, fmt.Sprint(s.Cluster.SASL), fmt.Sprint(*s), fmt.Sprintln(s.Cluster.SASL.OAuth))
		var text, js strings.Builder
		slog.New(slog.NewTextHandler(&text, nil)).Info("loaded", "sasl", s.Cluster.SASL, "settings", s)
		slog.New(slog.NewJSONHandler(&js, nil)).Info("loaded", "sasl", s.Cluster.SASL, "settings", s)
		prints = append(prints, text.String(), js.String())
		for _, p := range prints {
			for _, secret := range secrets {
				if strings.Contains(p, secret) {
					t.Errorf("%s: printed %q", extra, p)
				}
			}
		}
	}

	s, err := resolveWith(configs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(s.Cluster.SASL), "{Mechanism:PLAIN Username:alice Password:[redacted] OAuth:<nil>}"; got != want {
		t.Errorf("fmt.Sprint(SASL) = %q, want %q", got, want)
	}
	if got, want := fmt.Sprintf("%#v", s.Cluster.SASL.Password), "config.Secret{[redacted]}"; got != want {
		t.Errorf("%%#v of the password = %q, want %q", got, want)
	}
}

// Secret's documentation says it never prints; that holds for every verb,
// not only those that call String.
func TestSecretNeverPrintsWithAnyVerb(t *testing.T) {
	s := &SASL{Mechanism: SASLPlain, Username: "alice", Password: NewSecret("inline-S3CRET-pw")}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%p", "%T"} {
		for _, v := range []any{s.Password, s, *s} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, "S3CRET") || strings.Contains(out, fmt.Sprintf("%x", "inline-S3CRET-pw")) {
				t.Errorf("fmt.Sprintf(%q, %T) = %q shows the secret", verb, v, out)
			}
		}
	}
}

// protojson repeats the value it could not take; for a secret field the
// error says what is wrong without it.
func TestSecretTypeErrorsDoNotEchoTheValue(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"sasl.password a number", `{"sasl":{"mechanism":"PLAIN","username":"u","password":987654321}}`,
			"sasl.password: must be a string (the value is not shown: it is a secret)"},
		{"sasl.password a bool", `{"sasl":{"password":true}}`,
			"sasl.password: must be a string (the value is not shown: it is a secret)"},
		{"sasl.password a list", `{"sasl":{"password":["S3CRET-in-a-list"]}}`,
			"sasl.password: must be a string (the value is not shown: it is a secret)"},
		{"sasl.password an object", `{"sasl":{"password":{"S3CRET-key":"S3CRET-value"}}}`,
			"sasl.password: must be a string (the value is not shown: it is a secret)"},
		{"client_secret a number", `{"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"client_id":"c","client_secret":987654321}}}`,
			"sasl.oauthbearer.client_secret: must be a string (the value is not shown: it is a secret)"},
		{"clientSecret in camelCase", `{"sasl":{"oauthbearer":{"clientSecret":987654321}}}`,
			"sasl.oauthbearer.clientSecret: must be a string (the value is not shown: it is a secret)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromJSON([]byte(tt.json))
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got %v\nwant %s", err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), "987654321") || strings.Contains(err.Error(), "S3CRET")) {
				t.Errorf("error shows the value: %v", err)
			}
		})
	}

	// YAML: an unquoted number or yes is no string.
	for _, tt := range []struct{ yaml, want string }{
		{"sasl: {mechanism: PLAIN, username: u, password: 987654321}\n", "sasl.password: must be a string (the value is not shown: it is a secret)"},
		{"sasl:\n  oauthbearer:\n    client_secret: yes\n", "sasl.oauthbearer.client_secret: must be a string (the value is not shown: it is a secret)"},
	} {
		_, err := FromYAML([]byte(tt.yaml))
		if err == nil || err.Error() != tt.want {
			t.Errorf("YAML %q: error\n got %v\nwant %s", tt.yaml, err, tt.want)
		}
	}

	// The golang filter's TypedStruct.
	a := kfaketest.TypedStruct(t, TypeURL, map[string]any{
		"bootstrap_servers": []any{"k:1"}, "topic": "t",
		"sasl": map[string]any{"mechanism": "PLAIN", "username": "u", "password": 987654321},
	})
	_, err := FromAny(a)
	if want := "sasl.password: must be a string (the value is not shown: it is a secret)"; err == nil || err.Error() != want {
		t.Errorf("TypedStruct: error\n got %v\nwant %s", err, want)
	}

	// The ext_proc server's file.
	_, err = ServerFromYAML([]byte("configs:\n  a: {bootstrap_servers: [\"k:1\"], topic: a, sasl: {mechanism: PLAIN, username: u, password: 987654321}}\n"))
	if want := "configs.a.sasl.password: must be a string (the value is not shown: it is a secret)"; err == nil || err.Error() != want {
		t.Errorf("server config: error\n got %v\nwant %s", err, want)
	}
}

// Errors about the files a config names (CA, certificate, key, secrets,
// token) name the file, never what is in it.
func TestFileErrorsNameTheFileNotItsContent(t *testing.T) {
	f := newSecFiles(t)
	const content = "S3CRET-content"
	secretFile := writeFile(t, filepath.Join(f.dir, "secret"), content)
	whitespace := writeFile(t, filepath.Join(f.dir, "blank"), "\n\n")
	tests := []struct {
		name, extra string
		names       string // the file the error must name, "" when the library names none
	}{
		{"ca_file", `"tls":{"enabled":true,"ca_file":` + q(secretFile) + `}`, secretFile},
		{"key_file", `"tls":{"enabled":true,"cert_file":` + q(f.cert) + `,"key_file":` + q(secretFile) + `}`, ""},
		{"cert_file", `"tls":{"enabled":true,"cert_file":` + q(secretFile) + `,"key_file":` + q(f.key) + `}`, ""},
		{"password_file empty", `"sasl":{"mechanism":"PLAIN","username":"u","password_file":` + q(whitespace) + `}`, whitespace},
		{"password_file fine, another problem", `"sasl":{"mechanism":"PLAIN","password_file":` + q(secretFile) + `}`, ""},
		{"client_secret_file empty", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"https://idp/t","client_id":"c","client_secret_file":` + q(whitespace) + `}}`, whitespace},
		{"client_secret_file fine, another problem", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"ftp://idp/t","client_id":"c","client_secret_file":` + q(secretFile) + `}}`, ""},
		{"token_file with a client id", `"sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_file":` + q(secretFile) + `,"client_id":"c"}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolveWith(tt.extra)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), content) {
				t.Errorf("error shows the file's content: %v", err)
			}
			if tt.names != "" && !strings.Contains(err.Error(), tt.names) {
				t.Errorf("error does not name %s: %v", tt.names, err)
			}
		})
	}
}
