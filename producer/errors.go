package producer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/segmentio/kafka-go"
)

// Reason classifies a failed publish.
type Reason int

const (
	// Unavailable: the brokers could not be reached (after
	// maxNetworkAttempts tries), or refused the record for a reason that
	// retrying cannot fix (authorization, invalid record, …).
	Unavailable Reason = iota
	// TooLarge: the record exceeds batching.bytes; it was not sent.
	TooLarge
	// BrokerTooLarge: the broker refused the record as larger than its
	// (or the topic's) max.message.bytes.
	BrokerTooLarge
	// Timeout: no acknowledgement within produce_timeout. A write in
	// flight may still land (at-least-once): nobody is told.
	Timeout
	// Canceled: the caller gave up (the HTTP stream was reset).
	Canceled
	// Closed: the configuration was replaced and its producer closed.
	Closed
	// UnknownTopic: a target topic does not exist and the broker may not
	// create it; nothing was written.
	UnknownTopic
	// UnknownPartition: the named partition is not one of the topic's;
	// nothing was written.
	UnknownPartition
	// AuthFailed: SASL authentication failed (wrong password, mechanism
	// not enabled on the broker, token refused) or no credential could be
	// had (token endpoint down, unreadable secret file).
	AuthFailed
	// TLSFailed: the TLS handshake with a broker failed (untrusted or
	// expired certificate, wrong server name, client certificate refused).
	TLSFailed
)

// AuthError is a credential that could not be had: a secret file that
// cannot be read, a token endpoint that fails. Its text never holds a
// secret.
type AuthError struct {
	Cause string
	// TLS: the credential is the TLS client certificate.
	TLS bool
	Err error
}

func (e *AuthError) Error() string { return e.Cause + ": " + e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// Error is a failed publish with its reason and the underlying error.
type Error struct {
	Reason Reason
	// Topic is the topic the failure concerns, when it concerns one.
	Topic string
	// Size is the record's size in bytes, for TooLarge.
	Size int64
	Err  error
}

// Error is the cause as a person reads it: kafka-go's WriteErrors, one per
// record of a write, say "Kafka write errors (1/1), errors: [...]"; the
// record's own error is what matters.
func (e *Error) Error() string {
	var werrs kafka.WriteErrors
	if errors.As(e.Err, &werrs) {
		for _, err := range werrs {
			if err != nil {
				return err.Error()
			}
		}
	}
	return e.Err.Error()
}
func (e *Error) Unwrap() error { return e.Err }

// retriable says whether writing again may succeed.
func retriable(err error) bool {
	if securityReason(err) != Unavailable {
		// A wrong password or an untrusted certificate stays so.
		return false
	}
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary()
	}
	return isNetwork(err)
}

// isNetwork reports a failure to reach or talk to a broker.
func isNetwork(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// securityReason tells TLS and authentication failures apart from other
// ones; they must be recognised before isNetwork, which would take a TLS
// alert or a token endpoint that is down for an unreachable broker.
func securityReason(err error) Reason {
	var authErr *AuthError
	var kerr kafka.Error
	var verifyErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var opErr *net.OpError
	switch {
	case errors.As(err, &authErr) && authErr.TLS:
		return TLSFailed
	case errors.As(err, &authErr):
		return AuthFailed
	case errors.As(err, &kerr) && (kerr == kafka.SASLAuthenticationFailed || kerr == kafka.UnsupportedSASLMechanism || kerr == kafka.IllegalSASLState):
		return AuthFailed
	case errors.As(err, &verifyErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidErr), errors.As(err, &recordErr):
		return TLSFailed
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		// A TLS alert from the broker ("tls: bad certificate", "protocol
		// version not supported"): crypto/tls reports it as a net.OpError.
		return TLSFailed
	case strings.Contains(err.Error(), "broker appears to be expecting TLS"):
		return TLSFailed
	}
	return Unavailable
}

func classify(ctx context.Context, err error) Reason {
	if r := securityReason(err); r != Unavailable {
		return r
	}
	var tooLarge kafka.MessageTooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return TooLarge
	case errors.Is(err, kafka.MessageSizeTooLarge), errors.Is(err, kafka.RecordListTooLarge):
		return BrokerTooLarge
	case errors.Is(err, io.ErrClosedPipe):
		return Closed
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return Timeout
	case ctx.Err() != nil:
		return Canceled
	}
	return Unavailable
}
