-- Exec runs that outlive their request (SPEC §14): one row per run, its final record once it has
-- ended; its output is a file under the data directory. The idempotency key is unique per
-- workspace, so "at most once" is the database's to enforce.
CREATE TABLE exec_runs (
    exec_id         BLOB PRIMARY KEY NOT NULL,
    workspace_id    BLOB NOT NULL,
    argv            TEXT NOT NULL,
    state           TEXT NOT NULL,
    started_at_ms   INTEGER NOT NULL,
    ended_at_ms     INTEGER,
    final_record    TEXT,
    idempotency_key TEXT,
    UNIQUE (workspace_id, idempotency_key)
);
CREATE INDEX exec_runs_ended ON exec_runs (ended_at_ms);
