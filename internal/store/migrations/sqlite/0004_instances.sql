-- Instances: the running copies of servers, owned by mcpd. health and
-- events are JSON (events: the last 50). node is the mcpd that runs it.
CREATE TABLE instances (
    id            TEXT PRIMARY KEY,
    server        TEXT NOT NULL,
    runtime       TEXT NOT NULL,
    runtime_id    TEXT NOT NULL DEFAULT '',
    node          TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL,
    message       TEXT NOT NULL DEFAULT '',
    restarts      INTEGER NOT NULL DEFAULT 0,
    exit_code     INTEGER,
    next_start_at BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT NOT NULL DEFAULT 0,
    ready_at      BIGINT NOT NULL DEFAULT 0,
    stopped_at    BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL,
    health        TEXT NOT NULL DEFAULT '{}',
    events        TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX instances_server ON instances (server, id);

-- Instance logs, numbered per instance (seq from 1) so that any replica can
-- page and follow them; retention trims the oldest.
CREATE TABLE instance_logs (
    instance_id TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    ts          BIGINT NOT NULL,
    stream      TEXT NOT NULL,
    line        TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);

-- Leases: one holder at a time per name (the reconciler of one server),
-- until expires_at unless renewed.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
