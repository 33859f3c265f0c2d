package schema

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
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
