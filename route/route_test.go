package route

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// router resolves cfg (bootstrap_servers and topic "events" filled in) as
// the pipeline does and returns its router.
func router(t *testing.T, cfg *config.Config) *Router {
	t.Helper()
	cfg.BootstrapServers = []string{"k:9092"}
	if cfg.Topic == "" {
		cfg.Topic = "events"
	}
	s, err := config.Resolve(cfg)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return New(s.Routing)
}

// req is a GET of path with extra headers (name, value pairs, lower-case
// as the adapters hand them over).
func req(path string, kv ...string) *message.Request {
	hs := []message.Header{{Name: ":method", Value: "GET"}, {Name: ":path", Value: path}, {Name: ":authority", Value: "example.com"}}
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, message.Header{Name: kv[i], Value: kv[i+1]})
	}
	return &message.Request{Headers: hs}
}

// check compares Route's outcome as a whole: the targets, or the error
// (then the targets must be zero: nothing may be published).
func check(t *testing.T, r *Router, rq *message.Request, want Targets, wantErr *Error) {
	t.Helper()
	got, err := r.Route(rq)
	if wantErr != nil {
		var rerr *Error
		if !errors.As(err, &rerr) {
			t.Fatalf("Route error = %v (%T), want *route.Error %+v", err, err, *wantErr)
		}
		if *rerr != *wantErr || err.Error() != wantErr.Msg {
			t.Errorf("Route error = %+v (%q)\nwant          %+v", *rerr, err.Error(), *wantErr)
		}
		if !reflect.DeepEqual(got, Targets{}) {
			t.Errorf("Route returned targets %+v with its error, want none", got)
		}
		return
	}
	if err != nil {
		t.Fatalf("Route error = %v, want targets %+v", err, want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Route = %#v\nwant    %#v", got, want)
	}
	// A key's nil-ness matters (keyless vs empty key): DeepEqual tells
	// them apart, but say so plainly.
	if (got.Key == nil) != (want.Key == nil) {
		t.Errorf("Route key nil = %t, want nil = %t", got.Key == nil, want.Key == nil)
	}
}

func topics(names ...string) Targets {
	return Targets{Topics: names, Partition: message.AnyPartition}
}

func badTopic(text string) *Error {
	return &Error{Kind: BadTopic, Msg: `query argument "topics": ` + text}
}

var notAllowed = &Error{Kind: TopicNotAllowed, Msg: "one or more target topics are not in the allowed topics list"}

func TestTopics(t *testing.T) {
	r := router(t, &config.Config{
		TopicsQueryArg: proto.String("topics"),
		AllowedTopics:  []string{"audit", "orders", "a.b_c-D"},
	})
	long := strings.Repeat("x", 250)
	tests := []struct {
		name    string
		path    string
		want    Targets
		wantErr *Error
	}{
		{"no query string: the default topic", "/p", topics("events"), nil},
		{"argument absent", "/p?other=audit", topics("events"), nil},
		{"argument empty", "/p?topics=", topics("events"), nil},
		{"argument without =", "/p?topics", topics("events"), nil},
		{"argument of commas and spaces only", "/p?topics=,%20,", topics("events"), nil},
		{"one topic", "/p?topics=audit", topics("audit"), nil},
		{"several, in order", "/p?topics=orders,audit", topics("orders", "audit"), nil},
		{"argument repeated: every occurrence, in order", "/p?topics=orders&x=1&topics=audit", topics("orders", "audit"), nil},
		{"repeated with an empty occurrence", "/p?topics=&topics=audit", topics("audit"), nil},
		{"empty items skipped", "/p?topics=audit,,orders,", topics("audit", "orders"), nil},
		{"duplicates dropped, first kept", "/p?topics=orders,audit,orders", topics("orders", "audit"), nil},
		{"duplicates across occurrences", "/p?topics=audit&topics=orders,audit", topics("audit", "orders"), nil},
		{"surrounding spaces trimmed", "/p?topics=%20audit%20,orders", topics("audit", "orders"), nil},
		{"+ is a space, trimmed", "/p?topics=+audit+,orders", topics("audit", "orders"), nil},
		{"percent-encoded name", "/p?topics=%61udit", topics("audit"), nil},
		{"percent-encoded comma separates", "/p?topics=audit%2Corders", topics("audit", "orders"), nil},
		{"percent-encoded argument name", "/p?%74opics=audit", topics("audit"), nil},
		{"every allowed character", "/p?topics=a.b_c-D", topics("a.b_c-D"), nil},
		{"the default topic is always allowed", "/p?topics=events", topics("events"), nil},
		{"the default topic among others", "/p?topics=audit,events", topics("audit", "events"), nil},
		{"a fragment is not part of the value", "/p?topics=audit#orders", topics("audit"), nil},
		{"the argument name is case-sensitive", "/p?Topics=audit", topics("events"), nil},

		{"letter case is not folded", "/p?topics=Events", Targets{}, notAllowed},
		{"letter case of an allowed topic", "/p?topics=AUDIT", Targets{}, notAllowed},
		{"not allowed", "/p?topics=secret", Targets{}, notAllowed},
		{"one disallowed among allowed: nothing", "/p?topics=audit,secret,orders", Targets{}, notAllowed},
		{"disallowed in a later occurrence", "/p?topics=audit&topics=secret", Targets{}, notAllowed},
		{"slash", "/p?topics=a/b", Targets{},
			badTopic(`"a/b" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`)},
		{"..", "/p?topics=..", Targets{}, badTopic(`".." is not a valid Kafka topic name`)},
		{".", "/p?topics=audit,.", Targets{}, badTopic(`"." is not a valid Kafka topic name`)},
		{"250 characters", "/p?topics=" + long, Targets{},
			badTopic(`"` + long + `" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`)},
		{"inner space from +", "/p?topics=a+b", Targets{},
			badTopic(`"a b" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`)},
		{"bad escape kept as written", "/p?topics=%zz", Targets{},
			badTopic(`"%zz" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`)},
		{"non-ASCII", "/p?topics=%C3%A9v", Targets{},
			badTopic(`"év" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`)},
		{"items are checked in order: a bad name first", "/p?topics=a/b,secret", Targets{},
			badTopic(`"a/b" is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`)},
		{"items are checked in order: a disallowed name first", "/p?topics=secret,a/b", Targets{}, notAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, r, req(tt.path), tt.want, tt.wantErr)
		})
	}
}

