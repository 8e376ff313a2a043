//! The files API (SPEC §5.5): list, read, write, delete and bulk replace, relative paths only.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::auth::{WorkspaceCaller, live};
use super::error::ApiError;
use super::extract::{Json, Query};
use crate::app::AppState;
use crate::audit;
use crate::auth::Caller;
use crate::backend::{Backend, FilesRoot};
use crate::files::{MAX_BULK_FILES, MAX_LIST_DEPTH, MAX_READ_BYTES, RelPath, check_batch};
use crate::store::NewActivity;
use crate::workspace::{Placement, Workspace};

/// Largest body of a files write, in bytes (so also the largest file a write can carry; reads
/// stop at `MAX_READ_BYTES`).
pub const MAX_FILES_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The `{*path}` of a files route, parsed.
pub struct FilePath(pub RelPath);

impl FromRequestParts<AppState> for FilePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid path"))?;
        let raw = params
            .iter()
            .find(|(name, _)| *name == "path")
            .map(|(_, value)| value)
            .unwrap_or_default();
        Ok(Self(RelPath::parse(raw).map_err(ApiError::BadRequest)?))
    }
}

/// The backend of a workspace that can take file operations.
fn backend_of(state: &AppState, ws: &Workspace) -> Result<std::sync::Arc<dyn Backend>, ApiError> {
    live(ws)?;
    Ok(state.backends.for_placement(&Placement::of(ws))?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    path: Option<String>,
    depth: Option<u8>,
    root: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let depth = q.depth.unwrap_or(1);
    if !(1..=MAX_LIST_DEPTH).contains(&depth) {
        return Err(ApiError::bad_request(format!(
            "depth must be 1-{MAX_LIST_DEPTH}"
        )));
    }
    let dir = match q.path.as_deref().filter(|p| !p.is_empty() && *p != ".") {
        Some(p) => Some(RelPath::parse(p).map_err(ApiError::BadRequest)?),
        None => None,
    };
    let backend = backend_of(&state, &workspace)?;
    let entries = backend
        .list_files(
            &workspace,
            FilesRoot(q.root.as_deref()),
            dir.as_ref(),
            depth,
        )
        .await?;
    Ok(axum::Json(entries).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootQuery {
    root: Option<String>,
}

pub async fn read(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
    FilePath(path): FilePath,
    Query(q): Query<RootQuery>,
) -> Result<Response, ApiError> {
    let backend = backend_of(&state, &workspace)?;
    let bytes = backend
        .read_file(
            &workspace,
            FilesRoot(q.root.as_deref()),
            &path,
            MAX_READ_BYTES,
        )
        .await?;
    let size = bytes.len();
    let body = match String::from_utf8(bytes) {
        Ok(content) => json!({ "path": path.as_str(), "content": content, "size": size }),
        // Binary content is not mangled: it comes back base64, marked as such.
        Err(e) => json!({
            "path": path.as_str(),
            "content": base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
            "encoding": "base64",
            "size": size,
        }),
    };
    Ok(axum::Json(body).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteBody {
    content: String,
}

pub async fn write(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    FilePath(path): FilePath,
    Json(body): Json<WriteBody>,
) -> Result<Response, ApiError> {
    let backend = backend_of(&state, &workspace)?;
    backend
        .write_files(&workspace, &[(path.clone(), body.content.into_bytes())])
        .await?;
    record(&state, &caller, &workspace, "PUT", "file written", &[&path]).await;
    Ok(axum::Json(json!({ "status": "saved", "path": path.as_str() })).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    FilePath(path): FilePath,
) -> Result<Response, ApiError> {
    let backend = backend_of(&state, &workspace)?;
    backend.delete_file(&workspace, &path).await?;
    record(
        &state,
        &caller,
        &workspace,
        "DELETE",
        "file deleted",
        &[&path],
    )
    .await;
    Ok(axum::Json(json!({ "status": "deleted", "path": path.as_str() })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceBody {
    files: BTreeMap<String, String>,
}

pub async fn replace(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    Json(body): Json<ReplaceBody>,
) -> Result<Response, ApiError> {
    if body.files.is_empty() || body.files.len() > MAX_BULK_FILES {
        return Err(ApiError::bad_request(format!(
            "files must hold 1-{MAX_BULK_FILES} entries"
        )));
    }
    // Every path is checked before anything is written.
    let mut batch = Vec::with_capacity(body.files.len());
    for (raw, content) in body.files {
        let path =
            RelPath::parse(&raw).map_err(|e| ApiError::bad_request(format!("{raw:?}: {e}")))?;
        batch.push((path, content.into_bytes()));
    }
    check_batch(batch.iter().map(|(p, _)| p)).map_err(ApiError::BadRequest)?;
    let backend = backend_of(&state, &workspace)?;
    backend.write_files(&workspace, &batch).await?;
    let paths: Vec<&RelPath> = batch.iter().map(|(p, _)| p).collect();
    record(&state, &caller, &workspace, "PUT", "files replaced", &paths).await;
    Ok(axum::Json(json!({ "status": "replaced", "files": batch.len() })).into_response())
}

/// An audit row naming the paths touched, never their content.
async fn record(
    state: &AppState,
    caller: &Caller,
    ws: &Workspace,
    method: &str,
    summary: &str,
    paths: &[&RelPath],
) {
    let row = NewActivity {
        workspace_id: ws.id,
        activity_type: "files".into(),
        actor: caller.actor(),
        method: method.into(),
        summary: summary.into(),
        request_body: Some(
            json!({ "paths": paths.iter().map(|p| p.as_str()).collect::<Vec<_>>() }),
        ),
        duration_ms: None,
        status: "ok".into(),
        error_detail: None,
        created_at: Utc::now(),
    };
    audit::record(&*state.store, row).await;
}
