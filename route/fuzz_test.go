package route

// FuzzRoute: whatever the path, query string and headers, Route neither
// panics nor sends a record anywhere it should not.
//
//	go test -run '^$' -fuzz '^FuzzRoute$' -fuzztime 60s ./route/

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// fuzzConfigs are the routing sections the fuzzer picks from: every source
// configured, only the default topic allowed, no topics argument at all,
// and argument names that are prefixes of one another.
var fuzzConfigs = []*config.Config{
	{
		Topic: "events", TopicsQueryArg: proto.String("topics"), AllowedTopics: []string{"orders", "audit", "a.b_c-D"},
		KeyQueryArg: proto.String("key"), KeyHeader: proto.String("X-Key"),
		PartitionQueryArg: proto.String("partition"), PartitionHeader: proto.String("x-partition"),
	},
	{Topic: "events", TopicsQueryArg: proto.String("t"), PartitionHeader: proto.String("x-partition")},
	{Topic: "events", AllowedTopics: []string{"orders"}, KeyQueryArg: proto.String("key"), PartitionQueryArg: proto.String("p")},
	{
		Topic: "Events.v1", TopicsQueryArg: proto.String("topic"), AllowedTopics: []string{"topics", "events"},
		KeyQueryArg: proto.String("topics"), PartitionQueryArg: proto.String("topicsp"),
	},
}

// fuzzRequest builds a request: :method and :path, then one header per
// line of headers, "name:value" (the name up to the first ':' after its
// first byte, so ":authority:x" is a pseudo-header), names lower-cased as
// the adapters hand them over.
func fuzzRequest(path, headers string) *message.Request {
	hs := []message.Header{{Name: ":method", Value: "POST"}, {Name: ":path", Value: path}}
	if headers != "" {
		for _, line := range strings.Split(headers, "\n") {
			name, value := line, ""
			if i := strings.IndexByte(line[min(1, len(line)):], ':'); i >= 0 {
				i += min(1, len(line))
				name, value = line[:i], line[i+1:]
			}
			hs = append(hs, message.Header{Name: asciiLower(name), Value: value})
		}
	}
	return &message.Request{Headers: hs}
}

// asciiLower lower-cases A-Z only, as the dynamic module's adapter does.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func FuzzRoute(f *testing.F) {
	for _, path := range []string{
		"/p", "/p?topics=orders,audit", "/p?topics=%65vents&topics=secret", "/p?topics=%2565vents",
		"/p?topics=+events+,,audit&key=k&partition=2", "/p?topics=%D0%B5vents", "/p?topics=events%00",
		"/p?topics=../x", "/p?t=events&t=orders", "/p?topics=a.b_c-D&partition=2147483648",
		"/p?key=%FF&p=007", "/p?topic=topics,events&topics=k&topicsp=1", "/p?topics=EVENTS#x",
		"/p?%74opics=audit&partition=-1", "/p?topics=" + strings.Repeat("x", 250),
	} {
		for sel := range len(fuzzConfigs) {
			f.Add(path, "x-key:h\nx-partition:3", uint8(sel))
		}
	}
	f.Add("/p", "x-partition: 1\nX-Key:K", uint8(0))
	f.Add("/p?partition=", "x-partition:1", uint8(0))
	f.Add("", ":path:/p?topics=secret\nx-partition:99999999999", uint8(1))

	routers := make([]*Router, len(fuzzConfigs))
	allowed := make([]map[string]bool, len(fuzzConfigs))
	for i, c := range fuzzConfigs {
		cfg := proto.Clone(c).(*config.Config)
		cfg.BootstrapServers = []string{"k:9092"}
		s, err := config.Resolve(cfg)
		if err != nil {
			f.Fatalf("config %d: %v", i, err)
		}
		routers[i] = New(s.Routing)
		// The allowlist as the config states it, independently of
		// config.Resolve's map.
		allowed[i] = map[string]bool{c.GetTopic(): true}
		for _, t := range c.GetAllowedTopics() {
			allowed[i][t] = true
		}
	}

	f.Fuzz(func(t *testing.T, path, headers string, sel uint8) {
		i := int(sel) % len(routers)
		r, c := routers[i], fuzzConfigs[i]
		rq := fuzzRequest(path, headers)
		got, err := r.Route(rq)

		// Deterministic: the same request routes the same way.
		again, err2 := r.Route(rq)
		if !reflect.DeepEqual(got, again) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("Route is not deterministic: %+v, %v then %+v, %v", got, err, again, err2)
		}

		if err != nil {
			var rerr *Error
			if !errors.As(err, &rerr) {
				t.Fatalf("Route error %v is a %T, want *route.Error", err, err)
			}
			if !reflect.DeepEqual(got, Targets{}) {
				t.Fatalf("Route returned targets %+v with its error %v: nothing may be published", got, err)
			}
			switch rerr.Kind {
			case TopicNotAllowed:
				if rerr.Msg != NotAllowedText {
					t.Fatalf("TopicNotAllowed with text %q, want Kong's %q", rerr.Msg, NotAllowedText)
				}
			case BadTopic:
				if want := `query argument "` + c.GetTopicsQueryArg() + `": `; !strings.HasPrefix(rerr.Msg, want) {
					t.Fatalf("BadTopic text %q does not start with %q", rerr.Msg, want)
				}
			case BadPartition:
				if !strings.Contains(rerr.Msg, ": partition must be a non-negative integer, got ") {
					t.Fatalf("BadPartition text %q", rerr.Msg)
				}
			default:
				t.Fatalf("Route error of undocumented kind %d: %v", rerr.Kind, err)
			}
			return
		}

		if len(got.Topics) == 0 {
			t.Fatal("Route returned no topic and no error")
		}
		for j, topic := range got.Topics {
			if !allowed[i][topic] {
				t.Fatalf("topic %q is outside the allowlist %v (path %q)", topic, allowed[i], path)
			}
			if err := config.CheckTopicName(topic); err != nil {
				t.Fatalf("topic %q: %v", topic, err)
			}
			if slices.Contains(got.Topics[:j], topic) {
				t.Fatalf("topic %q twice in %q: a fan-out sends each once", topic, got.Topics)
			}
		}
		if got.Partition != message.AnyPartition && (got.Partition < 0 || got.Partition > math.MaxInt32) {
			t.Fatalf("partition %d: neither message.AnyPartition nor a Kafka partition number", got.Partition)
		}

		// Without a query string, or without a topics argument configured,
		// the client cannot choose: the default topic.
		if c.GetTopicsQueryArg() == "" || !strings.Contains(path, "?") {
			if !reflect.DeepEqual(got.Topics, []string{c.GetTopic()}) {
				t.Fatalf("topics %q, want only the default %q (path %q)", got.Topics, c.GetTopic(), path)
			}
		}
		// A key or a partition comes from a configured source only.
		if !strings.Contains(path, "?") {
			if _, ok := rq.Get(strings.ToLower(c.GetKeyHeader())); (!ok || c.GetKeyHeader() == "") && got.Key != nil {
				t.Fatalf("key %q without a key argument or header", got.Key)
			}
			if _, ok := rq.Get(c.GetPartitionHeader()); (!ok || c.GetPartitionHeader() == "") && got.Partition != message.AnyPartition {
				t.Fatalf("partition %d without a partition argument or header", got.Partition)
			}
		}
	})
}
