-- Several replicas on one database (SPEC §16): each replica's address and lease, the resumable
-- terminal sessions each one holds, and which replica drives each exec run. A replica renews its
-- lease every few seconds; a session or run whose replica's lease has lapsed is gone.
CREATE TABLE replicas (
    id             TEXT PRIMARY KEY NOT NULL,
    url            TEXT,
    lease_until_ms INTEGER NOT NULL
);
CREATE TABLE terminal_sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    workspace_id  BLOB NOT NULL,
    replica_id    TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    killed_at_ms  INTEGER
);
CREATE INDEX terminal_sessions_workspace ON terminal_sessions (workspace_id);
CREATE INDEX terminal_sessions_replica ON terminal_sessions (replica_id);
ALTER TABLE exec_runs ADD COLUMN replica_id TEXT;
