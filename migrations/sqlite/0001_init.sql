-- Initial schema (SQLite). UUIDs are 16-byte BLOBs, times RFC 3339 TEXT, JSON as TEXT.
CREATE TABLE workspaces (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    runtime     TEXT NOT NULL DEFAULT 'langgraph',
    tier        INTEGER NOT NULL DEFAULT 3 CHECK (tier BETWEEN 1 AND 4),
    status      TEXT NOT NULL,
    parent_id   BLOB REFERENCES workspaces (id),
    instance_id TEXT,
    image       TEXT,
    last_error  TEXT,
    host_key    TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX workspaces_parent ON workspaces (parent_id);

CREATE TABLE workspace_auth_tokens (
    id           BLOB PRIMARY KEY NOT NULL,
    workspace_id BLOB NOT NULL REFERENCES workspaces (id),
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX workspace_auth_tokens_workspace ON workspace_auth_tokens (workspace_id);

CREATE TABLE org_api_tokens (
    id           BLOB PRIMARY KEY NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    org_id       BLOB,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

CREATE TABLE activity_logs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  BLOB NOT NULL,
    activity_type TEXT NOT NULL,
    actor         TEXT NOT NULL,
    method        TEXT NOT NULL,
    summary       TEXT NOT NULL,
    request_body  TEXT,
    duration_ms   INTEGER,
    status        TEXT NOT NULL,
    error_detail  TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX activity_logs_workspace ON activity_logs (workspace_id, created_at);

CREATE TABLE org_plugin_allowlist (
    org_id      BLOB NOT NULL,
    plugin_name TEXT NOT NULL,
    enabled_by  TEXT NOT NULL,
    enabled_at  TEXT NOT NULL,
    UNIQUE (org_id, plugin_name)
);

CREATE TABLE terminal_tickets (
    ticket_hash   TEXT PRIMARY KEY NOT NULL,
    workspace_id  BLOB NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
