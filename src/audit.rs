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

/// Records a registry or token action (`activity_type` `workspace`).
pub async fn workspace_event(
    store: &dyn Store,
    workspace_id: WorkspaceId,
    caller: &Caller,
    method: &str,
    summary: &str,
) {
    let row = NewActivity {
        workspace_id,
        activity_type: "workspace".into(),
        actor: caller.actor(),
        method: method.into(),
        summary: summary.into(),
        request_body: None,
        duration_ms: None,
        status: "ok".into(),
        error_detail: None,
        created_at: Utc::now(),
    };
    record(store, row).await;
}
