//! Audit rows in `activity_logs`: who did what to a workspace, never command output or secrets.

use chrono::Utc;

use crate::auth::Caller;
use crate::store::{NewActivity, Store};
use crate::workspace::WorkspaceId;

/// Writes an audit row. A failure is logged, not returned: the action has already happened.
pub async fn record(store: &dyn Store, row: NewActivity) {
    if let Err(e) = store.insert_activity(&row).await {
        tracing::error!(workspace_id = %row.workspace_id, activity_type = %row.activity_type,
            error = %e, "could not write audit row");
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
