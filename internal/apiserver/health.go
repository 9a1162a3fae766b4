package apiserver

import (
	"context"
	"net/http"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// healthz says the process is up; it touches nothing.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": v1.StatusOK})
}

// probe queries the store with a short deadline.
func (s *Server) probe(ctx context.Context) v1.Health {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	h := v1.Health{Status: v1.StatusOK, DB: v1.DBConnected, Timestamp: s.now().UTC(), Version: v1.Version}
	if err := s.store.Ping(ctx); err != nil {
		h.Status, h.DB = v1.StatusDegraded, v1.DBDisconnected
	}
	return h
}

func healthStatus(h v1.Health) int {
	if h.Status == v1.StatusOK {
		return http.StatusOK
	}
	return http.StatusServiceUnavailable
}

// readyz is for load balancers: 503 while the store is unreachable.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	h := s.probe(r.Context())
	writeJSON(w, healthStatus(h), map[string]string{"status": h.Status, "db": h.DB})
}

// health is the full report, from a real store query, with the MCP
// endpoints' sessions and calls.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	h := s.probe(r.Context())
	if s.mcpHealth != nil {
		h.MCP = s.mcpHealth()
	}
	writeJSON(w, healthStatus(h), h)
}
