// Package telemetry holds mcpd's Prometheus metrics on a private registry,
// so nothing registered globally by a dependency leaks into /metrics.
package telemetry

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the instruments the HTTP stack and the audit writer update.
type Metrics struct {
	Registry *prometheus.Registry

	// Requests counts finished requests by route pattern, method and status.
	Requests *prometheus.CounterVec
	// Duration observes request latency by route pattern and method.
	Duration *prometheus.HistogramVec
	// InFlight is the number of requests being served.
	InFlight prometheus.Gauge
	// AuditWritten counts audit events stored.
	AuditWritten prometheus.Counter
	// AuditDropped counts audit events lost: queue full or store failing.
	AuditDropped prometheus.Counter
	// AuditWriteErrors counts failed batch writes (each is retried).
	AuditWriteErrors prometheus.Counter
}

// New creates the metrics on a fresh registry, with Go and process
// collectors. queueDepth reports the audit queue length at scrape time.
func New(queueDepth func() float64) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpd_http_requests_total", Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcpd_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mcpd_http_requests_in_flight", Help: "HTTP requests being served now.",
		}),
		AuditWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mcpd_audit_events_written_total", Help: "Audit events written to the store.",
		}),
		AuditDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mcpd_audit_events_dropped_total", Help: "Audit events lost because the queue was full or the store kept failing.",
		}),
		AuditWriteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mcpd_audit_write_errors_total", Help: "Failed audit batch writes (retried before events are dropped).",
		}),
	}
	reg.MustRegister(m.Requests, m.Duration, m.InFlight, m.AuditWritten, m.AuditDropped, m.AuditWriteErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queueDepth != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mcpd_audit_queue_depth", Help: "Audit events waiting to be written.",
		}, queueDepth))
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
