-- Resources of DESIGN.md §5 (Server, Secret, Template, Project, Prompt):
-- one table, the spec as JSON. project is '' for kinds that are not
-- project-scoped. Secret values inside spec are encrypted by mcpd.
CREATE TABLE resources (
    kind             TEXT NOT NULL,
    project          TEXT NOT NULL DEFAULT '',
    name             TEXT NOT NULL,
    labels           TEXT NOT NULL DEFAULT '{}',
    spec             TEXT NOT NULL,
    resource_version BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (kind, project, name)
);

-- resource_refs holds one row per reference (a server naming a secret, a
-- project naming a server, a prompt naming its project), so a delete can
-- find what still uses an object without reading every spec.
CREATE TABLE resource_refs (
    to_kind      TEXT NOT NULL,
    to_name      TEXT NOT NULL,
    from_kind    TEXT NOT NULL,
    from_project TEXT NOT NULL,
    from_name    TEXT NOT NULL,
    PRIMARY KEY (to_kind, to_name, from_kind, from_project, from_name)
);
CREATE INDEX resource_refs_from ON resource_refs (from_kind, from_project, from_name);
