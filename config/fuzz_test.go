package config

// FuzzConfigFromJSON and FuzzConfigFromYAML: whatever the document,
// decoding and resolving never panic, resolve deterministically, leave the
// decoded Config as it was, and never repeat a secret.
//
//	go test -run '^$' -fuzz '^FuzzConfigFromJSON$' -fuzztime 60s ./config/
//
// Each target takes a document, a secret and where, which names the
// secret field the secret is put in (bits 0-1: sasl.password,
// sasl.oauthbearer.client_secret, schema_registry.password,
// schema_registry.bearer_token) and how (bit 2: as the field's raw JSON or
// YAML text, a number, a list or a tagged YAML scalar as much as a
// string). The document is checked as it is, then with the secret in that
// field and, for comparison, with a stand-in of the same length: the
// errors must not tell the two apart (string secrets: the same text; raw
// ones: no piece of the secret in the error that the stand-in's error
// lacks), nor may the resolved settings, printed with any verb.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"sigs.k8s.io/yaml"
)

// fuzzFiles writes the files a fuzzed config may name, by their base name:
// a secret, an empty file, a CA, a client certificate and its key, a file
// that is no PEM. Every *_file field is pointed into this directory
// (confine), so that no input reads /dev/zero or the test's own files.
func fuzzFiles(f *testing.F) string {
	dir := f.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		f.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		f.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for name, content := range map[string][]byte{
		"secret": []byte("file-secret-value\n"), "empty": nil, "ca.pem": cert, "cert.pem": cert,
		"key.pem": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), "notpem": []byte("not a PEM file"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			f.Fatal(err)
		}
	}
	return dir
}

// confine points every *_file field of m (nested messages included) at
// the file of the same base name in dir.
func confine(m protoreflect.Message, dir string) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.StringKind && !fd.IsList() && !fd.IsMap() && strings.HasSuffix(string(fd.Name()), "_file"):
			m.Set(fd, protoreflect.ValueOfString(filepath.Join(dir, filepath.Base(v.String()))))
		case fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap():
			confine(v.Message(), dir)
		}
		return true
	})
}

// resolveIsolated resolves cfg with the process's compression levels
// emptied for the call, and restores them: each input is resolved as if
// first, and the seeds (which run with the other tests) change nothing.
func resolveIsolated(cfg *Config) (*Settings, error) {
	codecLevels.Lock()
	saved := codecLevels.level
	codecLevels.level = nil
	codecLevels.Unlock()
	defer func() {
		codecLevels.Lock()
		codecLevels.level = saved
		codecLevels.Unlock()
	}()
	return Resolve(cfg)
}

// withoutPools returns s with its CA pools taken out (a CertPool holds
// functions, which reflect.DeepEqual never finds equal), and the pools.
func withoutPools(s *Settings) (*Settings, []*x509.CertPool) {
	if s == nil {
		return nil, nil
	}
	c := *s
	var pools []*x509.CertPool
	take := func(t **TLS) {
		if *t != nil {
			copied := **t
			pools = append(pools, copied.RootCAs)
			copied.RootCAs = nil
			*t = &copied
		}
	}
	take(&c.Cluster.TLS)
	if c.Schemas != nil {
		r := *c.Schemas
		take(&r.TLS)
		c.Schemas = &r
	}
	return &c, pools
}

// decodeAndResolve decodes doc, confines its files, resolves it twice and
// checks the two agree; it returns the settings, or the error's text.
func decodeAndResolve(t *testing.T, decode func([]byte) (*Config, error), doc []byte, dir string) (*Settings, string) {
	t.Helper()
	cfg, err := decode(doc)
	if err != nil {
		if _, again := decode(doc); again == nil || again.Error() != err.Error() {
			t.Fatalf("decoding is not deterministic: %v, then %v", err, again)
		}
		return nil, err.Error()
	}
	confine(cfg.ProtoReflect(), dir)
	before := proto.Clone(cfg)
	s1, err1 := resolveIsolated(cfg)
	s2, err2 := resolveIsolated(cfg)
	if !proto.Equal(before, cfg) {
		t.Fatalf("Resolve changed its config:\n%v\nis now\n%v", before, cfg)
	}
	if fmt.Sprint(err1) != fmt.Sprint(err2) {
		t.Fatalf("Resolve is not deterministic: %v, then %v", err1, err2)
	}
	if err1 != nil {
		if s1 != nil {
			t.Fatalf("Resolve returned settings with its error %v", err1)
		}
		return nil, err1.Error()
	}
	c1, pools1 := withoutPools(s1)
	c2, pools2 := withoutPools(s2)
	if !reflect.DeepEqual(c1, c2) {
		t.Fatalf("Resolve is not deterministic:\n%#v\nthen\n%#v", c1, c2)
	}
	for i := range pools1 {
		if (pools1[i] == nil) != (pools2[i] == nil) || pools1[i] != nil && !pools1[i].Equal(pools2[i]) {
			t.Fatalf("CA pool %d differs between two resolutions", i)
		}
	}
	return s1, ""
}

