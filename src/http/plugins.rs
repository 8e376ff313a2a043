//! Plugin routes (SPEC §5.6): the registry, installed plugins, install / uninstall, download,
//! and org allowlists.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::auth::{AdminCaller, WorkspaceCaller};
use super::error::ApiError;
use super::extract::Json;
use crate::app::AppState;
use crate::services::allowlist::AllowlistBody;
use crate::services::plugins::InstallBody;

/// `GET /plugins`: what the registry directory offers.
pub async fn registry(State(state): State<AppState>) -> Result<Response, ApiError> {
    let listed = state.services.plugins.registry().await?;
    Ok(axum::Json(&*listed).into_response())
}

/// `GET /plugins/sources`.
pub async fn sources(State(state): State<AppState>) -> Response {
    axum::Json(state.services.plugins.sources()).into_response()
}

/// `GET /workspaces/{id}/plugins`: the plugins installed in the workspace.
pub async fn installed(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
) -> Result<Response, ApiError> {
    let installed = state.services.plugins.installed(&workspace).await?;
    Ok(axum::Json(installed).into_response())
}

/// `POST /workspaces/{id}/plugins`. A body refused by this route's limit (413) or malformed is
/// audited as a refused install too.
pub async fn install(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    body: Result<Json<InstallBody>, ApiError>,
) -> Result<Response, ApiError> {
    let plugins = &state.services.plugins;
    let body = match body {
        Ok(Json(body)) => body,
        Err(e) => {
            let e = e.into();
            plugins.refused_body(&caller, &workspace, &e).await;
            return Err(e.into());
        }
    };
    let installed = plugins.install(&caller, &workspace, body).await?;
    Ok(axum::Json(installed).into_response())
}

/// `DELETE /workspaces/{id}/plugins/{name}`.
pub async fn uninstall(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let plugins = &state.services.plugins;
    let removed = plugins.uninstall(&caller, &workspace, &name).await?;
    Ok(axum::Json(removed).into_response())
}

/// `GET /workspaces/{id}/plugins/{name}/download`: the registry plugin as a gzip tarball.
pub async fn download(
    State(state): State<AppState>,
    WorkspaceCaller { .. }: WorkspaceCaller,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let download = state.services.plugins.download(&name).await?;
    let disposition = format!("attachment; filename=\"{}\"", download.file_name);
    let headers = [
        (header::CONTENT_TYPE, "application/gzip".to_owned()),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    Ok((headers, download.gzip).into_response())
}

/// `GET /orgs/{id}/plugins/allowlist`.
pub async fn get_allowlist(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(org): Path<String>,
) -> Result<Response, ApiError> {
    let list = state.services.allowlists.get(&caller, &org).await?;
    Ok(axum::Json(list).into_response())
}

/// `PUT /orgs/{id}/plugins/allowlist` `{"plugins": [names]}`: replaces the list (empty allows all).
pub async fn put_allowlist(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(org): Path<String>,
    Json(body): Json<AllowlistBody>,
) -> Result<Response, ApiError> {
    let list = state.services.allowlists.put(&caller, &org, body).await?;
    Ok(axum::Json(list).into_response())
}
