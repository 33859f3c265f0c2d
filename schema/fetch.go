package schema

import (
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/riferrei/srclient"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
)

// Fetching from the registry: a schema by subject, version or id, the
// schemas it references, compiled for its format; one registry URL after
// the other, with the credentials as they are now, and auto-registration.
// The cache that calls this, and what requests see of it, is registry.go's.

// loadSafely is load in a goroutine of its own: a panic there (a
// library's, on a schema it chokes on) would end the whole process, Envoy
// included; it becomes the fetch's error.
func (r *Registry) loadSafely(l lookup, b *config.RecordSchema) (c *compiled, err error) {
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, &Error{Kind: BadResponse, What: describe(l), Err: fmt.Errorf("compiling the registry's schema panicked: %v", p)}
		}
	}()
	return r.load(l, b)
}

// load fetches l's schema and its references and compiles them.
func (r *Registry) load(l lookup, b *config.RecordSchema) (*compiled, error) {
	s, err := r.call(l, b, func(sr *srclient.SchemaRegistryClient) (*srclient.Schema, error) {
		switch {
		case l.id != 0:
			return sr.GetSchema(l.id)
		case l.version != 0:
			return sr.GetSchemaByVersion(l.subject, l.version)
		default:
			return sr.GetLatestSchema(l.subject)
		}
	})
	if err != nil {
		return nil, err
	}
	if got := formatOf(s); got != b.Format {
		return nil, &Error{Kind: BadResponse, What: describe(l), Err: fmt.Errorf("the registry's schema is %s, the config says %s", got, b.Format)}
	}
	refs, order, err := r.references(l, s.References(), map[string]bool{})
	if err != nil {
		return nil, err
	}
	var c codec
	switch b.Format {
	case config.SchemaAvro:
		ordered := make([]string, len(order))
		for i, name := range order {
			ordered[i] = refs[name]
		}
		c, err = compileAvro(s.Schema(), ordered, b.AvroJSON)
	case config.SchemaJSON:
		c, err = compileJSONSchema(s.Schema(), refs)
	default:
		c, err = compileProtobuf(s.Schema(), refs, b.MessageName)
	}
	if err != nil {
		return nil, &Error{Kind: BadResponse, What: describe(l), Err: fmt.Errorf("the registry's schema does not compile: %w", err)}
	}
	return &compiled{id: s.ID(), codec: c}, nil
}

// references fetches refs and theirs, depth first: name → text, and the
// names in an order where each comes after what it references. Nothing is
// auto-registered under their subjects: the configured schema is the
// record's, not theirs.
func (r *Registry) references(l lookup, refs []srclient.Reference, seen map[string]bool) (map[string]string, []string, error) {
	texts := map[string]string{}
	var order []string
	for _, ref := range refs {
		if seen[ref.Name] {
			continue
		}
		seen[ref.Name] = true
		s, err := r.call(lookup{subject: ref.Subject, version: ref.Version}, nil, func(sr *srclient.SchemaRegistryClient) (*srclient.Schema, error) {
			return sr.GetSchemaByVersion(ref.Subject, ref.Version)
		})
		if err != nil {
			return nil, nil, err
		}
		sub, subOrder, err := r.references(l, s.References(), seen)
		if err != nil {
			return nil, nil, err
		}
		for k, v := range sub {
			texts[k] = v
		}
		order = append(order, subOrder...)
		texts[ref.Name] = s.Schema()
		order = append(order, ref.Name)
	}
	return texts, order, nil
}

// call runs f against each registry URL in turn until one answers, with
// the credentials as they are now (a password file may have changed).
// Auto-registration happens here, when the subject has no schema yet and
// b (nil for a reference) asks for it.
func (r *Registry) call(l lookup, b *config.RecordSchema, f func(*srclient.SchemaRegistryClient) (*srclient.Schema, error)) (*srclient.Schema, error) {
	var errs []error
	for _, c := range r.clients {
		s, err := r.callOne(c, l, b, f)
		if err == nil {
			return s, nil
		}
		var e *Error
		if errors.As(err, &e) && e.Kind != Unavailable {
			return nil, err // it answered: another replica would say the same
		}
		errs = append(errs, err)
	}
	return nil, &Error{Kind: Unavailable, What: describe(l), Err: errors.Join(errs...)}
}

func (r *Registry) callOne(c *client, l lookup, b *config.RecordSchema, f func(*srclient.SchemaRegistryClient) (*srclient.Schema, error)) (*srclient.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := r.authenticate(c.sr); err != nil {
		return nil, &Error{Kind: Unavailable, What: c.url, Err: err}
	}
	s, err := f(c.sr)
	if err != nil && b != nil && b.AutoRegister && l.subject != "" && notFound(err) {
		if _, regErr := c.sr.CreateSchema(l.subject, b.Schema, schemaType(b.Format)); regErr != nil {
			return nil, classify(c.url, l, regErr)
		}
		r.log.Info("registered the configured schema", "subject", l.subject)
		s, err = f(c.sr)
	}
	if err != nil {
		return nil, classify(c.url, l, err)
	}
	return s, nil
}

func (r *Registry) authenticate(sr *srclient.SchemaRegistryClient) error {
	switch {
	case r.cfg.Username != "":
		pw, err := r.cfg.Password.Reveal()
		if err != nil {
			return fmt.Errorf("the registry password: %w", err)
		}
		sr.SetCredentials(r.cfg.Username, pw)
	case r.cfg.BearerToken.IsSet():
		token, err := r.cfg.BearerToken.Reveal()
		if err != nil {
			return fmt.Errorf("the registry token: %w", err)
		}
		sr.SetBearerToken(token)
	}
	return nil
}

// Confluent's error codes for a missing subject, version or schema.
const (
	codeSubjectNotFound = 40401
	codeVersionNotFound = 40402
	codeSchemaNotFound  = 40403
)

func notFound(err error) bool {
	var se srclient.Error
	return errors.As(err, &se) && (se.Code == codeSubjectNotFound || se.Code == codeVersionNotFound || se.Code == codeSchemaNotFound)
}

// classify turns a srclient error into an *Error: no connection is
// Unavailable (the next URL is tried), a missing schema NotFound, any
// other answer BadResponse naming the registry.
func classify(registry string, l lookup, err error) error {
	var ue *url.Error
	var ne net.Error
	switch {
	case notFound(err):
		return &Error{Kind: NotFound, What: describe(l), Err: fmt.Errorf("the registry has no such schema (%w)", err)}
	case errors.As(err, &ue), errors.As(err, &ne):
		return &Error{Kind: Unavailable, What: registry, Err: err}
	default:
		return &Error{Kind: BadResponse, What: registry, Err: fmt.Errorf("unusable answer for %s: %w", describe(l), err)}
	}
}

func formatOf(s *srclient.Schema) string {
	if t := s.SchemaType(); t != nil {
		switch *t {
		case srclient.Json:
			return config.SchemaJSON
		case srclient.Protobuf:
			return config.SchemaProtobuf
		}
	}
	return config.SchemaAvro // the registry leaves schemaType out for Avro
}

func schemaType(format string) srclient.SchemaType {
	switch format {
	case config.SchemaJSON:
		return srclient.Json
	case config.SchemaProtobuf:
		return srclient.Protobuf
	}
	return srclient.Avro
}
