package v1

import "time"

// Health statuses.
const (
	StatusOK       = "ok"
	StatusDegraded = "degraded"
)

// Database states in Health.DB.
const (
	DBConnected    = "connected"
	DBDisconnected = "disconnected"
)

// Health is the body of GET /health. DB comes from a real store query.
type Health struct {
	Status    string    `json:"status"`
	Timestamp time.Time `json:"timestamp"`
	DB        string    `json:"db"`
	Version   string    `json:"version"`
}
