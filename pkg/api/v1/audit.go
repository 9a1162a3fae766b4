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
}

// AuditList is one page of GET /api/v1/audit, newest first. NextCursor is
// empty on the last page.
type AuditList struct {
	Items      []AuditEvent `json:"items"`
	NextCursor string       `json:"nextCursor,omitempty"`
}
