// Package gen writes the certificates, keys and JWKS that the secured
// listeners of e2e/kafka.sh and the tests in e2e/securetest use. It needs
// the standard library only (no openssl), so that `go run
// ./e2e/securetest/cmd/gen DIR` is all a machine needs.
//
// Files in DIR (keys are mode 0600, the rest 0644):
//
//	ca.crt, ca.key        the test CA (RSA 2048, CN=kafka-upstream test CA)
//	broker.pem            PKCS#8 key + broker cert + CA cert, SANs IP:127.0.0.1
//	                      and DNS:localhost, serverAuth (Kafka's PEM keystore)
//	expired.pem           the same for a broker cert valid 2024-01-01..2024-02-01,
//	                      signed by the same CA
//	client.crt, client.key  client cert (CN=client, clientAuth) and PKCS#8 key
//	client.pem            client.key + client.crt + ca.crt in one file (Java clients)
//	other-ca.crt          a CA that signed nothing here ("untrusted")
//	jwks.json, jwt.key    JWKS with one RSA key (kid k1, RS256) and its PKCS#8 key
//	VERSION               written last: a complete set of this generator's version
package gen

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Version is written to DIR/VERSION; a directory with another version is
// regenerated. Bump it whenever the files or their contents change.
const Version = "kafka-upstream securetest material v1"

// Validity of the certificates. Regeneration replaces files that a running
// broker has loaded, so it should be rare: a year, renewed when less than
// RenewBefore remains.
const (
	Validity    = 365 * 24 * time.Hour
	RenewBefore = 24 * time.Hour
)

// KeyID is the "kid" of the JWT signing key in jwks.json.
const KeyID = "k1"

// File names inside the material directory.
const (
	CACert      = "ca.crt"
	CAKey       = "ca.key"
	BrokerPEM   = "broker.pem"
	ExpiredPEM  = "expired.pem"
	ClientCert  = "client.crt"
	ClientKey   = "client.key"
	ClientPEM   = "client.pem"
	OtherCACert = "other-ca.crt"
	JWKS        = "jwks.json"
	JWTKey      = "jwt.key"
	VersionFile = "VERSION"
)

// ExpiredNotBefore and ExpiredNotAfter bound the expired broker certificate.
var (
	ExpiredNotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	ExpiredNotAfter  = time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
)

// Ensure makes dir hold a complete, valid set of material, generating all of
// it when anything is missing, unreadable, of another version, not chaining
// to the CA, or expiring within RenewBefore. It reports whether it
// generated. Concurrent calls on one dir are serialised with a lock file.
func Ensure(dir string) (generated bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return false, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return false, fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	if Check(dir, time.Now(), RenewBefore) == nil {
		return false, nil
	}
	if err := generate(dir, time.Now()); err != nil {
		return false, err
	}
	if err := Check(dir, time.Now(), RenewBefore); err != nil {
		return true, fmt.Errorf("material just generated in %s does not check: %w", dir, err)
	}
	return true, nil
}

