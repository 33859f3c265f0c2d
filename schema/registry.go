package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/riferrei/srclient"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/lograte"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/tlsfiles"
)

// Registry serialises with the schemas of one schema_registry section.
// Each schema is fetched (with its references) and compiled once; a
// "latest" version is looked up again after latest_ttl, in the background,
// while requests keep using the one they have. Only a cold cache makes a
// request wait for the registry, at most until its deadline; a failed
// fetch is not retried for failureHold, so an outage does not become a
// request to the registry per request.
type Registry struct {
	cfg     *config.Registry
	clients []*client
	log     *slog.Logger
	limit   *lograte.Limiter

	mu      sync.Mutex
	entries map[lookup]*entry
}

// failureHold is how long a failed cold fetch answers for itself.
const failureHold = time.Second

type client struct {
	url string
	mu  sync.Mutex // srclient keeps credentials in the client: one call at a time
	sr  *srclient.SchemaRegistryClient
}

// lookup names one compiled schema.
type lookup struct {
	id      int
	subject string
	version int // 0: latest
	isKey   bool
}

type entry struct {
	mu        sync.Mutex
	loaded    *compiled
	err       error // the last cold fetch's, while loaded is nil
	failedAt  time.Time
	fetchedAt time.Time
	inflight  chan struct{} // closed when the running fetch ends
}

type compiled struct {
	id    int
	codec codec
}

// New is the registry of cfg. It connects to nothing until a schema is
// needed; Warm starts fetching the ones a config will need.
func New(cfg *config.Registry, log *slog.Logger) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsfiles.Config(cfg.TLS, nil)
	hc := &http.Client{Timeout: cfg.Timeout, Transport: tr}
	r := &Registry{cfg: cfg, log: log, limit: lograte.NewLogged(10*time.Second, log), entries: map[lookup]*entry{}}
	for _, u := range cfg.URLs {
		sr := srclient.NewSchemaRegistryClient(u, srclient.WithClient(hc))
		sr.CachingEnabled(false) // compiled schemas are cached here
		r.clients = append(r.clients, &client{url: u, sr: sr})
	}
	return r
}

// Value serialises a record value for topic from the JSON document doc;
// nil, nil when the section has no value schema.
func (r *Registry) Value(ctx context.Context, topic string, doc []byte) ([]byte, error) {
	if r == nil || r.cfg.Value == nil {
		return nil, nil
	}
	return r.serialize(ctx, r.cfg.Value, topic, false, doc)
}

// Key serialises a record key for topic. The key is JSON, or, when it is
// not JSON or the schema is a string's, a string.
func (r *Registry) Key(ctx context.Context, topic string, key []byte) ([]byte, error) {
	if r == nil || r.cfg.Key == nil || key == nil {
		return key, nil
	}
	return r.serialize(ctx, r.cfg.Key, topic, true, key)
}

// HasValue and HasKey report which parts are serialised.
func (r *Registry) HasValue() bool { return r != nil && r.cfg.Value != nil }
func (r *Registry) HasKey() bool   { return r != nil && r.cfg.Key != nil }

// ValueFromEnvelope reports a value schema applied to the Kong envelope.
func (r *Registry) ValueFromEnvelope() bool { return r.HasValue() && r.cfg.Value.Envelope }

func (r *Registry) serialize(ctx context.Context, b *config.RecordSchema, topic string, isKey bool, doc []byte) ([]byte, error) {
	c, err := r.get(ctx, lookupFor(b, topic, isKey), b)
	if err != nil {
		return nil, err
	}
	if isKey && (c.codec.stringTyped() || !json.Valid(doc)) {
		doc, _ = json.Marshal(string(doc))
	}
	payload, err := c.codec.encode(doc)
	if err != nil {
		return nil, err
	}
	return frame(c.id, c.codec.indexes(), payload), nil
}

func lookupFor(b *config.RecordSchema, topic string, isKey bool) lookup {
	if b.ID != 0 {
		return lookup{id: b.ID, isKey: isKey}
	}
	return lookup{subject: b.SubjectFor(topic, isKey), version: b.Version, isKey: isKey}
}

// Warm starts fetching, in the background, the schemas of topics.
func (r *Registry) Warm(topics []string) {
	if r == nil {
		return
	}
	for _, t := range topics {
		for _, part := range []struct {
			b     *config.RecordSchema
			isKey bool
		}{{r.cfg.Value, false}, {r.cfg.Key, true}} {
			if part.b != nil {
				l := lookupFor(part.b, t, part.isKey)
				e := r.entry(l)
				e.mu.Lock()
				r.startFetch(e, l, part.b)
				e.mu.Unlock()
			}
		}
	}
}

func (r *Registry) entry(l lookup) *entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[l]
	if e == nil {
		e = &entry{}
		r.entries[l] = e
	}
	return e
}

// get is the compiled schema of l: cached, or fetched while ctx lasts.
func (r *Registry) get(ctx context.Context, l lookup, b *config.RecordSchema) (*compiled, error) {
	e := r.entry(l)
	e.mu.Lock()
	if c := e.loaded; c != nil {
		if l.id == 0 && l.version == 0 && time.Since(e.fetchedAt) > r.cfg.LatestTTL {
			r.startFetch(e, l, b) // refresh latest; this request keeps c
		}
		e.mu.Unlock()
		return c, nil
	}
	if e.inflight == nil && e.err != nil && time.Since(e.failedAt) < failureHold {
		err := e.err
		e.mu.Unlock()
		return nil, err
	}
	r.startFetch(e, l, b)
	done := e.inflight
	e.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, &Error{Kind: Unavailable, What: describe(l), Err: fmt.Errorf("no schema from the registry within the request's deadline (%v)", ctx.Err())}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.loaded != nil {
		return e.loaded, nil
	}
	return nil, e.err
}

// startFetch starts a fetch of l unless one runs; e.mu is held.
func (r *Registry) startFetch(e *entry, l lookup, b *config.RecordSchema) {
	if e.inflight != nil {
		return
	}
	e.inflight = make(chan struct{})
	go func() {
		c, err := r.loadSafely(l, b)
		e.mu.Lock()
		defer e.mu.Unlock()
		switch {
		case err == nil:
			e.loaded, e.err, e.fetchedAt = c, nil, time.Now()
		case e.loaded != nil:
			// Warm: keep serving the cached schema; try again a TTL later.
			e.fetchedAt = time.Now()
			r.logFailure("the schema registry failed; the cached schema stays in use", l, err)
		default:
			e.err, e.failedAt = err, time.Now()
			r.logFailure("the schema registry failed", l, err)
		}
		close(e.inflight)
		e.inflight = nil
	}()
}

func (r *Registry) logFailure(msg string, l lookup, err error) {
	if ok, _ := r.limit.Allow(msg); ok {
		r.log.Warn(msg, "schema", describe(l), "error", err)
	}
}

func describe(l lookup) string {
	switch {
	case l.id != 0:
		return "id " + strconv.Itoa(l.id)
	case l.version == 0:
		return "subject " + l.subject + " (latest)"
	default:
		return "subject " + l.subject + " version " + strconv.Itoa(l.version)
	}
}

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
