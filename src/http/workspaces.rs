//! Workspace registry routes: create, list, get, patch, delete, restart (SPEC §5.2), the
//! host-key unpin (SPEC §11) and the audit listing (SPEC §5.7).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::{AdminCaller, AdminWorkspace, WorkspaceCaller};
use super::error::ApiError;
use super::extract::{Json, Query};
use crate::app::AppState;
use crate::services::workspaces::{CreateBody, PatchBody};

pub async fn create(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Json(body): Json<CreateBody>,
) -> Result<Response, ApiError> {
    let created = state.services.workspaces.create(&caller, body).await?;
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
) -> Result<Response, ApiError> {
    let rows = state.services.workspaces.list(&caller).await?;
    Ok(axum::Json(rows).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
) -> Response {
    axum::Json(state.services.workspaces.get(workspace).await).into_response()
}

pub async fn patch(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    Json(body): Json<PatchBody>,
) -> Result<Response, ApiError> {
    let updated = state
        .services
        .workspaces
        .patch(&caller, workspace, body)
        .await?;
    Ok(axum::Json(updated).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    AdminWorkspace { caller, workspace }: AdminWorkspace,
) -> Result<Response, ApiError> {
    let removed = state.services.workspaces.delete(&caller, workspace).await?;
    Ok(axum::Json(removed).into_response())
}

pub async fn restart(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
) -> Result<Response, ApiError> {
    let restarted = state
        .services
        .workspaces
        .restart(&caller, workspace)
        .await?;
    Ok(axum::Json(restarted).into_response())
}

/// `DELETE /workspaces/{id}/host-key` (admin): the next connection pins the instance's new key.
pub async fn unpin_host_key(
    State(state): State<AppState>,
    AdminWorkspace { caller, workspace }: AdminWorkspace,
) -> Result<Response, ApiError> {
    let done = state
        .services
        .workspaces
        .unpin_host_key(&caller, &workspace)
        .await?;
    Ok(axum::Json(done).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    #[serde(rename = "type")]
    activity_type: Option<String>,
    limit: Option<i64>,
}

/// `GET /workspaces/{id}/activity`: the workspace's audit rows, newest first.
pub async fn activity(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
    Query(q): Query<ActivityQuery>,
) -> Result<Response, ApiError> {
    let rows = state
        .services
        .workspaces
        .activity(&workspace, q.activity_type.as_deref(), q.limit)
        .await?;
    Ok(axum::Json(rows).into_response())
}
