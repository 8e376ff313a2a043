//! `GET /workspaces/{id}/activity`: the workspace's audit rows, newest first (SPEC §5.7).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::WorkspaceCaller;
use super::error::ApiError;
use super::extract::Query;
use crate::app::AppState;

/// Rows returned when no `limit` is given.
pub const DEFAULT_LIMIT: i64 = 100;
/// The largest `limit` honoured; larger values are clamped.
pub const MAX_LIMIT: i64 = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    #[serde(rename = "type")]
    activity_type: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
    Query(q): Query<ActivityQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit < 1 {
        return Err(ApiError::bad_request("limit must be at least 1"));
    }
    let activity_type = q.activity_type.as_deref().filter(|t| !t.is_empty());
    let rows = state
        .store
        .list_activity(workspace.id, activity_type, limit.min(MAX_LIMIT))
        .await?;
    Ok(axum::Json(rows).into_response())
}
