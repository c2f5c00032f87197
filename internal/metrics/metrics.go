// Package metrics holds the Prometheus metrics of both programs: HTTP
// requests, messages by outcome, provider latency, batch durations and
// asynq queue sizes.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/campaignsms/campaignsms/internal/provider"
)

// Metrics is one program's registry and the metrics in it.
type Metrics struct {
	Registry        *prometheus.Registry
	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	messages        *prometheus.CounterVec
	providerLatency *prometheus.HistogramVec
	batchDuration   prometheus.Histogram
	resent          prometheus.Counter
	stalled         prometheus.Counter
	rescued         prometheus.Counter
	breakerState    *prometheus.GaugeVec
}

// New registers the metrics on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campaignsms_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "campaignsms_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campaignsms_messages_total", Help: "Messages by outcome (sent, skipped, failed_<code>, released).",
		}, []string{"outcome"}),
		providerLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "campaignsms_provider_request_duration_seconds", Help: "SMS provider call latency by result.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "campaignsms_batch_duration_seconds", Help: "Time to process one batch task.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		resent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "campaignsms_messages_resent_total",
			Help: "Messages sent again after the worker holding them died or lost its lease (the provider may have them twice).",
		}),
		stalled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "campaignsms_batch_runs_stalled_total", Help: "Batch runs ended by the watchdog or their deadline; their messages went back to pending.",
		}),
		rescued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "campaignsms_batch_runs_rescued_total", Help: "Batch runs of dead workers queued again by the rescuer.",
		}),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "campaignsms_provider_breaker_state", Help: "SMS provider circuit breaker: 0 closed, 1 half-open, 2 open.",
		}, []string{"provider"}),
	}
	m.Registry.MustRegister(m.httpRequests, m.httpDuration, m.messages, m.providerLatency, m.batchDuration, m.breakerState,
		m.resent, m.stalled, m.rescued,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveHTTP records one answered request.
func (m *Metrics) ObserveHTTP(method, route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(d.Seconds())
}

// Message counts one message outcome (worker.Metrics).
func (m *Metrics) Message(outcome string) { m.messages.WithLabelValues(outcome).Inc() }

// ProviderLatency records one provider call (worker.Metrics).
func (m *Metrics) ProviderLatency(d time.Duration, err error) {
	result := "accepted"
	var perr *provider.Error
	switch {
	case err == nil:
	case errors.As(err, &perr) && perr.Status != 0:
		result = strconv.Itoa(perr.Status)
	default:
		result = "error"
	}
	m.providerLatency.WithLabelValues(result).Observe(d.Seconds())
}

// MessageResent counts a re-sent message (worker.Metrics).
func (m *Metrics) MessageResent() { m.resent.Inc() }

// RunStalled counts a batch run the watchdog ended (worker.Metrics).
func (m *Metrics) RunStalled() { m.stalled.Inc() }

// RunRescued counts a dead worker's batch run queued again (maintenance.Rescuer).
func (m *Metrics) RunRescued() { m.rescued.Inc() }

// BatchDone records one processed batch (worker.Metrics).
func (m *Metrics) BatchDone(d time.Duration) { m.batchDuration.Observe(d.Seconds()) }

// ProviderBreaker records a provider's circuit breaker state
// (provider.FailoverParams.OnStateChange).
func (m *Metrics) ProviderBreaker(name string, _, to provider.BreakerState) {
	m.breakerState.WithLabelValues(name).Set(float64(to))
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// Serve serves /metrics and /healthz on addr until ctx ends; the worker's
// operations endpoint. ready reports the bound address (addr may use port 0).
func (m *Metrics) Serve(ctx context.Context, addr string, ready func(string)) error {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on METRICS_ADDR %s: %w", addr, err)
	}
	if ready != nil {
		ready(l.Addr().String())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics: %w", err)
	}
	return nil
}
