package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/encoder"
	"github.com/kafka-upstream/envoy-kafka-upstream/message"
)

// kafkaSenders are the benchmarks' publishing ceiling (issue 9, scenario
// e): no HTTP and no Envoy, each worker writes the record the product
// would write for the request loadgen would send, with a kafka-go Writer
// set up as the product's producer is (one shared writer, the config's
// acks, batching, timeouts and compression, keyless records round-robin,
// one attempt), and waits for the acknowledgement. The config is the
// ext_proc server's config file (its `default`), so the record (Kong's
// envelope, record headers) and the writer settings are the ones scenario
// (c) uses; the brokers come from -kafka.
//
// The value is encoded once: encoding is the product's work, not the
// publisher's. Each record carries its own x-request-id header, as each
// request through Envoy does.
func kafkaSenders(o *options) ([]sendFunc, func(), error) {
	data, err := os.ReadFile(o.KafkaConfig)
	if err != nil {
		return nil, nil, err
	}
	server, err := config.ServerFromYAML(data)
	if err != nil {
		return nil, nil, err
	}
	s := server.Default
	if s == nil {
		return nil, nil, fmt.Errorf("%s: no default config", o.KafkaConfig)
	}
	enc, err := encoder.New(s.Message, s.Headers).Encode(benchRequest(o))
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the record: %w", err)
	}
	if s.Producer.Compression != "none" && s.Producer.Compression != "" {
		return nil, nil, errors.New("-kafka: a config with compression is not supported (the product's codecs are not wired here)")
	}
	transport := &kafka.Transport{ClientID: s.Cluster.ClientID, DialTimeout: s.Producer.ProduceTimeout, MetadataTTL: time.Second}
	w := &kafka.Writer{
		Addr:         kafka.TCP(strings.Split(o.Kafka, ",")...),
		Topic:        s.Routing.Topic,
		Balancer:     &kafka.RoundRobin{},
		BatchTimeout: s.Producer.BatchTimeout,
		BatchSize:    s.Producer.BatchSize,
		BatchBytes:   s.Producer.BatchBytes,
		RequiredAcks: kafka.RequiredAcks(s.Producer.RequiredAcks),
		MaxAttempts:  1,
		ReadTimeout:  s.Producer.ProduceTimeout,
		WriteTimeout: s.Producer.ProduceTimeout,
		Transport:    transport,
	}
	var headers []kafka.Header
	for _, h := range enc.Headers {
		if h.Key != "x-request-id" {
			headers = append(headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
	}
	var seq atomic.Uint64
	send := func(ctx context.Context) (int, error) {
		id := strconv.AppendUint([]byte("bench-"), seq.Add(1), 10)
		msg := kafka.Message{Value: enc.Value, Headers: append(headers[:len(headers):len(headers)], kafka.Header{Key: "x-request-id", Value: id})}
		if err := w.WriteMessages(ctx, msg); err != nil {
			return 0, err
		}
		return 200, nil
	}
	senders := make([]sendFunc, o.Conns)
	for i := range senders {
		senders[i] = send
	}
	return senders, func() { w.Close() }, nil
}

// benchRequest is the request as the product sees it behind Envoy: the
// pseudo-headers, what the load generator sends, and what Envoy adds.
func benchRequest(o *options) *message.Request {
	path := "/"
	if u, err := url.Parse(o.URL); err == nil && o.URL != "" {
		path = u.RequestURI()
	}
	h := []message.Header{
		{Name: ":authority", Value: "127.0.0.1:10000"},
		{Name: ":path", Value: path},
		{Name: ":method", Value: o.Method},
		{Name: ":scheme", Value: "http"},
		{Name: "user-agent", Value: "Go-http-client/1.1"},
		{Name: "content-length", Value: strconv.Itoa(len(o.Body))},
		{Name: "content-type", Value: o.ContentType},
		{Name: "x-forwarded-proto", Value: "http"},
		{Name: "x-request-id", Value: "0d6e1b5c-3f5e-4a8e-9a53-6f1c2c4b7e21"},
	}
	return &message.Request{Headers: h, Body: o.Body}
}