// Check returns why dir does not hold a complete set that is valid at time
// now and for at least minLeft after it, or nil.
func Check(dir string, now time.Time, minLeft time.Duration) error {
	v, err := os.ReadFile(filepath.Join(dir, VersionFile))
	if err != nil {
		return err
	}
	if string(bytes.TrimSpace(v)) != Version {
		return fmt.Errorf("%s is %q, not %q", VersionFile, bytes.TrimSpace(v), Version)
	}
	ca, err := readCert(filepath.Join(dir, CACert))
	if err != nil {
		return err
	}
	if _, err := readKey(filepath.Join(dir, CAKey)); err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	check := func(name string, usage x509.ExtKeyUsage) error {
		c, err := readCert(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if now.Add(minLeft).After(c.NotAfter) {
			return fmt.Errorf("%s expires at %s", name, c.NotAfter)
		}
		_, err = c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	if now.Add(minLeft).After(ca.NotAfter) {
		return fmt.Errorf("%s expires at %s", CACert, ca.NotAfter)
	}
	for _, c := range []struct {
		name  string
		usage x509.ExtKeyUsage
	}{
		{BrokerPEM, x509.ExtKeyUsageServerAuth},
		{ClientCert, x509.ExtKeyUsageClientAuth},
		{ClientPEM, x509.ExtKeyUsageClientAuth},
	} {
		if err := check(c.name, c.usage); err != nil {
			return err
		}
	}
	// The CA did not exist in 2024, so the expired cert cannot be verified
	// as a chain at any time: check its signature and dates instead.
	exp, err := readCert(filepath.Join(dir, ExpiredPEM))
	if err != nil {
		return err
	}
	if err := exp.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("%s: %w", ExpiredPEM, err)
	}
	if !exp.NotBefore.Equal(ExpiredNotBefore) || !exp.NotAfter.Equal(ExpiredNotAfter) {
		return fmt.Errorf("%s is valid %s..%s, not %s..%s", ExpiredPEM, exp.NotBefore, exp.NotAfter, ExpiredNotBefore, ExpiredNotAfter)
	}
	for _, name := range []string{BrokerPEM, ExpiredPEM, ClientKey, ClientPEM} {
		if _, err := readKey(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	if _, err := readCert(filepath.Join(dir, OtherCACert)); err != nil {
		return err
	}
	key, err := readKey(filepath.Join(dir, JWTKey))
	if err != nil {
		return err
	}
	want, err := jwks(&key.PublicKey)
	if err != nil {
		return err
	}
	got, err := os.ReadFile(filepath.Join(dir, JWKS))
	if err != nil {
		return err
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		return fmt.Errorf("%s does not hold the public key of %s", JWKS, JWTKey)
	}
	return nil
}

type file struct {
	name string
	data []byte
	mode os.FileMode
}

func generate(dir string, now time.Time) error {
	notBefore := now.Add(-time.Hour).UTC().Truncate(time.Second) // some clock skew
	notAfter := notBefore.Add(Validity)

	caKey, ca, err := newCA("kafka-upstream test CA", notBefore, notAfter)
	if err != nil {
		return err
	}
	_, otherCA, err := newCA("kafka-upstream untrusted CA", notBefore, notAfter)
	if err != nil {
		return err
	}
	server := func(key *rsa.PrivateKey, cn string, nb, na time.Time) (*x509.Certificate, error) {
		return issue(ca, caKey, key, &x509.Certificate{
			Subject:     pkix.Name{CommonName: cn},
			NotBefore:   nb,
			NotAfter:    na,
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:    []string{"localhost"},
		})
	}
	brokerKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	broker, err := server(brokerKey, "localhost", notBefore, notAfter)
	if err != nil {
		return err
	}
	// Same key, different validity: only the dates make it fail.
	expired, err := server(brokerKey, "localhost", ExpiredNotBefore, ExpiredNotAfter)
	if err != nil {
		return err
	}
	clientKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	client, err := IssueClient(ca, caKey, clientKey, "client", notBefore, notAfter)
	if err != nil {
		return err
	}
	jwtKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	set, err := jwks(&jwtKey.PublicKey)
	if err != nil {
		return err
	}

	files := []file{
		{CACert, CertPEM(ca), 0o644},
		{CAKey, KeyPEM(caKey), 0o600},
		{BrokerPEM, join(KeyPEM(brokerKey), CertPEM(broker), CertPEM(ca)), 0o600},
		{ExpiredPEM, join(KeyPEM(brokerKey), CertPEM(expired), CertPEM(ca)), 0o600},
		{ClientCert, CertPEM(client), 0o644},
		{ClientKey, KeyPEM(clientKey), 0o600},
		{ClientPEM, join(KeyPEM(clientKey), CertPEM(client), CertPEM(ca)), 0o600},
		{OtherCACert, CertPEM(otherCA), 0o644},
		{JWKS, set, 0o644},
		{JWTKey, KeyPEM(jwtKey), 0o600},
	}
	// VERSION goes first out and last in, so that an interrupted run leaves
	// an incomplete set that the next run regenerates.
	if err := os.Remove(filepath.Join(dir, VersionFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, f := range files {
		if err := writeAtomic(dir, f); err != nil {
			return err
		}
	}
	return writeAtomic(dir, file{VersionFile, []byte(Version + "\n"), 0o644})
}

func writeAtomic(dir string, f file) error {
	tmp, err := os.CreateTemp(dir, "."+f.name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: nothing to remove
	if err := tmp.Chmod(f.mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(f.data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, f.name))
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func newCA(cn string, notBefore, notAfter time.Time) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"kafka-upstream tests"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

func issue(ca *x509.Certificate, caKey *rsa.PrivateKey, key *rsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, error) {
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = sn
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// IssueClient signs a client certificate (clientAuth, CN=cn) for key with
// the CA. e2e/securetest uses it for extra client certificates (rotation,
// expired client certificates).
func IssueClient(ca *x509.Certificate, caKey *rsa.PrivateKey, key *rsa.PrivateKey, cn string, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	return issue(ca, caKey, key, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// CertPEM encodes a certificate as a PEM "CERTIFICATE" block.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// KeyPEM encodes an RSA key as an unencrypted PKCS#8 "PRIVATE KEY" block,
// the form Kafka's PEM keystore reads.
func KeyPEM(k *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err) // cannot fail for an RSA key
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func jwks(pub *rsa.PublicKey) ([]byte, error) {
	b64 := base64.RawURLEncoding
	b, err := json.MarshalIndent(map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "kid": KeyID, "use": "sig", "alg": "RS256",
		"n": b64.EncodeToString(pub.N.Bytes()),
		"e": b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ReadCert returns the first certificate of a PEM file.
func ReadCert(path string) (*x509.Certificate, error) { return readCert(path) }

// ReadKey returns the RSA private key (PKCS#8 or PKCS#1) of a PEM file.
func ReadKey(path string) (*rsa.PrivateKey, error) { return readKey(path) }

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s: no CERTIFICATE block", path)
		}
		if blk.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return c, nil
		}
	}
}

func readKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s: no PRIVATE KEY block", path)
		}
		switch blk.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("%s: not an RSA key", path)
			}
			return rk, nil
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return k, nil
		}
	}
}