func TestTopicsWithoutQueryArg(t *testing.T) {
	// topics_query_arg unset: clients cannot choose, whatever they send.
	r := router(t, &config.Config{AllowedTopics: []string{"audit"}})
	for _, path := range []string{"/p?topics=audit", "/p?topics=secret", "/p?topics=a/b", "/p?=audit"} {
		check(t, r, req(path), topics("events"), nil)
	}
	// Turned off in a route config with "".
	r = router(t, &config.Config{TopicsQueryArg: proto.String(""), AllowedTopics: []string{"audit"}})
	check(t, r, req("/p?topics=audit"), topics("events"), nil)
}

func TestTopicsWithoutAllowlist(t *testing.T) {
	// Only the default topic is allowed.
	r := router(t, &config.Config{TopicsQueryArg: proto.String("t")})
	check(t, r, req("/p?t=events"), topics("events"), nil)
	check(t, r, req("/p?t=audit"), Targets{}, notAllowed)
}

func TestKey(t *testing.T) {
	r := router(t, &config.Config{KeyQueryArg: proto.String("key"), KeyHeader: proto.String("X-Key")})
	keyed := func(key []byte) Targets {
		return Targets{Topics: []string{"events"}, Key: key, Partition: message.AnyPartition}
	}
	tests := []struct {
		name    string
		request *message.Request
		want    Targets
	}{
		{"absent: keyless (nil)", req("/p"), keyed(nil)},
		{"other arguments only", req("/p?a=1&keys=x"), keyed(nil)},
		{"query argument", req("/p?key=k1"), keyed([]byte("k1"))},
		{"first occurrence wins", req("/p?key=k1&key=k2"), keyed([]byte("k1"))},
		{"empty value: an empty key, not none", req("/p?key="), keyed([]byte{})},
		{"no =: an empty key", req("/p?key&a=1"), keyed([]byte{})},
		{"empty first occurrence wins over a later one", req("/p?key=&key=k2"), keyed([]byte{})},
		{"percent-decoded, + a space", req("/p?key=a%2Fb+c%26d"), keyed([]byte("a/b c&d"))},
		{"non-UTF-8 bytes kept", req("/p?key=%FF%FE%00"), keyed([]byte{0xff, 0xfe, 0x00})},
		{"bad escape kept as written", req("/p?key=100%"), keyed([]byte("100%"))},
		{"argument name is case-sensitive", req("/p?Key=k1"), keyed(nil)},
		{"header fallback", req("/p", "x-key", "h1"), keyed([]byte("h1"))},
		{"header fallback, first value", req("/p", "x-key", "h1", "x-key", "h2"), keyed([]byte("h1"))},
		{"header present but empty: an empty key", req("/p", "x-key", ""), keyed([]byte{})},
		{"header value is not decoded", req("/p", "x-key", "a%2Fb+c"), keyed([]byte("a%2Fb+c"))},
		{"query wins over header", req("/p?key=q", "x-key", "h"), keyed([]byte("q"))},
		{"an empty query key wins over header", req("/p?key=", "x-key", "h"), keyed([]byte{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, r, tt.request, tt.want, nil)
		})
	}

	t.Run("header only", func(t *testing.T) {
		r := router(t, &config.Config{KeyHeader: proto.String("x-key")})
		check(t, r, req("/p?key=q", "x-key", "h"), keyed([]byte("h")), nil)
		check(t, r, req("/p?key=q"), keyed(nil), nil)
	})
	t.Run("neither configured", func(t *testing.T) {
		r := router(t, &config.Config{})
		check(t, r, req("/p?key=q", "x-key", "h"), keyed(nil), nil)
	})
}

