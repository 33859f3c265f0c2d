package config

import (
	"strings"
	"testing"
	"time"
)

func TestProducerIdentity(t *testing.T) {
	level := 3
	base := func() (Cluster, Producer) {
		return Cluster{Brokers: []string{"b:1", "a:1"}, ClientID: "c",
				SASL: &SASL{Mechanism: SASLPlain, Username: "u", Password: NewSecret("hunter2")}},
			Producer{RequiredAcks: -1, ProduceTimeout: time.Second, BatchTimeout: time.Millisecond, BatchSize: 100, BatchBytes: 1 << 20,
				Partitioner: PartitionerMurmur2, Keyless: KeylessRoundRobin, Compression: "none"}
	}
	c0, p0 := base()
	id := ProducerIdentity(c0, p0)
	if strings.Contains(id, "hunter2") {
		t.Fatalf("identity shows the password: %s", id)
	}
	c, p := base()
	c.Brokers = []string{"a:1", "b:1"}
	if ProducerIdentity(c, p) != id {
		t.Error("broker order changed the identity")
	}
	for name, change := range map[string]func(*Cluster, *Producer){
		"brokers":       func(c *Cluster, _ *Producer) { c.Brokers = []string{"a:1"} },
		"client id":     func(c *Cluster, _ *Producer) { c.ClientID = "d" },
		"password":      func(c *Cluster, _ *Producer) { c.SASL.Password = NewSecret("hunter3") },
		"password file": func(c *Cluster, _ *Producer) { c.SASL.Password = SecretFile("/run/secret") },
		"mechanism":     func(c *Cluster, _ *Producer) { c.SASL.Mechanism = SASLScramSHA256 },
		"no sasl":       func(c *Cluster, _ *Producer) { c.SASL = nil },
		"tls":           func(c *Cluster, _ *Producer) { c.TLS = &TLS{MinVersion: 0x0303} },
		"oauth secret": func(c *Cluster, _ *Producer) {
			c.SASL = &SASL{Mechanism: SASLOAuthBearer, OAuth: &OAuth{TokenURL: "u", ClientSecret: NewSecret("x")}}
		},
		"acks":        func(_ *Cluster, p *Producer) { p.RequiredAcks = 1 },
		"timeout":     func(_ *Cluster, p *Producer) { p.ProduceTimeout = 2 * time.Second },
		"batch size":  func(_ *Cluster, p *Producer) { p.BatchSize = 10 },
		"compression": func(_ *Cluster, p *Producer) { p.Compression = "zstd" },
		"level":       func(_ *Cluster, p *Producer) { p.CompressionLevel = &level },
		"partitioner": func(_ *Cluster, p *Producer) { p.Partitioner = PartitionerCRC32 },
	} {
		c, p := base()
		change(&c, &p)
		if ProducerIdentity(c, p) == id {
			t.Errorf("%s: same identity", name)
		}
	}
	c1, p1 := base()
	c1.TLS = &TLS{CAFingerprint: "aa"}
	c2, p2 := base()
	c2.TLS = &TLS{CAFingerprint: "bb"}
	if ProducerIdentity(c1, p1) == ProducerIdentity(c2, p2) {
		t.Error("different CA contents: same identity")
	}
}
