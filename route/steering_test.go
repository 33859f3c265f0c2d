package route

// Steering tests: a client must not get a record onto a topic outside the
// allowlist (topic + allowed_topics) by writing a name some other way. The
// documented reading of ?topics= (README, "Topics and fan-out") is: every
// occurrence of the argument, each value %XX- and +-decoded once (a bad
// escape keeps the whole value as written), split at commas, each item
// trimmed of white space, empty items skipped, duplicates sent once, names
// never case-folded; then each item must be a valid Kafka topic name (400
// kafka_upstream_bad_topic) and in the allowlist (403), or the whole
// request is refused. So every input below either becomes exactly the
// allowed topic it equals byte for byte after that decoding, or is refused
// with BadTopic or TopicNotAllowed, with no targets at all.

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
)

// invalidName is CheckTopicName's text for a name outside Kafka's
// character set, as the BadTopic error quotes it (%q).
func invalidName(name string) *Error {
	return badTopic(strconv.Quote(name) + ` is not a valid Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)`)
}

func TestTopicSteering(t *testing.T) {
	// The allowlist is events (the default), orders and audit; "secret" and
	// "Secret" exist in the cluster but are not allowed.
	r := router(t, &config.Config{
		Topic:          "events",
		TopicsQueryArg: proto.String("topics"),
		AllowedTopics:  []string{"orders", "audit"},
	})
	tests := []struct {
		name    string
		path    string
		want    Targets
		wantErr *Error
	}{
		// Letter case: Kafka topics are case-sensitive and names are never
		// folded, so a case variant is another topic, outside the list.
		{"upper case", "/p?topics=EVENTS", Targets{}, notAllowed},
		{"capitalised", "/p?topics=Events", Targets{}, notAllowed},
		{"one letter's case", "/p?topics=evEnts", Targets{}, notAllowed},
		{"case variant among allowed names", "/p?topics=orders,Audit", Targets{}, notAllowed},
		{"percent-encoded upper-case letter", "/p?topics=%45vents", Targets{}, notAllowed},

		// Percent-encoding is decoded once, as documented: an encoded
		// allowed name is that name, an encoded secret is still refused.
		{"encoded letter", "/p?topics=%65vents", topics("events"), nil},
		{"fully encoded", "/p?topics=%65%76%65%6E%74%73", topics("events"), nil},
		{"lower-case hex digits", "/p?topics=%6f%72%64%65%72%73", topics("orders"), nil},
		{"encoded secret", "/p?topics=%73ecret", Targets{}, notAllowed},
		{"encoded comma hides a secret item", "/p?topics=events%2Csecret", Targets{}, notAllowed},
		{"encoded ampersand is not a separator", "/p?topics=events%26topics%3Dsecret", Targets{},
			invalidName("events&topics=secret")},
		{"encoded argument name with a secret", "/p?%74opics=secret", Targets{}, notAllowed},
		{"encoded = in the argument name: another argument", "/p?topics%3Dsecret", topics("events"), nil},

		// Double encoding: decoded once, "%65" stays, and % is no topic
		// character.
		{"double-encoded letter", "/p?topics=%2565vents", Targets{}, invalidName("%65vents")},
		{"double-encoded secret", "/p?topics=%2573ecret", Targets{}, invalidName("%73ecret")},
		{"double-encoded comma", "/p?topics=events%252Csecret", Targets{}, invalidName("events%2Csecret")},
		{"triple-encoded", "/p?topics=%252565vents", Targets{}, invalidName("%2565vents")},
		// A bad escape anywhere keeps the whole value as written: then the
		// good escapes are not decoded either.
		{"bad escape keeps good ones encoded", "/p?topics=%65vents,%zz", Targets{}, invalidName("%65vents")},
		{"trailing lone %", "/p?topics=events%", Targets{}, invalidName("events%")},

		// White space around an item is trimmed (Go's unicode.IsSpace), inside
		// one it is a bad name.
		{"leading space", "/p?topics=%20events", topics("events"), nil},
		{"trailing space", "/p?topics=events%20", topics("events"), nil},
		{"+ as leading space", "/p?topics=+events", topics("events"), nil},
		{"+ as trailing space", "/p?topics=events+", topics("events"), nil},
		{"tab, newline, CR, VT, FF", "/p?topics=%09%0A%0D%0B%0Cevents%09", topics("events"), nil},
		// Unicode white space counts as space too: still only the allowed
		// name it surrounds, never another topic.
		{"no-break space U+00A0", "/p?topics=%C2%A0events", topics("events"), nil},
		{"ideographic space U+3000", "/p?topics=events%E3%80%80", topics("events"), nil},
		{"next line U+0085", "/p?topics=%C2%85orders", topics("orders"), nil},
		{"space around a secret", "/p?topics=+secret+", Targets{}, notAllowed},
		{"inner space", "/p?topics=ev+ents", Targets{}, invalidName("ev ents")},
		{"inner encoded space", "/p?topics=ev%20ents", Targets{}, invalidName("ev ents")},
		// Not white space: zero-width and format characters stay and make
		// the name invalid.
		{"zero-width space U+200B", "/p?topics=%E2%80%8Bevents", Targets{}, invalidName("\u200bevents")},
		{"byte-order mark U+FEFF", "/p?topics=events%EF%BB%BF", Targets{}, invalidName("events\ufeff")},
		{"soft hyphen U+00AD", "/p?topics=ev%C2%ADents", Targets{}, invalidName("ev\u00adents")},

		// Empty items are skipped, never read as "the default topic plus".
		{"leading empty items", "/p?topics=,,events", topics("events"), nil},
		{"empty items around", "/p?topics=,orders,,", topics("orders"), nil},
		{"spaces-only items", "/p?topics=+,%20,orders", topics("orders"), nil},
		{"empty items and a secret", "/p?topics=,,secret", Targets{}, notAllowed},
		{"only empty items: the default topic", "/p?topics=,,,", topics("events"), nil},

		// Repeated arguments: every occurrence counts, so a later secret
		// refuses the request; an empty later one changes nothing.
		{"allowed then secret", "/p?topics=orders&topics=secret", Targets{}, notAllowed},
		{"secret then allowed", "/p?topics=secret&topics=orders", Targets{}, notAllowed},
		{"empty then secret", "/p?topics=&topics=secret", Targets{}, notAllowed},
		{"allowed then empty", "/p?topics=orders&topics=", topics("orders"), nil},
		{"allowed then bare name", "/p?topics=orders&topics", topics("orders"), nil},
		{"many occurrences, last one secret", "/p?" + strings.Repeat("topics=orders&", 50) + "topics=secret", Targets{}, notAllowed},
		{"case variant of the argument name is another argument", "/p?topics=orders&Topics=secret", topics("orders"), nil},
		{"semicolon is no separator", "/p?topics=orders;topics=secret", Targets{}, invalidName("orders;topics=secret")},

		// Unicode look-alikes are other bytes: Kafka's names are ASCII, so
		// they are bad names, never the allowed topic they resemble.
		{"Cyrillic е (U+0435)", "/p?topics=%D0%B5vents", Targets{}, invalidName("еvents")},
		{"Cyrillic о in orders", "/p?topics=%D0%BErders", Targets{}, invalidName("оrders")},
		{"Greek ο (U+03BF)", "/p?topics=%CE%BFrders", Targets{}, invalidName("οrders")},
		{"fullwidth letters", "/p?topics=%EF%BD%85%EF%BD%96%EF%BD%85%EF%BD%8E%EF%BD%94%EF%BD%93", Targets{}, invalidName("ｅｖｅｎｔｓ")},
		{"fullwidth comma is no separator", "/p?topics=orders%EF%BC%8Csecret", Targets{}, invalidName("orders，secret")},
		{"Kelvin sign K (U+212A)", "/p?topics=%E2%84%AA", Targets{}, invalidName("\u212a")},
		{"combining accent", "/p?topics=events%CC%81", Targets{}, invalidName("events\u0301")},
		{"overlong UTF-8 for e", "/p?topics=%C1%A5vents", Targets{}, invalidName("\xc1\xa5vents")},
		{"raw non-ASCII byte", "/p?topics=\xe9vents", Targets{}, invalidName("\xe9vents")},

		// NUL and other control bytes are no topic characters.
		{"NUL before", "/p?topics=%00events", Targets{}, invalidName("\x00events")},
		{"NUL after", "/p?topics=events%00", Targets{}, invalidName("events\x00")},
		{"NUL between allowed and secret", "/p?topics=events%00secret", Targets{}, invalidName("events\x00secret")},
		{"DEL", "/p?topics=events%7F", Targets{}, invalidName("events\x7f")},

		// Paths: / is no topic character, and . and .. are refused by name.
		{"../", "/p?topics=../secret", Targets{}, invalidName("../secret")},
		{"encoded ../", "/p?topics=%2E%2E%2Fsecret", Targets{}, invalidName("../secret")},
		{"..", "/p?topics=..", Targets{}, badTopic(`".." is not a valid Kafka topic name`)},
		{"backslash", "/p?topics=..%5Csecret", Targets{}, invalidName(`..\secret`)},
		{"dot-prefixed secret is another topic", "/p?topics=.secret", Targets{}, notAllowed},
		{"allowed name with a dot suffix is another topic", "/p?topics=events.", Targets{}, notAllowed},

		// Query-string structure.
		{"fragment hides a secret", "/p?topics=orders#&topics=secret", topics("orders"), nil},
		{"second ? is part of the value", "/p?x=1?topics=secret", topics("events"), nil},
		{"argument in the path is no argument", "/topics=secret?a=1", topics("events"), nil},
		{"empty argument name", "/p?=secret", topics("events"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, r, req(tt.path), tt.want, tt.wantErr)
		})
	}
}

// The allowlist is compared byte for byte after decoding, whatever the
// argument's name: a config with another argument name and a topic in
// mixed case allows exactly that spelling.
func TestTopicSteeringMixedCaseAllowlist(t *testing.T) {
	r := router(t, &config.Config{
		Topic:          "Events",
		TopicsQueryArg: proto.String("t"),
		AllowedTopics:  []string{"Orders.v2"},
	})
	check(t, r, req("/p?t=Orders.v2"), topics("Orders.v2"), nil)
	check(t, r, req("/p?t=%4Frders.v2"), topics("Orders.v2"), nil)
	check(t, r, req("/p?t=orders.v2"), Targets{}, notAllowed)
	check(t, r, req("/p?t=ORDERS.V2"), Targets{}, notAllowed)
	check(t, r, req("/p?t=events"), Targets{}, notAllowed)
	check(t, r, req("/p?t=Events"), topics("Events"), nil)
	// Another argument's name does not name topics.
	check(t, r, req("/p?topics=secret"), topics("Events"), nil)
}
