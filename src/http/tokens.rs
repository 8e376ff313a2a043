//! Workspace tokens and org API tokens (SPEC §5.2).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::auth::{AdminCaller, WorkspaceCaller};
use super::error::ApiError;
use super::extract::{Json, PathUuid};
use crate::app::AppState;
use crate::services::tokens::OrgTokenBody;

pub async fn create_workspace_token(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
) -> Result<Response, ApiError> {
    let tokens = &state.services.tokens;
    let created = tokens.create_for_workspace(&caller, &workspace).await?;
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

pub async fn list_workspace_tokens(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
) -> Result<Response, ApiError> {
    let listed = state.services.tokens.list_for_workspace(&workspace).await?;
    Ok(axum::Json(listed).into_response())
}

pub async fn revoke_workspace_token(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    PathUuid(token_id): PathUuid,
) -> Result<Response, ApiError> {
    let tokens = &state.services.tokens;
    let revoked = tokens
        .revoke_for_workspace(&caller, &workspace, token_id)
        .await?;
    Ok(axum::Json(revoked).into_response())
}

pub async fn create_org_token(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Json(body): Json<OrgTokenBody>,
) -> Result<Response, ApiError> {
    let created = state.services.tokens.create_for_org(&caller, body).await?;
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

pub async fn list_org_tokens(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
) -> Result<Response, ApiError> {
    let listed = state.services.tokens.list_for_org(&caller).await?;
    Ok(axum::Json(listed).into_response())
}

pub async fn revoke_org_token(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    PathUuid(token_id): PathUuid,
) -> Result<Response, ApiError> {
    let revoked = state
        .services
        .tokens
        .revoke_for_org(&caller, token_id)
        .await?;
    Ok(axum::Json(revoked).into_response())
}
