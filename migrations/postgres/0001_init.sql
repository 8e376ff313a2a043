-- Initial schema (PostgreSQL).
CREATE TABLE workspaces (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    runtime     TEXT NOT NULL DEFAULT 'langgraph',
    tier        INTEGER NOT NULL DEFAULT 3 CHECK (tier BETWEEN 1 AND 4),
    status      TEXT NOT NULL,
    parent_id   UUID REFERENCES workspaces (id),
    instance_id TEXT,
    image       TEXT,
    last_error  TEXT,
    host_key    TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX workspaces_parent ON workspaces (parent_id);

CREATE TABLE workspace_auth_tokens (
    id           UUID PRIMARY KEY,
    workspace_id UUID NOT NULL REFERENCES workspaces (id),
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX workspace_auth_tokens_workspace ON workspace_auth_tokens (workspace_id);

CREATE TABLE org_api_tokens (
    id           UUID PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    org_id       UUID,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

CREATE TABLE activity_logs (
    id            BIGSERIAL PRIMARY KEY,
    workspace_id  UUID NOT NULL,
    activity_type TEXT NOT NULL,
    actor         TEXT NOT NULL,
    method        TEXT NOT NULL,
    summary       TEXT NOT NULL,
    request_body  JSONB,
    duration_ms   BIGINT,
    status        TEXT NOT NULL,
    error_detail  TEXT,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX activity_logs_workspace ON activity_logs (workspace_id, created_at);

CREATE TABLE org_plugin_allowlist (
    org_id      UUID NOT NULL,
    plugin_name TEXT NOT NULL,
    enabled_by  TEXT NOT NULL,
    enabled_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, plugin_name)
);

CREATE TABLE terminal_tickets (
    ticket_hash   TEXT PRIMARY KEY,
    workspace_id  UUID NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
