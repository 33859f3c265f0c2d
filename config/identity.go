package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ProducerIdentity names the Kafka producer a config needs: two configs
// with the same identity can share one writer and its connections
// (producer.Acquire). It covers everything that shapes the writer — the
// brokers (in any order), client id, TLS, SASL (secrets by fingerprint,
// never by value), acks, timeouts, batching, partitioning, compression —
// and nothing of routing or encoding.
func ProducerIdentity(c Cluster, p Producer) string {
	var b strings.Builder
	brokers := slices.Clone(c.Brokers)
	slices.Sort(brokers)
	fmt.Fprintf(&b, "brokers=%q client=%q", brokers, c.ClientID)
	if t := c.TLS; t != nil {
		fmt.Fprintf(&b, " tls{ca=%s name=%q min=%d cert=%q key=%q insecure=%t}", t.CAFingerprint, t.ServerName, t.MinVersion, t.CertFile, t.KeyFile, t.InsecureSkipVerify)
	}
	if s := c.SASL; s != nil {
		fmt.Fprintf(&b, " sasl{%s user=%q password=%s", s.Mechanism, s.Username, s.Password.fingerprint())
		if o := s.OAuth; o != nil {
			fmt.Fprintf(&b, " oauth{file=%q url=%q client=%q secret=%s scopes=%q params=", o.TokenFile, o.TokenURL, o.ClientID, o.ClientSecret.fingerprint(), o.Scopes)
			for _, k := range slices.Sorted(maps.Keys(o.Params)) {
				fmt.Fprintf(&b, "%q=%q,", k, o.Params[k])
			}
			b.WriteString("}")
		}
		b.WriteString("}")
	}
	level := "default"
	if p.CompressionLevel != nil {
		level = fmt.Sprint(*p.CompressionLevel)
	}
	fmt.Fprintf(&b, " acks=%d timeout=%v batch=%v/%d/%d partitioner=%s keyless=%s autocreate=%t compression=%s/%s",
		p.RequiredAcks, p.ProduceTimeout, p.BatchTimeout, p.BatchSize, p.BatchBytes, p.Partitioner, p.Keyless, p.AllowAutoTopicCreation, p.Compression, level)
	if a := p.Async; a != nil {
		// The buffer belongs to the producer: its bounds and deadlines
		// are part of it (enabled and the status are the configs' own).
		fmt.Fprintf(&b, " async{records=%d bytes=%d delivery=%v flush=%v gating=%t}", a.BufferRecords, a.BufferBytes, a.DeliveryTimeout, a.FlushTimeout, a.HealthGating)
	}
	return b.String()
}

// fingerprint identifies a secret without showing it: the file it is read
// from (read again at each use, so its contents may change), or a hash of
// the inline value.
func (s Secret) fingerprint() string {
	switch {
	case s.v == nil:
		return "none"
	case s.v.file != "":
		return fmt.Sprintf("file:%q", s.v.file)
	default:
		sum := sha256.Sum256([]byte("kafka-upstream secret\x00" + s.v.value))
		return "sha256:" + hex.EncodeToString(sum[:8])
	}
}
