package config

import (
	"encoding/json"
	"errors"
	"fmt"
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
}

// ServerFromYAML reads the ext_proc server's config file: a ServerConfig,
// or a single Config that then serves every request (YAML or JSON).
func ServerFromYAML(data []byte) (*ServerSettings, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
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
		return &ServerSettings{Default: s, Named: map[string]*Settings{}}, nil
	}

	sc := &ServerConfig{}
	if err := protojson.Unmarshal(js, sc); err != nil {
		return nil, errors.New(fieldError(js, sc.ProtoReflect().Descriptor(), "", err))
	}
	out := &ServerSettings{Named: map[string]*Settings{}}
	var errs []string
	if sc.Default != nil {
		if out.Default, err = resolve(sc.Default, "default."); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, name := range sortedKeys(sc.Configs) {
		if name == "" {
			errs = append(errs, "configs: a config name must not be empty")
			continue
		}
		s, err := resolve(sc.Configs[name], "configs."+name+".")
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out.Named[name] = s
	}
	if out.Default == nil && len(out.Named) == 0 && len(errs) == 0 {
		errs = append(errs, "default, configs: at least one config is needed")
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}
