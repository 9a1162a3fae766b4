package instance

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the instance instruments on /metrics.
type Metrics struct {
	Up                  *prometheus.GaugeVec
	Ready               *prometheus.GaugeVec
	ConsecutiveFailures *prometheus.GaugeVec
	Restarts            *prometheus.CounterVec
	ProbeDuration       *prometheus.HistogramVec
	LogLines            prometheus.Counter
}

// NewMetrics creates the instruments and registers them on reg (none when
// reg is nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mcpd_instance_up", Help: "1 while the instance's process or container runs.",
		}, []string{"server", "instance"}),
		Ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mcpd_instance_ready", Help: "1 while the instance's last health probe passed.",
		}, []string{"server", "instance"}),
		ConsecutiveFailures: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mcpd_instance_probe_consecutive_failures", Help: "Failed health probes in a row.",
		}, []string{"server", "instance"}),
		Restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpd_instance_restarts_total", Help: "Instance restarts after a crash, a failed health check or a request.",
		}, []string{"server"}),
		ProbeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mcpd_instance_probe_duration_seconds", Help: "Health probe round trips (MCP tools/list or the configured tool call).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"server", "outcome"}),
		LogLines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mcpd_instance_log_lines_total", Help: "Instance log lines stored.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Up, m.Ready, m.ConsecutiveFailures, m.Restarts, m.ProbeDuration, m.LogLines)
	}
	return m
}

func (m *Metrics) forget(server, id string) {
	m.Up.DeleteLabelValues(server, id)
	m.Ready.DeleteLabelValues(server, id)
	m.ConsecutiveFailures.DeleteLabelValues(server, id)
}