// secretPaths are the secret fields, by where's bits 0-1.
var secretPaths = [][]string{
	{"sasl", "password"},
	{"sasl", "oauthbearer", "client_secret"},
	{"schema_registry", "password"},
	{"schema_registry", "bearer_token"},
}

// placeholder marks where the secret goes in the re-encoded document.
const placeholder = "PLACEHOLDERFORTHESECRET"

// withPlaceholder returns doc (an object, or an empty one if it is no
// object) with the placeholder string at path, as JSON or as YAML.
func withPlaceholder(doc []byte, path []string, asYAML bool) ([]byte, bool) {
	var m map[string]any
	var err error
	if asYAML {
		err = yaml.Unmarshal(doc, &m)
	} else {
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		err = dec.Decode(&m)
	}
	if err != nil || m == nil {
		m = map[string]any{}
	}
	obj := m
	for _, name := range path[:len(path)-1] {
		next, ok := obj[name].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[name] = next
		}
		obj = next
	}
	obj[path[len(path)-1]] = placeholder
	var out []byte
	if asYAML {
		out, err = yaml.Marshal(m)
	} else {
		out, err = json.Marshal(m)
	}
	if err != nil || bytes.Count(out, []byte(placeholder)) != 1 {
		return nil, false
	}
	return out, true
}

// yamlKeywords are words of a raw value that are no text of it.
var yamlKeywords = map[string]bool{"true": true, "false": true, "null": true, ".inf": true, "-.inf": true, "+.inf": true, ".nan": true}

// yamlPrefix is what a raw YAML value may start with that is no part of
// the value: tags, anchors, aliases (their names are no secret).
var yamlPrefix = regexp.MustCompile(`^(\s*[!&*]\S*)*\s*`)

// secretPieces are the pieces of a raw secret an error must not repeat:
// the strings and numbers of a JSON value, or the text of a YAML value
// after its tags; pieces shorter than 4 bytes are left out (they turn up
// in any message).
func secretPieces(secret string, asYAML bool) []string {
	var pieces []string
	add := func(p string) {
		if p = strings.TrimSpace(p); len(p) >= 4 {
			pieces = append(pieces, p)
		}
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(secret))
	dec.UseNumber()
	if !asYAML && dec.Decode(&v) == nil {
		var walk func(any)
		walk = func(v any) {
			switch v := v.(type) {
			case string:
				add(v)
			case json.Number:
				add(v.String())
			case []any:
				for _, e := range v {
					walk(e)
				}
			case map[string]any:
				for k, e := range v {
					add(k)
					walk(e)
				}
			}
		}
		walk(v)
		return pieces
	}
	if !asYAML {
		add(secret)
		return pieces
	}
	// YAML: the words of the value, without tags, anchors and aliases.
	add(yamlPrefix.ReplaceAllString(secret, ""))
	for _, w := range strings.FieldsFunc(secret, func(r rune) bool { return strings.ContainsRune(" \t{}[],:?#|>'\"", r) }) {
		if !strings.ContainsAny(w[:1], "!&*") {
			add(w)
		}
	}
	return pieces
}

// printed is every way a log line could print settings.
func printed(s *Settings) string {
	if s == nil {
		return ""
	}
	return fmt.Sprintf("%v %+v %#v", *s, *s, *s) +
		fmt.Sprintf("%v %+v %v %+v", s.Cluster.SASL, s.Cluster, s.Schemas, s.Cluster.Describe())
}

