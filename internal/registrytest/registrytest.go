// Package registrytest is a fake Confluent schema registry for fast tests:
// the part of the API srclient uses, in memory, with knobs for failures.
// The real registry (Apicurio, e2e/registry.sh) is the integration tests'.
package registrytest

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Registry is the fake registry.
type Registry struct {
	srv *httptest.Server

	mu       sync.Mutex
	nextID   int
	byID     map[int]fakeSchema
	subjects map[string][]int // versions' ids, version n at n-1

	// Requests counts the requests served; Garbage makes every answer
	// HTML; Delay (ns) slows every answer down.
	Requests atomic.Int32
	Garbage  atomic.Bool
	Delay    atomic.Int64
}

type fakeSchema struct {
	Schema     string          `json:"schema"`
	SchemaType string          `json:"schemaType,omitempty"`
	References json.RawMessage `json:"references,omitempty"`
}

// New starts a fake registry on 127.0.0.1, stopped when the test ends.
func New(t testing.TB) *Registry {
	f := &Registry{nextID: 100, byID: map[int]fakeSchema{}, subjects: map[string][]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the registry's base URL.
func (f *Registry) URL() string { return f.srv.URL }

// Close stops the registry (an outage).
func (f *Registry) Close() { f.srv.Close() }

// Versions is how many versions subject has.
func (f *Registry) Versions(subject string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subjects[subject])
}

// Register adds schema as the subject's next version and returns its id.
// refs are Confluent references: {"name", "subject", "version"}.
func (f *Registry) Register(subject, schemaType, schema string, refs ...map[string]any) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID += 7 // ids are not consecutive in real registries either
	s := fakeSchema{Schema: schema, SchemaType: schemaType}
	if len(refs) > 0 {
		s.References, _ = json.Marshal(refs)
	}
	f.byID[f.nextID] = s
	f.subjects[subject] = append(f.subjects[subject], f.nextID)
	return f.nextID
}

func (f *Registry) serve(w http.ResponseWriter, r *http.Request) {
	f.Requests.Add(1)
	time.Sleep(time.Duration(f.Delay.Load()))
	if f.Garbage.Load() {
		fmt.Fprint(w, "<html>not a registry</html>")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	notFound := func(code int, msg string) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error_code":%d,"message":%q}`, code, msg)
	}
	parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	switch {
	case len(parts) == 3 && parts[0] == "schemas" && parts[1] == "ids":
		id, _ := strconv.Atoi(parts[2])
		s, ok := f.byID[id]
		if !ok {
			notFound(40403, "Schema not found")
			return
		}
		json.NewEncoder(w).Encode(s)
	case len(parts) == 4 && parts[0] == "subjects" && parts[2] == "versions":
		subject, _ := url.PathUnescape(parts[1])
		ids := f.subjects[subject]
		if len(ids) == 0 {
			notFound(40401, "Subject not found")
			return
		}
		v := len(ids)
		if parts[3] != "latest" {
			v, _ = strconv.Atoi(parts[3])
		}
		if v < 1 || v > len(ids) {
			notFound(40402, "Version not found")
			return
		}
		s := f.byID[ids[v-1]]
		json.NewEncoder(w).Encode(map[string]any{"subject": subject, "version": v, "id": ids[v-1],
			"schema": s.Schema, "schemaType": s.SchemaType, "references": s.References})
	case len(parts) == 3 && parts[0] == "subjects" && parts[2] == "versions" && r.Method == http.MethodPost:
		subject, _ := url.PathUnescape(parts[1])
		var s fakeSchema
		json.NewDecoder(r.Body).Decode(&s)
		f.nextID += 7
		f.byID[f.nextID] = s
		f.subjects[subject] = append(f.subjects[subject], f.nextID)
		fmt.Fprintf(w, `{"id":%d}`, f.nextID)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error_code":404,"message":"no such endpoint"}`)
	}
}

// NewTLS is New over TLS (the httptest certificate, written to CAFile)
// requiring basic authentication as user with password.
func NewTLS(t testing.TB, user, password string) (r *Registry, caFile string) {
	f := &Registry{nextID: 100, byID: map[int]fakeSchema{}, subjects: map[string][]int{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error_code":40101,"message":"Unauthorized"}`)
			return
		}
		f.serve(w, r)
	}))
	t.Cleanup(f.srv.Close)
	caFile = filepath.Join(t.TempDir(), "registry-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return f, caFile
}
