package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// SelectorHeader is the gRPC metadata key through which a route selects one
// of the ext_proc server's named configs (ExtProcPerRoute
// overrides.grpc_initial_metadata).
const SelectorHeader = "x-kafka-upstream-config"

// ServerSettings is a validated ServerConfig.
type ServerSettings struct {
	// Default serves requests that select no named config; nil if absent.
	Default *Settings
	// Named holds the configs routes select by name.
	Named map[string]*Settings
	// ProducerOf names, for each config that inherits through `base`, the
	// config whose Kafka producer it shares ("default" for Default); a
	// config with its own bootstrap_servers is absent.
	ProducerOf map[string]string
}

// DefaultName is how `base` names the top-level default config.
const DefaultName = "default"

// ServerFromYAML reads the ext_proc server's config file: a ServerConfig,
// or a single Config that then serves every request (YAML or JSON).
func ServerFromYAML(data []byte) (*ServerSettings, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, errors.New("config: " + yamlError(err))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		return nil, errors.New("config: must be a JSON/YAML object")
	}
	_, hasDefault := top["default"]
	_, hasConfigs := top["configs"]
	if !hasDefault && !hasConfigs {
		cfg, err := FromJSON(js)
		if err != nil {
			return nil, err
		}
		s, err := Resolve(cfg)
		if err != nil {
			return nil, err
		}
		return &ServerSettings{Default: s, Named: map[string]*Settings{}, ProducerOf: map[string]string{}}, nil
	}

	sc := &ServerConfig{}
	if err := protojson.Unmarshal(js, sc); err != nil {
		return nil, errors.New(fieldError(js, sc.ProtoReflect().Descriptor(), "", err))
	}
	r := &serverResolver{
		raw:     map[string]*Config{},
		prefix:  map[string]string{},
		done:    map[string]*Config{},
		root:    map[string]string{},
		visited: map[string]bool{},
	}
	if sc.Default != nil {
		r.raw[DefaultName], r.prefix[DefaultName] = sc.Default, "default."
	}
	for name, cfg := range sc.Configs {
		switch name {
		case "":
			r.errs = append(r.errs, "configs: a config name must not be empty")
			continue
		case DefaultName:
			r.errs = append(r.errs, "configs.default: the name is taken by the top-level default config; rename it")
			continue
		}
		r.raw[name], r.prefix[name] = cfg, "configs."+name+"."
	}

	out := &ServerSettings{Named: map[string]*Settings{}, ProducerOf: map[string]string{}}
	names := sortedKeys(r.raw)
	if r.raw[DefaultName] != nil {
		// default first, as it comes first in the file.
		names = append([]string{DefaultName}, slices.DeleteFunc(names, func(n string) bool { return n == DefaultName })...)
	}
	for _, name := range names {
		cfg := r.merged(name)
		if cfg == nil {
			continue
		}
		s, err := resolve(cfg, r.prefix[name])
		if err != nil {
			r.errs = append(r.errs, err.Error())
			continue
		}
		if root := r.root[name]; root != name {
			out.ProducerOf[name] = root
		}
		if name == DefaultName {
			out.Default = s
		} else {
			out.Named[name] = s
		}
	}
	if out.Default == nil && len(out.Named) == 0 && len(r.errs) == 0 {
		r.errs = append(r.errs, "default, configs: at least one config is needed")
	}
	if len(r.errs) > 0 {
		return nil, errors.New(strings.Join(dedupe(r.errs), "; "))
	}
	return out, nil
}

// serverResolver follows `base` chains: each config's fields overlaid on its
// base's, checked for unknown names and cycles.
type serverResolver struct {
	raw     map[string]*Config
	prefix  map[string]string
	done    map[string]*Config // merged configs
	root    map[string]string  // the config whose cluster each one uses
	visited map[string]bool
	errs    []string
}

// merged returns the config name with its bases applied, or nil after
// recording why it cannot be.
func (r *serverResolver) merged(name string) *Config {
	if cfg, ok := r.done[name]; ok {
		return cfg
	}
	cfg, prefix := r.raw[name], r.prefix[name]
	base := cfg.GetBase()
	if base == "" {
		r.done[name], r.root[name] = cfg, name
		return cfg
	}
	fail := func(format string, args ...any) *Config {
		r.errs = append(r.errs, prefix+"base: "+fmt.Sprintf(format, args...))
		r.done[name] = nil
		return nil
	}
	switch {
	case !Inherits(cfg):
		return fail("a config with its own bootstrap_servers is complete and inherits nothing; remove base, or bootstrap_servers to share %q's producer", base)
	case r.raw[base] == nil:
		return fail("%q is not a config of this file", base)
	case r.visited[name]:
		return fail("%q leads back to %q (a cycle)", base, name)
	}
	if err := CheckInheriting(cfg, prefix); err != nil {
		r.errs = append(r.errs, err.Error())
		r.done[name] = nil
		return nil
	}
	r.visited[name] = true
	parent := r.merged(base)
	delete(r.visited, name)
	if parent == nil {
		r.done[name] = nil
		return nil
	}
	merged := Overlay(parent, cfg)
	r.done[name], r.root[name] = merged, r.root[base]
	return merged
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
