// Package route decides where a request's records go: the topics (the
// default one, or those the client names, checked against the allowlist),
// the key and the partition. It reads only the request's query string and
// headers; what the records carry is the encoder's job.
package route

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// Router applies one config's routing section. It is built at config load.
type Router struct {
	s config.Routing
}

// New returns the router for s.
func New(s config.Routing) *Router { return &Router{s: s} }

// Targets is where a request's records go: one record per topic, each with
// the same key and partition.
type Targets struct {
	Topics []string
	// Key is nil for a keyless record.
	Key []byte
	// Partition is message.AnyPartition unless the client named one.
	Partition int
}

// Kind says why a request's targets were refused.
type Kind int

const (
	// TopicNotAllowed: a named topic is not in allowed_topics.
	TopicNotAllowed Kind = iota
	// BadTopic: a named topic is no valid Kafka topic name.
	BadTopic
	// BadPartition: the named partition is no non-negative integer.
	BadPartition
)

// Error is a request whose targets cannot be used; nothing is published.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// NotAllowedText is Kong's reply text for a topic outside the allowlist.
const NotAllowedText = "one or more target topics are not in the allowed topics list"

// Route returns the targets of req, or an *Error.
func (r *Router) Route(req *message.Request) (Targets, error) {
	t := Targets{Partition: message.AnyPartition}
	q := r.queryArgs(req)

	if r.s.TopicsQueryArg != "" && q.topics != nil {
		for _, v := range q.topics {
			for _, name := range strings.Split(v, ",") {
				name = strings.TrimSpace(name)
				if name == "" || slices.Contains(t.Topics, name) {
					continue
				}
				if err := config.CheckTopicName(name); err != nil {
					return Targets{}, &Error{Kind: BadTopic, Msg: fmt.Sprintf("query argument %q: %v", r.s.TopicsQueryArg, err)}
				}
				if !r.s.AllowedTopics[name] {
					return Targets{}, &Error{Kind: TopicNotAllowed, Msg: NotAllowedText}
				}
				t.Topics = append(t.Topics, name)
			}
		}
	}
	if len(t.Topics) == 0 {
		t.Topics = []string{r.s.Topic}
	}

	switch {
	case q.key != nil:
		t.Key = []byte(*q.key)
	case r.s.KeyHeader != "":
		if v, ok := req.Get(r.s.KeyHeader); ok {
			t.Key = []byte(v)
		}
	}

	partition, from := "", ""
	switch {
	case q.partition != nil:
		partition, from = *q.partition, "query argument "+strconv.Quote(r.s.PartitionQueryArg)
	case r.s.PartitionHeader != "":
		if v, ok := req.Get(r.s.PartitionHeader); ok {
			partition, from = v, "header "+strconv.Quote(r.s.PartitionHeader)
		}
	}
	if from != "" {
		n, err := parsePartition(partition)
		if err != nil {
			return Targets{}, &Error{Kind: BadPartition, Msg: fmt.Sprintf("%s: partition must be a non-negative integer, got %q", from, partition)}
		}
		t.Partition = n
	}
	return t, nil
}

// parsePartition accepts decimal digits only (no sign, no spaces), up to
// Kafka's int32 partition numbers.
func parsePartition(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return int(n), err
}

// args are the values of the configured query arguments: every value of
// the topics argument, the first of the key and partition ones; nil when
// absent. An argument without "=" has the empty value.
type args struct {
	topics         []string
	key, partition *string
}

// queryArgs reads the configured arguments from the :path query string,
// decoding + and %XX; a bad escape is kept as written, as in uri_args.
func (r *Router) queryArgs(req *message.Request) args {
	var a args
	if r.s.TopicsQueryArg == "" && r.s.KeyQueryArg == "" && r.s.PartitionQueryArg == "" {
		return a
	}
	path, _ := req.Get(":path")
	_, query, found := strings.Cut(path, "?")
	if !found {
		return a
	}
	query, _, _ = strings.Cut(query, "#")
	for _, pair := range strings.Split(query, "&") {
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name := unescape(rawName)
		if name == "" {
			continue
		}
		switch name {
		case r.s.TopicsQueryArg:
			a.topics = append(a.topics, unescape(rawValue))
		case r.s.KeyQueryArg:
			if a.key == nil {
				v := unescape(rawValue)
				a.key = &v
			}
		case r.s.PartitionQueryArg:
			if a.partition == nil {
				v := unescape(rawValue)
				a.partition = &v
			}
		}
	}
	return a
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
