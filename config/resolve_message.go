package config

import (
	"fmt"
	"strings"
)

func resolveMessage(cfg *Config, p *problems) Message {
	m := Message{
		Format: oneOf(cfg.GetFormat(), "format", p, FormatKong, FormatRaw, FormatCloudEvents),
		Forward: Forward{
			Method:  cfg.GetForwardMethod(),
			URI:     cfg.GetForwardUri(),
			Headers: cfg.GetForwardHeaders(),
			Body:    cfg.ForwardBody == nil || cfg.GetForwardBody(),
		},
	}
	if m.Format == FormatKong && m.Forward == (Forward{}) {
		p.add("forward_*", "at least one of forward_method, forward_uri, forward_headers, forward_body must be true")
	}
	if m.Format != FormatKong {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"forward_method", cfg.ForwardMethod != nil}, {"forward_uri", cfg.ForwardUri != nil},
			{"forward_headers", cfg.ForwardHeaders != nil}, {"forward_body", cfg.ForwardBody != nil},
		} {
			if f.set {
				p.add(f.name, "shapes the kong format only; format is %q", m.Format)
			}
		}
	}
	ce := cfg.GetCloudevents()
	if ce != nil && m.Format != FormatCloudEvents {
		p.add("cloudevents", "applies to format \"cloudevents\" only; format is %q", m.Format)
	}
	mode := oneOf(ce.GetMode(), "cloudevents.mode", p, "binary", "structured")
	m.CloudEvents = CloudEventOptions{
		Structured:      mode == "structured",
		Source:          ce.GetSource(),
		Type:            ce.GetType(),
		IDFromRequestID: ce.GetIdFromRequestId(),
	}
	return m
}

// resolveHeaders resolves the record headers: the headers section and
// propagate_trace_context (a top-level field, since it does not depend on
// the section: unset is on, with or without forwarding).
func resolveHeaders(cfg *Config, p *problems) Headers {
	h := cfg.GetHeaders()
	out := Headers{
		Enabled:      h.GetForwardHttpHeadersAsRecordHeaders(),
		AllByDefault: h.GetForwardAllByDefault(),
		Include:      headerSet(h.GetIncludeHeaders(), "headers.include_headers", p),
		Exclude:      headerSet(h.GetExcludeHeaders(), "headers.exclude_headers", p),
		Rename:       map[string]string{},
		Repeated:     oneOf(h.GetRepeatedHeadersBehavior(), "headers.repeated_headers_behavior", p, RepeatedConcatenate, RepeatedTakeFirst, RepeatedRetain),
		TraceContext: cfg.PropagateTraceContext == nil || cfg.GetPropagateTraceContext(),
	}
	for _, from := range sortedKeys(h.GetNameMappings()) {
		to := h.GetNameMappings()[from]
		name := headerName(from, "headers.name_mappings", p)
		if name == "" {
			continue
		}
		if to == "" {
			p.add("headers.name_mappings."+from, "the record header key must not be empty")
			continue
		}
		out.Rename[name] = to
	}
	if h == nil {
		return out
	}
	switch {
	case !out.Enabled:
		p.add("headers", "forward_http_headers_as_record_headers is false, so no header is forwarded and the other fields have no effect; set it to true, or remove the section")
	case out.AllByDefault && len(out.Include) > 0:
		p.add("headers.include_headers", "has no effect in blocklist mode (forward_all_by_default: true), which forwards every header but exclude_headers")
	case !out.AllByDefault && len(out.Exclude) > 0:
		p.add("headers.exclude_headers", "has no effect in allowlist mode (forward_all_by_default: false), which forwards include_headers only")
	case !out.AllByDefault && len(out.Include) == 0:
		p.add("headers.include_headers", "must not be empty in allowlist mode (forward_all_by_default: false), or nothing is forwarded")
	}
	return out
}

func headerSet(names []string, field string, p *problems) map[string]bool {
	set := make(map[string]bool, len(names))
	for i, n := range names {
		if name := headerName(n, fmt.Sprintf("%s[%d]", field, i), p); name != "" {
			set[strings.ToLower(name)] = true
		}
	}
	return set
}
