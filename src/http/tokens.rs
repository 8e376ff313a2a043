//! Workspace tokens and org API tokens (SPEC §5.2).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::auth::{AdminCaller, WorkspaceCaller, live};
use super::error::ApiError;
use super::extract::{Json, PathUuid};
use crate::access::new_secret;
use crate::app::AppState;
use crate::audit;
use crate::auth::token_prefix;
use crate::store::{OrgToken, WorkspaceToken};
use crate::workspace::{self, Status, WorkspaceId};

/// Live tokens a workspace may hold at once.
pub const MAX_LIVE_WORKSPACE_TOKENS: i64 = 50;

pub async fn create_workspace_token(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
) -> Result<Response, ApiError> {
    live(&workspace)?;
    let (token, hash) = new_secret();
    let record = WorkspaceToken {
        id: Uuid::new_v4(),
        workspace_id: workspace.id,
        prefix: token_prefix(&token),
        created_at: Utc::now(),
        last_used_at: None,
        revoked_at: None,
    };
    if !state
        .store
        .insert_workspace_token(&record, &hash, MAX_LIVE_WORKSPACE_TOKENS)
        .await?
    {
        return Err(ApiError::Limit(format!(
            "a workspace may hold at most {MAX_LIVE_WORKSPACE_TOKENS} live tokens; revoke one first"
        )));
    }
    audit::workspace_event(
        &*state.store,
        workspace.id,
        &caller,
        "POST",
        "token created",
    )
    .await;
    let body = json!({
        "auth_token": token,
        "workspace_id": workspace.id,
        "id": record.id,
        "prefix": record.prefix,
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub async fn list_workspace_tokens(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
) -> Result<Response, ApiError> {
    let tokens = state.store.list_workspace_tokens(workspace.id).await?;
    let count = tokens.len();
    Ok(axum::Json(json!({ "tokens": tokens, "count": count })).into_response())
}

pub async fn revoke_workspace_token(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    PathUuid(token_id): PathUuid,
) -> Result<Response, ApiError> {
    if !state
        .store
        .revoke_workspace_token(workspace.id, token_id, Utc::now())
        .await?
    {
        return Err(ApiError::not_found("token not found"));
    }
    audit::workspace_event(
        &*state.store,
        workspace.id,
        &caller,
        "DELETE",
        "token revoked",
    )
    .await;
    Ok(axum::Json(json!({ "status": "revoked", "id": token_id })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgTokenBody {
    name: String,
    org_id: Option<WorkspaceId>,
}

pub async fn create_org_token(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Json(body): Json<OrgTokenBody>,
) -> Result<Response, ApiError> {
    let name = workspace::validate_label("name", &body.name).map_err(ApiError::BadRequest)?;
    let org_id = match (caller.anchored_org(), body.org_id) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(ApiError::Forbidden("org_id must be your own org".into()));
        }
        (Some(own), _) => Some(own),
        (None, Some(asked)) => {
            match state.store.workspace(asked).await? {
                Some(ws) if ws.parent_id.is_none() && ws.status != Status::Removed => {}
                _ => return Err(ApiError::bad_request("org_id must name a root workspace")),
            }
            Some(asked)
        }
        (None, None) => None,
    };
    let (token, hash) = new_secret();
    let record = OrgToken {
        id: Uuid::new_v4(),
        prefix: token_prefix(&token),
        name,
        created_by: caller.actor(),
        org_id,
        created_at: Utc::now(),
        last_used_at: None,
        revoked_at: None,
    };
    state.store.insert_org_token(&record, &hash).await?;
    tracing::info!(token_id = %record.id, created_by = %record.created_by, "org token created");
    let body = json!({
        "id": record.id,
        "prefix": record.prefix,
        "name": record.name,
        "org_id": record.org_id,
        "auth_token": token,
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub async fn list_org_tokens(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
) -> Result<Response, ApiError> {
    let tokens = state.store.list_org_tokens(caller.anchored_org()).await?;
    let count = tokens.len();
    Ok(axum::Json(json!({ "tokens": tokens, "count": count })).into_response())
}

pub async fn revoke_org_token(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    PathUuid(token_id): PathUuid,
) -> Result<Response, ApiError> {
    if !state
        .store
        .revoke_org_token(token_id, caller.anchored_org(), Utc::now())
        .await?
    {
        return Err(ApiError::not_found("token not found"));
    }
    tracing::info!(%token_id, revoked_by = %caller.actor(), "org token revoked");
    Ok(axum::Json(json!({ "status": "revoked", "id": token_id })).into_response())
}