// quotedScalar quotes s as a JSON string that is a YAML double-quoted
// scalar too, meaning the same text: json.Marshal's, with what JSON leaves
// raw but the YAML parser does not take as itself escaped as well. DEL,
// the C1 controls, U+FFFE and U+FFFF are refused by the parser; NEL
// (U+0085) is a line break to it (YAML 1.1), folded into a space.
func quotedScalar(s string) []byte {
	value, _ := json.Marshal(s)
	var out []byte
	for _, r := range string(value) {
		if r == 0x7f || 0x80 <= r && r <= 0x9f || r == 0xfffe || r == 0xffff {
			out = fmt.Appendf(out, `\u%04x`, r)
			continue
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}

func checkSecret(t *testing.T, decode func([]byte) (*Config, error), asYAML bool, doc []byte, secret string, where uint8, dir string) {
	t.Helper()
	if secret == "" || bytes.Contains(doc, []byte(placeholder)) {
		return
	}
	raw := where&4 != 0
	path := secretPaths[where&3]
	withP, ok := withPlaceholder(doc, path, asYAML)
	if !ok {
		return
	}
	// The secret as the field's text, and a stand-in of the same length.
	var value, standIn []byte
	if raw {
		if strings.ContainsAny(secret, "\n\r") && asYAML {
			return // would reshape the document around it
		}
		value, standIn = []byte(secret), bytes.Repeat([]byte("Z"), len(secret))
	} else {
		value = quotedScalar(secret)
		standIn, _ = json.Marshal(strings.Repeat("Z", len(value)-2))
	}
	quoted := []byte(placeholder)
	if !asYAML {
		quoted = []byte(`"` + placeholder + `"`)
	}
	docS := bytes.Replace(withP, quoted, value, 1)
	docZ := bytes.Replace(withP, quoted, standIn, 1)
	sS, errS := decodeAndResolve(t, decode, docS, dir)
	sZ, errZ := decodeAndResolve(t, decode, docZ, dir)

	field := strings.Join(path, ".")
	if !raw {
		if errS != errZ {
			t.Fatalf("the error depends on the value of %s:\nwith the secret:   %s\nwith a stand-in: %s", field, errS, errZ)
		}
		if (sS == nil) != (sZ == nil) {
			t.Fatalf("the value of %s decides whether the config resolves", field)
		}
	}
	printS, printZ := printed(sS), printed(sZ)
	if !raw {
		// The stand-in has the secret's type and length: what it does not
		// show, the secret may not either.
		var decoded string
		_ = json.Unmarshal(value, &decoded)
		for _, p := range []string{secret, decoded} {
			if len(p) < 4 {
				continue
			}
			if strings.Contains(errS, p) && !strings.Contains(errZ, p) {
				t.Fatalf("error repeats the secret of %s (%q): %s", field, p, errS)
			}
			if strings.Contains(printS, p) && !strings.Contains(printZ, p) {
				t.Fatalf("printed settings repeat the secret of %s (%q): %s", field, p, printS)
			}
		}
	} else {
		// A raw secret's pieces one by one: a piece the error shows must
		// go when only that piece is changed (to as many Zs, or 7s for
		// digits, which keeps its type); otherwise the text is the
		// message's own ("it is a secret" holds "cret").
		for _, p := range secretPieces(secret, asYAML) {
			inErr, inPrint := strings.Contains(errS, p), strings.Contains(printS, p)
			if !inErr && !inPrint || yamlKeywords[strings.ToLower(p)] {
				continue
			}
			other := strings.Repeat("Z", len(p))
			if strings.Trim(p, "0123456789") == "" {
				other = strings.Repeat("7", len(p))
			}
			changed := strings.ReplaceAll(secret, p, other)
			if changed == secret {
				continue
			}
			sC, errC := decodeAndResolve(t, decode, bytes.Replace(withP, quoted, []byte(changed), 1), dir)
			if inErr && !strings.Contains(errC, p) {
				t.Fatalf("error repeats the secret of %s (%q): %s", field, p, errS)
			}
			if inPrint && !strings.Contains(printed(sC), p) {
				t.Fatalf("printed settings repeat the secret of %s (%q): %s", field, p, printS)
			}
		}
	}
	// A string secret that resolved is the secret the producer uses.
	if !raw && sS != nil {
		var want string
		_ = json.Unmarshal(value, &want)
		var got Secret
		switch where & 3 {
		case 0:
			got = sS.Cluster.SASL.Password
		case 1:
			if sS.Cluster.SASL.OAuth == nil {
				return
			}
			got = sS.Cluster.SASL.OAuth.ClientSecret
		case 2:
			got = sS.Schemas.Password
		case 3:
			got = sS.Schemas.BearerToken
		}
		if got.File() != "" {
			return
		}
		if v, err := got.Reveal(); err != nil || v != want {
			t.Fatalf("%s reveals %q (%v), want the secret %q", field, v, err, want)
		}
	}
}

// configSeeds are documents worth starting from (as JSON): valid configs
// of every section, and the mistakes the error messages are made for.
var configSeeds = []string{
	`{"bootstrap_servers":["127.0.0.1:9092"],"topic":"events"}`,
	`{"bootstrap_servers":["k:9092"],"topic":"events","sasl":{"mechanism":"PLAIN","username":"u","password":"hunter2-secret"}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"events","sasl":{"mechanism":"SCRAM-SHA-512","username":"u","password_file":"secret"}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"events","sasl":{"mechanism":"PLAIN","username":"u","password":"a","password_file":"empty"}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_endpoint_url":"https://idp/token","client_id":"c","client_secret":"hunter2-secret","scopes":["kafka"],"token_endpoint_params":{"audience":"kafka"}}}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","sasl":{"mechanism":"OAUTHBEARER","oauthbearer":{"token_file":"secret"}}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","tls":{"enabled":true,"ca_file":"ca.pem","cert_file":"cert.pem","key_file":"key.pem","server_name":"k","min_version":"1.3"}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","tls":{"enabled":true,"ca_file":"notpem","insecure_skip_verify":true}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","compression":"gzip","compression_level":5,"batching":{"timeout":"0.005s","size":10,"bytes":2048},"required_acks":1,"produce_timeout":"2.5s"}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","async":{"enabled":true,"buffer_records":10,"buffer_bytes":2097152,"accepted_status":200,"delivery_timeout":"1s"}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","allowed_topics":["a","b.c"],"topics_query_arg":"topics","key_query_arg":"key","key_header":"X-Key","partition_header":"x-p"}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","headers":{"forward_http_headers_as_record_headers":true,"forward_all_by_default":true,"exclude_headers":["X-Secret"],"name_mappings":{"X-Tenant":"tenant"},"repeated_headers_behavior":"retain_duplicates"}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","format":"cloudevents","cloudevents":{"mode":"structured","source":"/s","id_from_request_id":true}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","schema_registry":{"urls":["http://r:8081"],"username":"u","password":"hunter2-secret","value":{"format":"avro","subject":"s","version":"3"}}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","schema_registry":{"urls":["https://r"],"bearer_token":"hunter2-secret","tls":{"enabled":true,"ca_file":"ca.pem"},"key":{"format":"protobuf","schema_id":7}}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","schema_registry":{"urls":["http://r"],"bearer_token":123456789,"value":{"format":"json_schema"}}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","sasl":{"mechanism":"PLAIN","username":"u","password":["hunter2-secret"]}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","sasl":{"password":"hunter2-secret","password":"x"}}`,
	`{"bootstrap_servers":["k:9092"],"topic":"t","sasl":{"pasword":"hunter2-secret"}}`,
	`{"bootstrap_servers":"k:9092","topic":5,"forward_body":"yes","produce_timeout":"1ms","batching":{"bytes":-1}}`,
	`{"bootstrap_servers":["k"],"topic":"a/b","forward_body":false,"format":"raw","base":"x","request_id_header":" "}`,
	`[1,2]`, `{`, `null`, ``,
}

var yamlSeeds = []string{
	"bootstrap_servers: [k:9092]\ntopic: t\nsasl:\n  mechanism: PLAIN\n  username: u\n  password: !!int hunter2-secret\n",
	"bootstrap_servers: [k:9092]\ntopic: t\nsasl:\n  ~: {password: hunter2-secret}\n",
	"bootstrap_servers: [k:9092]\ntopic: t\nsasl:\n  ? {password: hunter2-secret}\n  : x\n",
	"bootstrap_servers: [k:9092]\ntopic: t\nsasl: {mechanism: PLAIN, username: u, password: &p hunter2-secret}\nclient_id: *p\n",
	"bootstrap_servers: [k:9092]\ntopic: t\nschema_registry: {urls: [http://r], bearer_token: 0x1F, value: {format: avro}}\n",
	"bootstrap_servers: [k:9092]\ntopic: no\nforward_body: yes\nproduce_timeout: 10\n",
	"bootstrap_servers: [k:9092]\ntopic: t\nsasl:\n  password: \"hunter2\n",
	"a: &a [*a]\n",
}

func seedSecrets(f *testing.F, docs []string) {
	secrets := []struct {
		s     string
		where uint8
	}{
		{"hunter2-secret", 0}, {"S3CRET-ÄÖ\u2028\"\\x", 1}, {"p@ss w0rd!", 2}, {"tok.en-value_9", 3},
		{"12345678", 4}, {"!!int hunter2-secret", 4}, {`["hunter2-secret"]`, 5}, {`{"a":"hunter2-secret"}`, 6}, {"*anchor", 7},
		{"\xffinvalid-utf8", 0},
	}
	for i, d := range docs {
		s := secrets[i%len(secrets)]
		f.Add([]byte(d), s.s, s.where)
	}
}

// registryOnly is a config whose schema_registry section lacks only its
// credentials.
const registryOnly = `{"bootstrap_servers":["k:9092"],"topic":"t","schema_registry":{"urls":["http://r"],"username":"u","value":{"format":"avro"}}}`

func FuzzConfigFromJSON(f *testing.F) {
	dir := fuzzFiles(f)
	seedSecrets(f, configSeeds)
	f.Add([]byte(registryOnly), "123456789", uint8(7)) // a bearer token that is a number
	f.Add([]byte(registryOnly), "hunter2-secret", uint8(2))
	f.Fuzz(func(t *testing.T, doc []byte, secret string, where uint8) {
		decodeAndResolve(t, FromJSON, doc, dir)
		checkSecret(t, FromJSON, false, doc, secret, where, dir)
	})
}

func FuzzConfigFromYAML(f *testing.F) {
	dir := fuzzFiles(f)
	var docs []string
	for _, js := range configSeeds {
		if y, err := yaml.JSONToYAML([]byte(js)); err == nil {
			docs = append(docs, string(y))
		}
	}
	seedSecrets(f, append(docs, yamlSeeds...))
	registry, _ := yaml.JSONToYAML([]byte(registryOnly))
	f.Add(registry, "123456789", uint8(7))
	f.Add(registry, "!!float hunter2-secret", uint8(6))
	// Characters JSON leaves raw that YAML does not read as themselves.
	sasl := []byte("bootstrap_servers: [\"k:9092\"]\ntopic: events\nsasl:\n  mechanism: PLAIN\n  username: u\n  password: x\n")
	f.Add(sasl, "pass\u0085word", uint8(0))
	f.Add(sasl, "pass\x7fword\u0080\ufffe", uint8(0))
	f.Add([]byte("bootstrap_servers: [k:9092]\ntopic: t\n"), "{~: hunter2-secret}", uint8(4))
	f.Add([]byte("bootstrap_servers: [k:9092]\ntopic: t\n"), "{? [hunter2-secret]: x}", uint8(5))
	f.Fuzz(func(t *testing.T, doc []byte, secret string, where uint8) {
		// The ext_proc server's file is read by ServerFromYAML: a document
		// that is no YAML fails there as in FromYAML, secrets hidden alike.
		decode := func(y []byte) (*Config, error) {
			cfg, err := FromYAML(y)
			if _, yamlErr := yaml.YAMLToJSON(y); yamlErr != nil {
				if _, serverErr := ServerFromYAML(y); fmt.Sprint(serverErr) != fmt.Sprint(err) {
					t.Fatalf("ServerFromYAML: %v\nFromYAML:       %v", serverErr, err)
				}
			}
			return cfg, err
		}
		decodeAndResolve(t, decode, doc, dir)
		checkSecret(t, decode, true, doc, secret, where, dir)
	})
}