func TestPartition(t *testing.T) {
	r := router(t, &config.Config{PartitionQueryArg: proto.String("partition"), PartitionHeader: proto.String("X-Partition")})
	at := func(n int) Targets { return Targets{Topics: []string{"events"}, Partition: n} }
	badQuery := func(got string) *Error {
		return &Error{Kind: BadPartition, Msg: `query argument "partition": partition must be a non-negative integer, got "` + got + `"`}
	}
	badHeader := func(got string) *Error {
		return &Error{Kind: BadPartition, Msg: `header "x-partition": partition must be a non-negative integer, got "` + got + `"`}
	}
	tests := []struct {
		name    string
		request *message.Request
		want    Targets
		wantErr *Error
	}{
		{"absent: any partition", req("/p"), at(message.AnyPartition), nil},
		{"query argument", req("/p?partition=2"), at(2), nil},
		{"zero", req("/p?partition=0"), at(0), nil},
		{"leading zeros", req("/p?partition=007"), at(7), nil},
		{"largest int32", req("/p?partition=2147483647"), at(2147483647), nil},
		{"first occurrence wins", req("/p?partition=1&partition=x"), at(1), nil},
		{"percent-encoded digits", req("/p?partition=%31"), at(1), nil},
		{"header fallback", req("/p", "x-partition", "1"), at(1), nil},
		{"query wins over header", req("/p?partition=2", "x-partition", "1"), at(2), nil},
		{"a bad header is not read when the query names one", req("/p?partition=2", "x-partition", "x"), at(2), nil},

		{"negative", req("/p?partition=-1"), Targets{}, badQuery("-1")},
		{"plus sign", req("/p?partition=%2B1"), Targets{}, badQuery("+1")},
		{"+ decodes to a space", req("/p?partition=+1"), Targets{}, badQuery(" 1")},
		{"leading space", req("/p?partition=%201"), Targets{}, badQuery(" 1")},
		{"trailing space", req("/p?partition=1%20"), Targets{}, badQuery("1 ")},
		{"decimal", req("/p?partition=1.0"), Targets{}, badQuery("1.0")},
		{"beyond int32", req("/p?partition=2147483648"), Targets{}, badQuery("2147483648")},
		{"far beyond int64", req("/p?partition=99999999999999999999"), Targets{}, badQuery("99999999999999999999")},
		{"hex", req("/p?partition=0x1"), Targets{}, badQuery("0x1")},
		{"non-ASCII digit", req("/p?partition=%D9%A3"), Targets{}, badQuery("٣")},
		{"empty", req("/p?partition="), Targets{}, badQuery("")},
		{"no =", req("/p?partition"), Targets{}, badQuery("")},
		{"empty query wins over a good header", req("/p?partition=", "x-partition", "1"), Targets{}, badQuery("")},
		{"header negative", req("/p", "x-partition", "-1"), Targets{}, badHeader("-1")},
		{"header plus sign", req("/p", "x-partition", "+1"), Targets{}, badHeader("+1")},
		{"header leading space", req("/p", "x-partition", " 1"), Targets{}, badHeader(" 1")},
		{"header decimal", req("/p", "x-partition", "1.0"), Targets{}, badHeader("1.0")},
		{"header beyond int32", req("/p", "x-partition", "2147483648"), Targets{}, badHeader("2147483648")},
		{"header empty", req("/p", "x-partition", ""), Targets{}, badHeader("")},
		{"header is not percent-decoded", req("/p", "x-partition", "%31"), Targets{}, badHeader("%31")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, r, tt.request, tt.want, tt.wantErr)
		})
	}

	t.Run("not configured: ignored", func(t *testing.T) {
		r := router(t, &config.Config{})
		check(t, r, req("/p?partition=x", "x-partition", "y"), at(message.AnyPartition), nil)
	})
}

// Everything at once: each configured argument is read from one query
// string, and a fan-out's records share the key and the partition.
func TestTopicsKeyAndPartitionTogether(t *testing.T) {
	r := router(t, &config.Config{
		TopicsQueryArg: proto.String("topics"), AllowedTopics: []string{"audit"},
		KeyQueryArg: proto.String("key"), PartitionQueryArg: proto.String("p"),
	})
	check(t, r, req("/p?p=1&key=k&topics=events,audit"),
		Targets{Topics: []string{"events", "audit"}, Key: []byte("k"), Partition: 1}, nil)
	// A refused topic refuses the whole request, key and partition too.
	check(t, r, req("/p?p=1&key=k&topics=secret"), Targets{}, notAllowed)
	// So does a bad partition, whatever the topics.
	check(t, r, req("/p?p=x&topics=audit"), Targets{},
		&Error{Kind: BadPartition, Msg: `query argument "p": partition must be a non-negative integer, got "x"`})
}
