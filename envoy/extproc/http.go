package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kafka-upstream/envoy-kafka-upstream/extproc"
)

// readiness is what the server says of itself, in one place for the gRPC
// health service and /ready: serving until shutdown, and, with
// -ready-requires-kafka, only while every Kafka cluster answers.
type readiness struct {
	grpc          *health.Server
	requiresKafka bool
	log           *slog.Logger
	health        *extproc.Health // nil without Kafka checks; set before serving

	mu           sync.Mutex
	kafkaOK      bool // the last check's verdict
	shuttingDown bool
}

func newReadiness(grpc *health.Server, requiresKafka bool, log *slog.Logger) *readiness {
	r := &readiness{grpc: grpc, requiresKafka: requiresKafka, log: log}
	r.update()
	return r
}

// kafka takes a check's verdict when it changed (Health's callback).
func (r *readiness) kafka(reachable bool) {
	r.mu.Lock()
	r.kafkaOK = reachable
	r.mu.Unlock()
	if reachable {
		r.log.Info("kafka: every cluster answers")
	} else {
		r.log.Warn("kafka: a cluster does not answer", "clusters", r.unreachable())
	}
	r.update()
}

func (r *readiness) unreachable() []string {
	var out []string
	if r.health != nil {
		for _, c := range r.health.Clusters() {
			if !c.Reachable {
				out = append(out, c.Name+": "+c.Error)
			}
		}
	}
	return out
}

// shutdown reports NOT_SERVING for good.
func (r *readiness) shutdown() {
	r.mu.Lock()
	r.shuttingDown = true
	r.mu.Unlock()
	r.grpc.Shutdown()
}

// ready reports whether to say SERVING.
func (r *readiness) ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.shuttingDown && (!r.requiresKafka || r.kafkaOK)
}

func (r *readiness) update() {
	status := healthpb.HealthCheckResponse_SERVING
	if !r.ready() {
		status = healthpb.HealthCheckResponse_NOT_SERVING
	}
	r.grpc.SetServingStatus("", status)
	r.grpc.SetServingStatus(extprocv3.ExternalProcessor_ServiceDesc.ServiceName, status)
}

// readyJSON is /ready's body.
type readyJSON struct {
	Ready bool `json:"ready"`
	// RequiresKafka: whether the clusters count (-ready-requires-kafka).
	RequiresKafka bool          `json:"requires_kafka"`
	Clusters      []clusterJSON `json:"clusters"`
}

type clusterJSON struct {
	Name      string `json:"name"`
	Checked   bool   `json:"checked"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}

// ServeHTTP answers /ready: 200 when ready, else 503, with the clusters'
// last checks either way.
func (r *readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	body := readyJSON{Ready: r.ready(), RequiresKafka: r.requiresKafka, Clusters: []clusterJSON{}}
	if r.health != nil {
		for _, c := range r.health.Clusters() {
			body.Clusters = append(body.Clusters, clusterJSON{Name: c.Name, Checked: c.Checked, Reachable: c.Reachable, Error: c.Error})
		}
	}
	w.Header().Set("content-type", "application/json")
	if !body.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}

// serveHTTP serves /metrics and /ready on addr until the returned stop.
func serveHTTP(addr string, registry *prometheus.Registry, ready *readiness, log *slog.Logger) (stop func(), err error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	mux.Handle("GET /ready", ready)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "error", err)
		}
	}()
	log.Info("serving metrics and readiness", "addr", lis.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
