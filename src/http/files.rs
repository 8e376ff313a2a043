//! The files API (SPEC §5.5, §15): list, read, write, delete and bulk replace, relative paths
//! only; raw bytes both ways where the request asks for them.

mod raw;

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;

use self::raw::Condition;
use super::auth::WorkspaceCaller;
use super::error::ApiError;
use super::extract::{Json, Query};
use crate::app::AppState;
use crate::files::RelPath;
use crate::services::files::ReplaceBody;

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
    let (path, root) = (q.path.as_deref(), q.root.as_deref());
    let files = &state.services.files;
    let entries = files.list(&workspace, path, q.depth, root).await?;
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
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (files, root) = (&state.services.files, q.root.as_deref());
    if raw::wants_raw(&headers) {
        return Ok(raw::download(
            files.download(&workspace, &path, root).await?,
        ));
    }
    let (content, etag) = files.read(&workspace, &path, root).await?;
    Ok(raw::with_etag(axum::Json(content).into_response(), &etag))
}

/// A file's new content: text, or base64 when `encoding` says so (as reads answer binary files).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteBody {
    content: String,
    encoding: Option<String>,
}

/// A write: raw bytes streamed (`Content-Type: application/octet-stream`), else a JSON body.
pub async fn write(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    FilePath(path): FilePath,
    Condition(cond): Condition,
    req: Request,
) -> Result<Response, ApiError> {
    let files = &state.services.files;
    let (saved, etag) = if raw::is_raw(req.headers()) {
        let (size, body) = raw::upload_body(req)?;
        let upload = files.upload(&caller, &workspace, path, size, body, &cond);
        upload.await?
    } else {
        let Json(body) = Json::<WriteBody>::from_request(req, &state).await?;
        let content = match body.encoding.as_deref() {
            None => body.content.into_bytes(),
            Some("base64") => base64::engine::general_purpose::STANDARD
                .decode(body.content)
                .map_err(|_| ApiError::bad_request("content is not valid base64"))?,
            Some(_) => return Err(ApiError::bad_request(r#"encoding must be "base64""#)),
        };
        files
            .write(&caller, &workspace, path, content, &cond)
            .await?
    };
    Ok(raw::with_etag(axum::Json(saved).into_response(), &etag))
}

pub async fn delete(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    FilePath(path): FilePath,
    Condition(cond): Condition,
) -> Result<Response, ApiError> {
    let files = &state.services.files;
    let deleted = files.delete(&caller, &workspace, &path, &cond).await?;
    Ok(axum::Json(deleted).into_response())
}

pub async fn replace(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    Json(body): Json<ReplaceBody>,
) -> Result<Response, ApiError> {
    let files = &state.services.files;
    let replaced = files.replace(&caller, &workspace, body).await?;
    Ok(axum::Json(replaced).into_response())
}
