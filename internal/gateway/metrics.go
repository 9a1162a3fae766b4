package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway instruments on /metrics. mcpd prefixes them
// mcpd_, mcplocal mcplocal_ (Namespace of NewMetrics).
type Metrics struct {
	Sessions     *prometheus.GaugeVec
	Calls        *prometheus.CounterVec
	CallDuration *prometheus.HistogramVec
	Unattributed *prometheus.CounterVec
}

// NewMetrics creates the instruments under namespace and registers them
// on reg (none when reg is nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return NewMetricsIn(reg, "mcpd")
}

// NewMetricsIn is NewMetrics with another name prefix.
func NewMetricsIn(reg prometheus.Registerer, namespace string) *Metrics {
	m := &Metrics{
		Sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "mcp_sessions_active", Help: "MCP client sessions open on a project endpoint (session era).",
		}, []string{"project"}),
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "mcp_calls_total", Help: "MCP calls (tools/call, prompts/get, resources/read) by outcome: ok, tool-error, error, denied.",
		}, []string{"project", "server", "method", "outcome"}),
		CallDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "mcp_call_duration_seconds", Help: "MCP call latency through the gateway, upstream included.",
			Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"project", "server", "method"}),
		Unattributed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "mcp_unattributed_total", Help: "Server requests refused and logs dropped on a shared session because several clients had calls in flight.",
		}, []string{"server", "kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.Sessions, m.Calls, m.CallDuration, m.Unattributed)
	}
	return m
}

func (m *Metrics) observe(project, server, method, outcome string, d time.Duration) {
	m.Calls.WithLabelValues(project, server, method, outcome).Inc()
	m.CallDuration.WithLabelValues(project, server, method).Observe(d.Seconds())
}
