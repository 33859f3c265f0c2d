package config

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Secret is a password, client secret or token, given in the config or in
// a file (a Kubernetes secret). It never prints: fmt, logs and panics show
// "[redacted]", so a Settings value can be printed safely.
type Secret struct {
	// Behind a pointer: fmt prints a nested pointer as an address, so even
	// a verb that bypasses String and Format (%p on a struct holding one)
	// cannot show the value.
	v *secretValue
}

type secretValue struct {
	value string
	file  string
}

// String hides the secret.
func (s Secret) String() string { return "[redacted]" }

// GoString hides the secret from %#v too.
func (s Secret) GoString() string { return "config.Secret{[redacted]}" }

// Format hides the secret from every verb: fmt prints a value it has no
// String for (a wrong verb, %d, %x) field by field.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, "[redacted]")
}

// IsSet reports a secret given in the config or through a file.
func (s Secret) IsSet() bool { return s.v != nil && (s.v.value != "" || s.v.file != "") }

// File is the file the secret is read from, "" when inline.
func (s Secret) File() string {
	if s.v == nil {
		return ""
	}
	return s.v.file
}

// Reveal returns the secret: the inline value, or the file's content
// without surrounding whitespace (files written by editors and
// `kubectl create secret` end in a newline). Errors name the file, never
// its content.
func (s Secret) Reveal() (string, error) {
	if s.v == nil {
		return "", nil
	}
	if s.v.file == "" {
		return s.v.value, nil
	}
	b, err := os.ReadFile(s.v.file)
	if err != nil {
		return "", fmt.Errorf("reading secret file: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("secret file %s is empty", s.v.file)
	}
	return v, nil
}

// NewSecret is a secret with an inline value (tests, programs).
func NewSecret(value string) Secret { return Secret{v: &secretValue{value: value}} }

// SecretFile is a secret read from file.
func SecretFile(file string) Secret { return Secret{v: &secretValue{file: file}} }

// secretFrom resolves a value/file pair of fields: exactly one may be set,
// and a file must be readable now (it is re-read later, so rotation works).
func secretFrom(value, file, field, fileField string, p *problems) Secret {
	switch {
	case value != "" && file != "":
		p.add(field, "set %s or %s, not both", field, fileField)
		return NewSecret(value) // set, so no second complaint that it is missing
	case file != "":
		s := SecretFile(file)
		if _, err := s.Reveal(); err != nil {
			p.add(fileField, "%v", err)
		}
		return s
	case value != "":
		return NewSecret(value)
	}
	return Secret{}
}
