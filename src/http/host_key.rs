//! `DELETE /workspaces/{id}/host-key` (admin): drops the pinned SSH host key of an EC2 workspace
//! rebuilt under the same instance id; the next connection pins the new one (SPEC §11).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::AdminWorkspace;
use super::error::ApiError;
use crate::app::AppState;
use crate::audit;

pub async fn unpin(
    State(state): State<AppState>,
    AdminWorkspace { caller, workspace }: AdminWorkspace,
) -> Result<Response, ApiError> {
    state.store.clear_host_key(workspace.id).await?;
    audit::workspace_event(
        &*state.store,
        workspace.id,
        &caller,
        "DELETE",
        "host key unpinned",
    )
    .await;
    Ok(axum::Json(json!({ "status": "unpinned" })).into_response())
}
