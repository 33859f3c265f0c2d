// Package tlsfiles builds the client side of a TLS connection from a
// config's files: the CAs, the server name and version, and a client
// certificate re-read when its files change (cert-manager rotates them in
// place). The Kafka producer and the schema registry client share it.
package tlsfiles

import (
	"crypto/tls"
	"os"
	"sync"
	"time"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
)

// Config is t as a *tls.Config, nil for nil. certErr wraps a failure to
// load the client certificate, for the caller to classify.
func Config(t *config.TLS, certErr func(error) error) *tls.Config {
	if t == nil {
		return nil
	}
	c := &tls.Config{
		RootCAs:            t.RootCAs,
		ServerName:         t.ServerName,
		MinVersion:         t.MinVersion,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // an explicit, logged choice of the config
	}
	if t.CertFile != "" {
		kp := &keyPair{certFile: t.CertFile, keyFile: t.KeyFile, wrap: certErr}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	}
	return c
}

// keyPair caches a certificate and key loaded from files, reloading them
// when either file's modification time changes, checked at most once per
// connection.
type keyPair struct {
	certFile, keyFile string
	wrap              func(error) error

	mu      sync.Mutex
	stamp   [2]time.Time
	current *tls.Certificate
}

func (k *keyPair) get() (*tls.Certificate, error) {
	stamp := [2]time.Time{ModTime(k.certFile), ModTime(k.keyFile)}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current != nil && stamp == k.stamp {
		return k.current, nil
	}
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.current != nil {
			// Half-written during a rotation: keep the last good pair.
			return k.current, nil
		}
		if k.wrap != nil {
			err = k.wrap(err)
		}
		return nil, err
	}
	k.current, k.stamp = &cert, stamp
	return k.current, nil
}

// ModTime is a file's modification time, zero when it cannot be read:
// how rotated files are noticed.
func ModTime(path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}
