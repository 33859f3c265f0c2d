package config

import (
	"fmt"
	"strings"
)

func resolveRouting(cfg *Config, p *problems) Routing {
	r := Routing{
		Topic:             cfg.GetTopic(),
		AllowedTopics:     map[string]bool{},
		TopicsQueryArg:    cfg.GetTopicsQueryArg(),
		KeyQueryArg:       cfg.GetKeyQueryArg(),
		KeyHeader:         headerName(cfg.GetKeyHeader(), "key_header", p),
		PartitionQueryArg: cfg.GetPartitionQueryArg(),
		PartitionHeader:   headerName(cfg.GetPartitionHeader(), "partition_header", p),
	}
	if r.Topic == "" {
		p.add("topic", "must not be empty")
	} else if err := CheckTopicName(r.Topic); err != nil {
		p.add("topic", "%v", err)
	}
	r.AllowedTopics[r.Topic] = true
	for i, t := range cfg.GetAllowedTopics() {
		if err := CheckTopicName(t); err != nil {
			p.add(fmt.Sprintf("allowed_topics[%d]", i), "%v", err)
			continue
		}
		r.AllowedTopics[t] = true
	}
	for _, a := range [...]struct{ field, name string }{
		{"topics_query_arg", r.TopicsQueryArg}, {"key_query_arg", r.KeyQueryArg}, {"partition_query_arg", r.PartitionQueryArg},
	} {
		if strings.ContainsAny(a.name, "&=#?+% ") {
			p.add(a.field, "%q cannot be a query argument name (no & = # ? + %% or space)", a.name)
		}
	}
	return r
}

// headerName checks and lower-cases a configured HTTP header name.
func headerName(name, field string, p *problems) string {
	if name == "" {
		return ""
	}
	if strings.HasPrefix(name, ":") {
		p.add(field, "%q is a pseudo-header; name a regular header", name)
		return ""
	}
	if !isToken(name) {
		p.add(field, "%q is not a valid HTTP header name", name)
		return ""
	}
	return strings.ToLower(name)
}

// isToken reports an RFC 9110 token: what a header name may be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}
