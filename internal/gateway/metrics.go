package gateway

import (
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway instruments on /metrics. mcpd prefixes them
// mcpd_, mcplocal mcplocal_ (Namespace of NewMetrics).
type Metrics struct {
	Sessions     *prometheus.GaugeVec
	Calls        *prometheus.CounterVec
	CallDuration *prometheus.HistogramVec
	Unattributed *prometheus.CounterVec
	// Relayed counts the tools/call the relay served (relay.go), which
	// Calls counts too.
	Relayed prometheus.Counter

	tallies sync.Map // tallyKey → *callTally, for /health
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
		Relayed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "mcp_relayed_calls_total", Help: "tools/call of session-era clients to shared Streamable HTTP servers forwarded as bytes, without the SDK's decoding (also counted in mcp_calls_total).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Sessions, m.Calls, m.CallDuration, m.Unattributed, m.Relayed)
	}
	return m
}

func (m *Metrics) observe(project, server, method, outcome string, d time.Duration) {
	m.Calls.WithLabelValues(project, server, method, outcome).Inc()
	m.CallDuration.WithLabelValues(project, server, method).Observe(d.Seconds())
	v, ok := m.tallies.Load(tallyKey{project, server})
	if !ok {
		v, _ = m.tallies.LoadOrStore(tallyKey{project, server}, &callTally{})
	}
	t := v.(*callTally)
	t.calls.Add(1)
	t.micros.Add(d.Microseconds())
	switch outcome {
	case OutcomeError:
		t.errors.Add(1)
	case OutcomeDenied:
		t.denied.Add(1)
	}
}

type tallyKey struct{ project, server string }

type callTally struct{ calls, errors, denied, micros atomic.Int64 }

// Health summarises the calls of each project and server since start,
// with the open sessions of edges (by project).
func (m *Metrics) Health(sessions map[string]int) *v1.MCPHealth {
	h := &v1.MCPHealth{Projects: map[string]v1.MCPProjectHealth{}}
	for p, n := range sessions {
		h.Projects[p] = v1.MCPProjectHealth{Sessions: n}
	}
	m.tallies.Range(func(k, v any) bool {
		key, t := k.(tallyKey), v.(*callTally)
		p := h.Projects[key.project]
		if p.Servers == nil {
			p.Servers = map[string]v1.MCPServerHealth{}
		}
		s := v1.MCPServerHealth{Calls: t.calls.Load(), Errors: t.errors.Load(), Denied: t.denied.Load()}
		if s.Calls > 0 {
			s.MeanLatencyMillis = float64(t.micros.Load()) / float64(s.Calls) / 1000
		}
		p.Servers[key.server] = s
		h.Projects[key.project] = p
		return true
	})
	return h
}
