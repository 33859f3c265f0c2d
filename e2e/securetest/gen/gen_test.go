package gen

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestEnsure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secure")
	generated, err := Ensure(dir)
	if err != nil || !generated {
		t.Fatalf("first Ensure: generated %v, err %v", generated, err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, CACert))
	if err != nil {
		t.Fatal(err)
	}
	// Idempotent: nothing is rewritten while the set is valid.
	if generated, err := Ensure(dir); err != nil || generated {
		t.Fatalf("second Ensure: generated %v, err %v", generated, err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, CACert)); !bytes.Equal(again, ca) {
		t.Fatal("second Ensure rewrote ca.crt")
	}

	for _, name := range []string{CAKey, BrokerPEM, ExpiredPEM, ClientKey, ClientPEM, JWTKey} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, st.Mode().Perm())
		}
	}

	// The broker cert verifies for 127.0.0.1 and localhost; the expired one
	// is the 2024 one; the client pair loads; the other CA trusts nothing.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	broker, err := tls.LoadX509KeyPair(filepath.Join(dir, BrokerPEM), filepath.Join(dir, BrokerPEM))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(broker.Certificate[0])
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("broker cert for %s: %v", host, err)
		}
	}
	other := x509.NewCertPool()
	otherPEM, _ := os.ReadFile(filepath.Join(dir, OtherCACert))
	other.AppendCertsFromPEM(otherPEM)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: other}); err == nil {
		t.Error("the other CA trusts the broker cert")
	}
	exp, err := ReadCert(filepath.Join(dir, ExpiredPEM))
	if err != nil {
		t.Fatal(err)
	}
	if !exp.NotAfter.Equal(ExpiredNotAfter) || exp.CheckSignatureFrom(mustCert(t, filepath.Join(dir, CACert))) != nil {
		t.Errorf("expired.pem: valid until %s, signature %v", exp.NotAfter, exp.CheckSignatureFrom(mustCert(t, filepath.Join(dir, CACert))))
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, ClientCert), filepath.Join(dir, ClientKey)); err != nil {
		t.Error(err)
	}

	// A missing file or another version regenerates everything.
	if err := os.Remove(filepath.Join(dir, JWKS)); err != nil {
		t.Fatal(err)
	}
	if generated, err := Ensure(dir); err != nil || !generated {
		t.Fatalf("Ensure after removing jwks.json: generated %v, err %v", generated, err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, CACert)); bytes.Equal(again, ca) {
		t.Fatal("regeneration kept the old CA")
	}
	if err := os.WriteFile(filepath.Join(dir, VersionFile), []byte("v0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if generated, err := Ensure(dir); err != nil || !generated {
		t.Fatalf("Ensure after a version change: generated %v, err %v", generated, err)
	}
	// Material that expires within RenewBefore does not check.
	if err := Check(dir, time.Now().Add(Validity-time.Hour), RenewBefore); err == nil {
		t.Error("Check accepts material that expires within a day")
	}
	if err := Check(dir, time.Now(), RenewBefore); err != nil {
		t.Error(err)
	}
}

func mustCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := ReadCert(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
