-- MCP sessions of the session era (2025-11-25), so that another mcpd
-- replica can resume a session whose client it never saw initialize:
-- the principal and project it is bound to, the negotiated version and
-- the client's initialize params (JSON).
CREATE TABLE mcp_sessions (
    id         TEXT PRIMARY KEY,
    project    TEXT NOT NULL,
    subject    TEXT NOT NULL,
    version    TEXT NOT NULL,
    init       TEXT NOT NULL,
    node       TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);
CREATE INDEX mcp_sessions_last_seen ON mcp_sessions (last_seen);

-- One audit event per MCP call: the project, the upstream server and its
-- own name of the tool (prompt, resource), the outcome, whether a filter
-- denied it, and the argument shape or the error.
ALTER TABLE audit_events ADD COLUMN project TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN server TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN tool TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN denied SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN detail TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_events_project ON audit_events (project, id);
