package v1

import "time"

// AuditEvent is one append-only record of a request to mcpd.
type AuditEvent struct {
	ID         int64     `json:"id"`
	Time       time.Time `json:"time"`
	Principal  string    `json:"principal,omitempty"`
	Action     string    `json:"action"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`
	DurationMS float64   `json:"durationMs"`
	ClientIP   string    `json:"clientIp,omitempty"`
	RequestID  string    `json:"requestId,omitempty"`
	// TokenName and TokenSHA name the McpToken a request was made with.
	TokenName string `json:"tokenName,omitempty"`
	TokenSHA  string `json:"tokenSha,omitempty"`
	// An MCP call (action mcp.tools/call, mcp.prompts/get,
	// mcp.resources/read) names its project, the upstream server and
	// that server's own name of the tool, prompt or resource; Outcome is
	// ok, tool-error, error or denied; Denied is set when a project's
	// tool filter refused it; Detail holds the argument shape (keys and
	// JSON types, never values) or the error.
	Project string `json:"project,omitempty"`
	Server  string `json:"server,omitempty"`
	Tool    string `json:"tool,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	Denied  bool   `json:"denied,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// AuditList is one page of GET /api/v1/audit, newest first. NextCursor is
// empty on the last page.
type AuditList struct {
	Items      []AuditEvent `json:"items"`
	NextCursor string       `json:"nextCursor,omitempty"`
}
