//! Audit rows in `activity_logs`: who did what to a workspace, never command output or secrets.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::auth::Caller;
use crate::store::{NewActivity, Store, StoreError};
use crate::workspace::WorkspaceId;

/// How long an audit row waits for an unavailable database to come back.
pub const RETRY_FOR: Duration = Duration::from_secs(300);

/// Writes an audit row. A failure is logged, not returned: the action has already happened.
/// While the database is unavailable (stopped, restarting) the write is retried, with backoff,
/// for up to [`RETRY_FOR`]; a statement the database rejected is not retried.
pub async fn record(store: &dyn Store, row: NewActivity) {
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    let mut wait = Duration::from_millis(100);
    loop {
        match store.insert_activity(&row).await {
            Ok(_) => return,
            Err(e) if e.is_unavailable() && tokio::time::Instant::now() + wait < deadline => {
                tracing::warn!(workspace_id = %row.workspace_id, error = %e,
                    "audit row waits for the database");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            Err(e) => return lost(&row, &e),
        }
    }
}

fn lost(row: &NewActivity, e: &StoreError) {
    tracing::error!(workspace_id = %row.workspace_id, activity_type = %row.activity_type,
        error = %e, "could not write audit row");
}

/// Writes an audit row now when the database answers; when it is unavailable, hands the row to a
/// task that keeps retrying ([`record`]) and returns, so that an answer to the client is not held
/// up by a database outage. Either way the row is written once.
pub async fn record_or_defer(store: Arc<dyn Store>, row: NewActivity) {
    match store.insert_activity(&row).await {
        Ok(_) => {}
        Err(e) if e.is_unavailable() => {
            tracing::warn!(workspace_id = %row.workspace_id, error = %e,
                "database unavailable; the audit row will be written when it is back");
            tokio::spawn(async move { record(&*store, row).await });
        }
        Err(e) => lost(&row, &e),
    }
}

/// What an audit row is about: its `activity_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The registry and its tokens, host keys.
    Workspace,
    Terminal,
    Exec,
    Files,
    Plugin,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Workspace => "workspace",
            Kind::Terminal => "terminal",
            Kind::Exec => "exec",
            Kind::Files => "files",
            Kind::Plugin => "plugin",
        }
    }
}

/// The one constructor of an audit row: `caller` did `summary` (`method`) to `workspace_id`, at
/// this moment, successfully. The `with_*` methods add the rest.
pub fn row(
    workspace_id: WorkspaceId,
    kind: Kind,
    caller: &Caller,
    method: &str,
    summary: impl Into<String>,
) -> NewActivity {
    NewActivity {
        workspace_id,
        activity_type: kind.as_str().into(),
        actor: caller.actor(),
        method: method.into(),
        summary: summary.into(),
        request_body: None,
        duration_ms: None,
        status: "ok".into(),
        error_detail: None,
        created_at: Utc::now(),
    }
}

impl NewActivity {
    /// What was asked and how it ended, as structured detail: never output, content or secrets.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.request_body = Some(details);
        self
    }

    /// How long it took; the row is dated when it started.
    pub fn with_duration(mut self, duration: Duration) -> Self {
        let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        self.duration_ms = Some(ms);
        self.created_at = Utc::now() - chrono::Duration::milliseconds(ms);
        self
    }

    /// Dated at `at` rather than now.
    pub fn started_at(mut self, at: chrono::DateTime<Utc>) -> Self {
        self.created_at = at;
        self
    }

    /// An outcome other than `ok`, with a reason safe to store.
    pub fn with_outcome(mut self, status: &str, error: Option<String>) -> Self {
        self.status = status.into();
        self.error_detail = error;
        self
    }
}

/// Records a registry or token action (`activity_type` `workspace`).
pub async fn workspace_event(
    store: &dyn Store,
    workspace_id: WorkspaceId,
    caller: &Caller,
    method: &str,
    summary: &str,
) {
    record(
        store,
        row(workspace_id, Kind::Workspace, caller, method, summary),
    )
    .await;
}
