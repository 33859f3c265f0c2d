// Command mkconfig turns the golang filter `plugin_config` found in a YAML or
// JSON file into the bytes Envoy hands to envoyGoFilterNewHttpPluginConfig: a
// serialized google.protobuf.Any wrapping an xds.type.v3.TypedStruct.
//
// The input is either the plugin_config object itself
//
//	{"@type": "type.googleapis.com/xds.type.v3.TypedStruct",
//	 "type_url": "type.googleapis.com/kafkaupstream.v1.Config",
//	 "value": {...}}
//
// or any larger document (e.g. a full Envoy bootstrap) containing it: the
// decoded tree is searched depth-first (map keys in sorted order) for the
// first map that has a `plugin_config` key and whose `plugin_name` (if any)
// equals -plugin.
//
// Usage: go run ./e2e/chost/mkconfig -in envoy.yaml -out build/config.bin
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"sigs.k8s.io/yaml"
)

const typedStructURL = "type.googleapis.com/xds.type.v3.TypedStruct"

func main() {
	in := flag.String("in", "", "YAML or JSON file: a plugin_config object or a document containing one (required)")
	out := flag.String("out", "", "output file for the serialized google.protobuf.Any (required)")
	plugin := flag.String("plugin", "kafka-upstream", "plugin_name to match when searching a larger document (empty: any)")
	flag.Parse()
	if *in == "" || *out == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*in, *out, *plugin); err != nil {
		fmt.Fprintf(os.Stderr, "mkconfig: %v\n", err)
		os.Exit(1)
	}
}

func run(in, out, plugin string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	// YAML is a superset of JSON, so this accepts both.
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	var doc any
	if err := json.Unmarshal(js, &doc); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}

	pc, where, err := findPluginConfig(doc, plugin)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	anyMsg, ts, err := build(pc)
	if err != nil {
		return fmt.Errorf("%s: plugin_config at %s: %w", in, where, err)
	}
	// Deterministic so that re-running produces identical bytes.
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(anyMsg)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return err
	}
	keys := make([]string, 0, len(ts.GetValue().GetFields()))
	for k := range ts.GetValue().GetFields() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(os.Stderr, "mkconfig: %s: plugin_config at %s -> %s (%d bytes; Any %s, type_url %s, fields [%s])\n",
		in, where, out, len(b), anyMsg.GetTypeUrl(), ts.GetTypeUrl(), strings.Join(keys, " "))
	return nil
}

// findPluginConfig returns the plugin_config object and a path describing
// where it was found.
func findPluginConfig(doc any, plugin string) (map[string]any, string, error) {
	if m, ok := doc.(map[string]any); ok {
		if _, ok := m["@type"]; ok {
			if _, nested := m["plugin_config"]; !nested {
				return m, "$", nil // the file is the plugin_config itself
			}
		}
	}
	var found map[string]any
	var where string
	var walk func(v any, path string) bool
	walk = func(v any, path string) bool {
		switch t := v.(type) {
		case map[string]any:
			if pc, ok := t["plugin_config"]; ok {
				name, hasName := t["plugin_name"].(string)
				if plugin == "" || !hasName || name == plugin {
					m, ok := pc.(map[string]any)
					if !ok {
						found, where = nil, path+".plugin_config"
						return true
					}
					found, where = m, path+".plugin_config"
					return true
				}
			}
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if walk(t[k], path+"."+k) {
					return true
				}
			}
		case []any:
			for i, e := range t {
				if walk(e, fmt.Sprintf("%s[%d]", path, i)) {
					return true
				}
			}
		}
		return false
	}
	if !walk(doc, "$") {
		if plugin != "" {
			return nil, "", fmt.Errorf("no map with a plugin_config key (and plugin_name %q) found", plugin)
		}
		return nil, "", errors.New("no map with a plugin_config key found")
	}
	if found == nil {
		return nil, "", fmt.Errorf("%s is not an object", where)
	}
	return found, where, nil
}

// build converts the JSON form of the plugin_config into the Any Envoy would
// produce from it.
func build(pc map[string]any) (*anypb.Any, *xdstype.TypedStruct, error) {
	at, _ := pc["@type"].(string)
	if at != typedStructURL {
		return nil, nil, fmt.Errorf(`"@type" is %q, only %q is supported`, at, typedStructURL)
	}
	ts := &xdstype.TypedStruct{}
	for k, v := range pc {
		switch k {
		case "@type":
		case "type_url", "typeUrl": // proto and JSON field names, as protojson accepts
			s, ok := v.(string)
			if !ok {
				return nil, nil, fmt.Errorf("%s must be a string", k)
			}
			ts.TypeUrl = s
		case "value":
			if v == nil {
				continue
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, nil, errors.New("value must be an object")
			}
			s, err := structpb.NewStruct(m)
			if err != nil {
				return nil, nil, fmt.Errorf("value: %w", err)
			}
			ts.Value = s
		default:
			// Envoy rejects unknown fields in the Any's JSON as well.
			return nil, nil, fmt.Errorf("unknown field %q in xds.type.v3.TypedStruct", k)
		}
	}
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, ts, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, nil, err
	}
	return a, ts, nil
}
