-- McpTokens: project-scoped bearer tokens. Only the SHA-256 of the raw
-- token is kept (sha), with a short prefix for people to recognise it.
-- bindings is the JSON list of role bindings fixed at creation. One row
-- per (project, name): creating over a revoked or expired token replaces it.
CREATE TABLE mcp_tokens (
    sha          TEXT PRIMARY KEY,
    project      TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    prefix       TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    bindings     TEXT NOT NULL DEFAULT '[]',
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL DEFAULT 0,
    revoked_at   BIGINT NOT NULL DEFAULT 0,
    last_used_at BIGINT NOT NULL DEFAULT 0,
    UNIQUE (project, name)
);
CREATE INDEX mcp_tokens_created_by ON mcp_tokens (created_by);

ALTER TABLE audit_events ADD COLUMN token_name TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN token_sha TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_events_token_name ON audit_events (token_name, id);
