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
	// MCP reports the project endpoints of this mcpd since it started.
	MCP *MCPHealth `json:"mcp,omitempty"`
}

// MCPHealth is the MCP gateway's part of /health, by project.
type MCPHealth struct {
	Projects map[string]MCPProjectHealth `json:"projects"`
}

// MCPProjectHealth is one project endpoint: its open sessions (session
// era) and its calls by upstream server ("" for project prompts and
// names no server has).
type MCPProjectHealth struct {
	Sessions int                        `json:"sessions"`
	Servers  map[string]MCPServerHealth `json:"servers,omitempty"`
}

// MCPServerHealth counts the calls to one server of a project.
type MCPServerHealth struct {
	Calls  int64 `json:"calls"`
	Errors int64 `json:"errors"`
	Denied int64 `json:"denied"`
	// MeanLatencyMillis is the mean call latency through the gateway.
	MeanLatencyMillis float64 `json:"meanLatencyMillis"`
}
