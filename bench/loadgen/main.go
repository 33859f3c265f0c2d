// Command loadgen is the HTTP load generator of the benchmarks (issue 9):
// keep-alive connections over HTTP/1.1 or h2c (prior knowledge), in an
// open loop at a fixed rate (each request has an intended send time and
// its latency is measured from it, so a stalling server cannot hide the
// requests it delayed: no coordinated omission) or a closed loop (each
// connection sends as soon as it has its reply), with a warm-up that is not
// counted. It prints a JSON summary on stdout (or -out) and one line for
// people on stderr.
//
//	go run ./bench/loadgen -url http://127.0.0.1:10000/orders -size 1024 \
//	    -conns 16 -proto h2c -mode open -rate 5000 -duration 10s -warmup 2s
//
// See docs/benchmarks.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"
)

type headerFlag http.Header

func (h headerFlag) String() string { return "" }

func (h headerFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("%q: want \"Name: value\"", v)
	}
	http.Header(h).Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

func main() {
	if err := mainErr(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
}

func mainErr(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{Header: http.Header{}}
	var bodyFile, out string
	var size int
	fs.StringVar(&o.URL, "url", "", "target URL (http://…; required)")
	fs.StringVar(&o.Method, "method", http.MethodPost, "request method")
	fs.StringVar(&bodyFile, "body", "", "file whose contents are every request's body (overrides -size)")
	fs.IntVar(&size, "size", 1024, "body size in bytes when no -body: a JSON object of exactly that size (8 bytes or more) for a JSON -content-type, else that many 'x'; 0 for no body")
	fs.StringVar(&o.ContentType, "content-type", "application/json", "content-type of the body")
	fs.StringVar(&o.Host, "host", "", "Host header (:authority) to send instead of the URL's")
	fs.Var(headerFlag(o.Header), "H", "extra request header \"Name: value\" (repeatable)")
	fs.StringVar(&o.Proto, "proto", protoHTTP1, "protocol: http1 (HTTP/1.1 keep-alive) or h2c (HTTP/2 cleartext, prior knowledge)")
	fs.IntVar(&o.Conns, "conns", 16, "connections")
	fs.IntVar(&o.Streams, "streams", 1, "requests in flight per connection (h2c only)")
	fs.StringVar(&o.Mode, "mode", modeClosed, "closed (each connection sends when it has its reply) or open (fixed -rate)")
	fs.Float64Var(&o.Rate, "rate", 0, "open loop: requests per second over all connections")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured duration, after the warm-up")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "warm-up before measuring (same load, not counted)")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "per-request timeout (an error when exceeded)")
	fs.StringVar(&o.Kafka, "kafka", "", "publish to these brokers (host:port,…) directly with kafka-go instead of sending HTTP: the publishing ceiling; -conns is the concurrency, -url's path and the body make the record")
	fs.StringVar(&o.KafkaConfig, "kafka-config", "", "with -kafka: the ext_proc server's config file whose default config gives the record's format, topic and the writer settings")
	fs.StringVar(&out, "out", "", "write the JSON summary to this file instead of stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.Method = strings.ToUpper(o.Method)
	switch {
	case bodyFile != "":
		b, err := os.ReadFile(bodyFile)
		if err != nil {
			return err
		}
		o.Body = b
	case size < 0:
		return fmt.Errorf("-size must not be negative")
	default:
		o.Body = makeBody(size, o.ContentType)
	}
	if err := o.check(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var s *summary
	if o.Kafka != "" {
		senders, closeAll, err := kafkaSenders(o)
		if err != nil {
			return err
		}
		s = run(ctx, o, senders)
		closeAll()
		s.Proto = "kafka"
	} else {
		senders, dials, closeAll := httpSenders(o)
		s = run(ctx, o, senders)
		closeAll()
		s.Dials = dials.Load()
	}

	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	js = append(js, '\n')
	if out != "" {
		if err := os.WriteFile(out, js, 0o644); err != nil {
			return err
		}
	} else if _, err := stdout.Write(js); err != nil {
		return err
	}
	fmt.Fprintln(stderr, s.line())
	return nil
}

// makeBody is a body of exactly n bytes: for a JSON content type a JSON
// object {"d":"xxx…"} when n allows one (8 bytes or more), else n 'x'.
func makeBody(n int, contentType string) []byte {
	if n == 0 {
		return nil
	}
	ct := strings.ToLower(contentType)
	if strings.Contains(ct, "json") && n >= 8 {
		const head, tail = `{"d":"`, `"}`
		return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
	}
	return []byte(strings.Repeat("x", n))
}
