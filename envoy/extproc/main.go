// Command extproc serves kafka-upstream to stock Envoy and Envoy Gateway as
// an external processing (ext_proc) gRPC server.
//
//	extproc -config kafka-upstream.yaml [-addr 127.0.0.1:50051] [-metrics-addr 127.0.0.1:9090]
//
// It serves grpc.health.v1.Health (service "" and
// "envoy.service.ext_proc.v3.ExternalProcessor") and, with -metrics-addr,
// Prometheus metrics on /metrics and readiness on /ready. Its Kafka
// clusters are checked every -kafka-check-interval; with
// -ready-requires-kafka, health and readiness say NOT_SERVING while one
// cannot be reached. On SIGTERM or SIGINT it reports NOT_SERVING, finishes
// in-flight requests (at most -grace), then flushes and closes its Kafka
// producers.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kafka-upstream/envoy-kafka-upstream/config"
	"github.com/kafka-upstream/envoy-kafka-upstream/extproc"
	"github.com/kafka-upstream/envoy-kafka-upstream/internal/debugserver"
)

func main() {
	var (
		configPath = flag.String("config", "", "config file (YAML or JSON): a Config, or a ServerConfig with default and named configs (required)")
		addr       = flag.String("addr", "127.0.0.1:50051", "gRPC listen address; use :50051 to listen on every interface (in a pod)")
		grace      = flag.Duration("grace", 15*time.Second, "on shutdown, how long in-flight requests may take to finish")
		maxMsg     = flag.Int("max-recv-msg-size", 64<<20, "largest gRPC message accepted, in bytes; keep it above Envoy's buffer limit (1 MiB by default)")
		logLevel   = flag.String("log-level", "info", "debug, info, warn or error")
		debugAddr  = flag.String("debug-addr", "", "serve Go's runtime profiles (net/http/pprof, /debug/pprof/) on this address, e.g. 127.0.0.1:6060; off by default")
		opts       options
	)
	flag.StringVar(&opts.metricsAddr, "metrics-addr", "", "serve Prometheus metrics (/metrics) and readiness (/ready) over HTTP on this address, e.g. 127.0.0.1:9090 (:9090 in a pod); off by default")
	flag.DurationVar(&opts.checkEvery, "kafka-check-interval", 10*time.Second, "how often to check that each Kafka cluster answers (a metadata request); 0 turns the checks off")
	flag.BoolVar(&opts.readyRequiresKafka, "ready-requires-kafka", false, "report NOT_SERVING (gRPC health, /ready) while a Kafka cluster cannot be reached; see the README on why this is off by default")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "extproc: -log-level: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *debugAddr != "" {
		a, err := debugserver.Start(*debugAddr, log)
		if err != nil {
			log.Error("extproc: -debug-addr: " + err.Error())
			os.Exit(1)
		}
		log.Info("serving runtime profiles", "addr", a.String())
	}
	if opts.readyRequiresKafka && opts.checkEvery <= 0 {
		fmt.Fprintln(os.Stderr, "extproc: -ready-requires-kafka needs the Kafka checks: set -kafka-check-interval above 0")
		os.Exit(2)
	}
	if err := run(log, *configPath, *addr, *grace, *maxMsg, opts); err != nil {
		log.Error("extproc: " + err.Error())
		os.Exit(1)
	}
}

// options are the flags about what the server tells of itself.
type options struct {
	metricsAddr        string
	checkEvery         time.Duration
	readyRequiresKafka bool
}

func run(log *slog.Logger, configPath, addr string, grace time.Duration, maxMsg int, opts options) error {
	if configPath == "" {
		return fmt.Errorf("-config is required")
	}
	data, err := os.ReadFile(configPath)
	if err != nil {
		return err
	}
	settings, err := config.ServerFromYAML(data)
	if err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}

	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var kafkaHealth *extproc.Health
	// kafkaHealth is set before the HTTP server starts, so before any
	// scrape reads it.
	set, registry := extproc.NewMetrics(func() []extproc.ClusterState {
		if kafkaHealth == nil {
			return nil
		}
		return kafkaHealth.Clusters()
	})
	processor := extproc.New(settings, log, set)
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxMsg))
	extprocv3.RegisterExternalProcessorServer(srv, processor)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthSrv)
	ready := newReadiness(healthSrv, opts.readyRequiresKafka, log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if opts.checkEvery > 0 {
		kafkaHealth = extproc.NewHealth(processor, opts.checkEvery, ready.kafka)
		ready.health = kafkaHealth
		go kafkaHealth.Run(ctx)
	}
	if opts.metricsAddr != "" {
		stopHTTP, err := serveHTTP(opts.metricsAddr, registry, ready, log)
		if err != nil {
			return fmt.Errorf("-metrics-addr: %w", err)
		}
		defer stopHTTP()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.Info("serving ext_proc", "addr", lis.Addr().String(), "config", configPath,
		"default", settings.Default != nil, "named", len(settings.Named))

	select {
	case err := <-served:
		processor.Close(context.Background())
		return err
	case <-ctx.Done():
	}
	stop() // a second Ctrl-C kills at once

	// Requests in flight get until the deadline to finish; health Watch
	// streams are cut once they have (GracefulStop alone would wait for
	// them too).
	deadline := time.Now().Add(grace)
	log.Info("shutting down: finishing in-flight requests", "grace", grace)
	ready.shutdown() // NOT_SERVING for health-checking clients and /ready
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }() // no new connections or streams
	drainCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := processor.WaitIdle(drainCtx); err != nil {
		log.Warn("grace period over: cancelling the requests still in flight")
	} else {
		// The last replies may still be on their way to Envoy: let
		// GracefulStop finish sending them. It also waits for health
		// Watch streams, which never end by themselves, hence the bound.
		select {
		case <-stopped:
		case <-time.After(time.Second):
		}
	}
	srv.Stop()
	<-served

	// Flush what kafka-go still holds, within what is left of the grace
	// period (at least a second).
	closeCtx, cancelClose := context.WithDeadline(context.Background(), later(deadline, time.Now().Add(time.Second)))
	defer cancelClose()
	if err := processor.Close(closeCtx); err != nil {
		log.Warn("closing kafka producers", "error", err)
	}
	log.Info("stopped")
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
