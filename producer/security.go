package producer

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/tlsfiles"
)

// tlsConfig is the client side of TLS to the brokers; a client
// certificate that cannot be loaded is a TLS failure of authentication.
func tlsConfig(t *config.TLS) *tls.Config {
	return tlsfiles.Config(t, func(err error) error {
		return &AuthError{Cause: "loading the client certificate", TLS: true, Err: err}
	})
}

// mechanism returns the SASL mechanism of s, nil for none. Passwords and
// tokens are read on every new connection (each one authenticates once),
// so a rotated secret file takes effect without a restart.
func mechanism(s *config.SASL, onToken func()) sasl.Mechanism {
	if s == nil {
		return nil
	}
	switch s.Mechanism {
	case config.SASLPlain:
		return &secretMechanism{name: s.Mechanism, build: func(pw string) (sasl.Mechanism, error) {
			return plain.Mechanism{Username: s.Username, Password: pw}, nil
		}, password: s.Password}
	case config.SASLScramSHA256, config.SASLScramSHA512:
		algo := scram.SHA256
		if s.Mechanism == config.SASLScramSHA512 {
			algo = scram.SHA512
		}
		return &secretMechanism{name: s.Mechanism, build: func(pw string) (sasl.Mechanism, error) {
			return scram.Mechanism(algo, s.Username, pw)
		}, password: s.Password}
	case config.SASLOAuthBearer:
		return &oauthBearer{tokens: newTokenSource(s.OAuth, onToken)}
	}
	panic("producer: SASL mechanism not validated: " + s.Mechanism)
}

// secretMechanism builds kafka-go's PLAIN or SCRAM mechanism with the
// password as it is when a connection starts.
type secretMechanism struct {
	name     string
	password config.Secret
	build    func(password string) (sasl.Mechanism, error)
}

func (m *secretMechanism) Name() string { return m.name }

func (m *secretMechanism) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	pw, err := m.password.Reveal()
	if err != nil {
		return nil, nil, &AuthError{Cause: "reading the SASL password", Err: err}
	}
	mech, err := m.build(pw)
	if err != nil {
		return nil, nil, &AuthError{Cause: "SASL " + m.name, Err: err}
	}
	return mech.Start(ctx)
}

// oauthBearer is SASL OAUTHBEARER (RFC 7628), which kafka-go lacks: the
// client's first message carries the token; an empty challenge means
// success, anything else is the broker's error, answered with %x01.
type oauthBearer struct {
	tokens *tokenSource
}

func (m *oauthBearer) Name() string { return config.SASLOAuthBearer }

func (m *oauthBearer) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	token, err := m.tokens.token(ctx)
	if err != nil {
		return nil, nil, err
	}
	return &oauthSession{}, []byte("n,,\x01auth=Bearer " + token + "\x01\x01"), nil
}

type oauthSession struct{ brokerError string }

func (s *oauthSession) Next(_ context.Context, challenge []byte) (bool, []byte, error) {
	if s.brokerError != "" {
		return false, nil, fmt.Errorf("OAUTHBEARER refused by the broker: %s", s.brokerError)
	}
	if len(challenge) != 0 {
		s.brokerError = string(challenge)
		return false, []byte{1}, nil
	}
	return true, nil, nil
}
