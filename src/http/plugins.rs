//! Plugin routes (SPEC §5.6): the registry, installed plugins, install / uninstall through the
//! pipeline in its specified order, download, and org allowlists.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::auth::{AdminCaller, WorkspaceCaller, live};
use super::error::ApiError;
use super::extract::Json;
use crate::app::AppState;
use crate::audit;
use crate::auth::Caller;
use crate::backend::{BackendError, FilesRoot, PLUGINS_SUBDIR};
use crate::files::RelPath;
use crate::plugins::archive::ArchiveError;
use crate::plugins::source::{PluginSource, SCHEMES, SourceError, valid_name};
use crate::plugins::stage::{self, StageError, Staged};
use crate::plugins::{self, archive};
use crate::store::NewActivity;
use crate::workspace::{Placement, Workspace, WorkspaceId};

/// The runtime whose agent runs outside any workspace: it downloads plugins itself.
const EXTERNAL_RUNTIME: &str = "external";

/// `GET /plugins`: what the registry directory offers.
pub async fn registry(State(state): State<AppState>) -> Result<Response, ApiError> {
    let registry = state.registry.clone();
    let listed = tokio::task::spawn_blocking(move || registry.list())
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(axum::Json(&*listed).into_response())
}

/// `GET /plugins/sources`.
pub async fn sources() -> Response {
    axum::Json(json!({ "schemes": SCHEMES })).into_response()
}

/// `GET /workspaces/{id}/plugins`: the plugins installed in the workspace.
pub async fn installed(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
) -> Result<Response, ApiError> {
    let backend = state.backends.for_placement(&Placement::of(&workspace))?;
    let dir = RelPath::parse(PLUGINS_SUBDIR).map_err(ApiError::BadRequest)?;
    let entries = match backend
        .list_files(&workspace, FilesRoot(None), Some(&dir), 1)
        .await
    {
        Ok(entries) => entries,
        Err(BackendError::NotFound) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for entry in entries.iter().filter(|e| e.dir) {
        let name = entry.path.rsplit('/').next().unwrap_or_default();
        if !valid_name(name) {
            continue;
        }
        let yaml_path = RelPath::parse(&format!("{PLUGINS_SUBDIR}/{name}/plugin.yaml"))
            .map_err(ApiError::BadRequest)?;
        let yaml = backend
            .read_file(&workspace, FilesRoot(None), &yaml_path, 64 * 1024)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let mut item = json!({ "name": name });
        item.as_object_mut()
            .unwrap()
            .extend(plugins::summary(&yaml));
        out.push(item);
    }
    Ok(axum::Json(out).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallBody {
    source: String,
    sha256: Option<String>,
}

fn stage_error(e: StageError) -> ApiError {
    match e {
        StageError::NotFound => ApiError::not_found("plugin source not found"),
        StageError::Timeout => ApiError::GatewayTimeout("fetching the plugin timed out".into()),
        StageError::Failed(detail) => {
            tracing::warn!(%detail, "staging a plugin failed");
            ApiError::BadGateway("fetching the plugin failed".into())
        }
        StageError::Archive(e @ (ArchiveError::TooLarge(_) | ArchiveError::TooManyEntries)) => {
            ApiError::PayloadTooLarge(e.to_string())
        }
        StageError::Archive(ArchiveError::Io(e)) => {
            tracing::warn!(error = %e, "reading a plugin failed");
            ApiError::BadRequest("the plugin archive could not be read".into())
        }
        StageError::Archive(e) => ApiError::BadRequest(e.to_string()),
    }
}

/// `POST /workspaces/{id}/plugins`: the pipeline of SPEC §5.6, in its order. Every outcome,
/// refusals before delivery included, writes one activity row (never the body).
pub async fn install(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    body: Result<Json<InstallBody>, ApiError>,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let refuse = async |source: Option<&PluginSource>, e: ApiError| {
        let name = source.map_or("", PluginSource::plugin_name).to_owned();
        let result = Err(e);
        let summary = "plugin install refused";
        record(
            &state, &caller, &workspace, "POST", summary, &name, source, None, started, &result,
        )
        .await;
        result
            .err()
            .unwrap_or_else(|| ApiError::bad_request("refused"))
    };
    // The body cap is this route's limit (413 past it); then the source.
    let body = match body {
        Ok(Json(body)) => body,
        Err(e) => return Err(refuse(None, e).await),
    };
    let source = match PluginSource::parse(&body.source) {
        Ok(s) => s,
        Err(e @ SourceError::UnknownScheme(_)) => {
            refuse(None, ApiError::BadRequest(e.to_string())).await;
            let body = json!({ "error": e.to_string(), "available_schemes": SCHEMES });
            return Ok((StatusCode::BAD_REQUEST, axum::Json(body)).into_response());
        }
        Err(e) => return Err(refuse(None, ApiError::BadRequest(e.to_string())).await),
    };
    if !source.is_pinned() && !state.config.plugin_allow_unpinned {
        let e = ApiError::Unprocessable(
            "github sources must name a ref (github://owner/repo#<tag, branch or commit>)".into(),
        );
        return Err(refuse(Some(&source), e).await);
    }
    live(&workspace)?;
    let result = run_install(&state, &workspace, &source, body.sha256.as_deref()).await;
    let name = source.plugin_name().to_owned();
    let commit = result.as_ref().ok().and_then(|(_, c)| c.clone());
    let outcome = result.map(|(restarted, _)| restarted);
    record(
        &state,
        &caller,
        &workspace,
        "POST",
        "plugin installed",
        &name,
        Some(&source),
        commit.as_deref(),
        started,
        &outcome,
    )
    .await;
    let restarted = outcome?;
    let mut reply = json!({
        "status": "installed",
        "plugin": name,
        "source": source.to_string(),
        "restarted": restarted,
    });
    if let Some(commit) = commit {
        reply["commit"] = json!(commit);
    }
    Ok(axum::Json(reply).into_response())
}

/// The pipeline after the source: answers whether the workspace was restarted, and the commit a
/// GitHub ref resolved to.
async fn run_install(
    state: &AppState,
    ws: &Workspace,
    source: &PluginSource,
    sha256: Option<&str>,
) -> Result<(bool, Option<String>), ApiError> {
    let staged: Staged = stage::stage(source, &state.config.plugin_staging())
        .await
        .map_err(stage_error)?;
    let name = source.plugin_name();
    if !valid_name(name) || !staged.root.join("plugin.yaml").is_file() {
        return Err(ApiError::bad_request(format!(
            "{name:?} is not a plugin: a plugin is a directory with a plugin.yaml and a name of a-z, 0-9, '.', '_', '-'"
        )));
    }
    let root = staged.root.clone();
    let sha = sha256.map(str::to_owned);
    tokio::task::spawn_blocking(move || plugins::verify(&root, sha.as_deref()))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(ApiError::Unprocessable)?;
    check_allowlist(state, ws, name).await?;
    let commit = staged.commit.clone();
    let restarted = deliver(state, ws, name, |backend| async move {
        backend.deliver_plugin(ws, name, &staged.root).await
    })
    .await?;
    Ok((restarted, commit))
}

/// The org allowlist: empty allows all; otherwise the plugin must be on it.
async fn check_allowlist(state: &AppState, ws: &Workspace, name: &str) -> Result<(), ApiError> {
    let org = state.access.org_of(ws.id).await?;
    let allowed = state.store.allowlist(org).await?;
    if !allowed.is_empty() && !allowed.iter().any(|e| e.plugin_name == name) {
        return Err(ApiError::Forbidden(format!(
            "plugin {name:?} is not on this org's allowlist"
        )));
    }
    Ok(())
}

/// The delivery ladder: external runtime → 422 with the download route; a workspace with a
/// container or an instance → `apply`, then restart; neither → 503. Returns whether it restarted.
async fn deliver<F, Fut>(
    state: &AppState,
    ws: &Workspace,
    name: &str,
    apply: F,
) -> Result<bool, ApiError>
where
    F: FnOnce(std::sync::Arc<dyn crate::backend::Backend>) -> Fut,
    Fut: std::future::Future<Output = Result<(), BackendError>>,
{
    if ws.runtime == EXTERNAL_RUNTIME {
        return Err(ApiError::Unprocessable(format!(
            "this workspace's runtime is external: fetch the plugin from GET /workspaces/{}/plugins/{name}/download",
            ws.id
        )));
    }
    let not_running = || ApiError::Unavailable("workspace container not running".into());
    let backend = match state.backends.for_placement(&Placement::of(ws)) {
        Ok(b) => b,
        Err(_) => return Err(not_running()),
    };
    match apply(backend.clone()).await {
        Ok(()) => {}
        Err(BackendError::NotRunning | BackendError::Unavailable(_)) => {
            return Err(not_running());
        }
        // Only a removal can miss its target: the plugin is not installed.
        Err(BackendError::NotFound) => return Err(ApiError::not_found("plugin not installed")),
        Err(e) => return Err(e.into()),
    }
    match backend.restart(ws).await {
        Ok(()) => Ok(true),
        Err(BackendError::Unsupported(why)) => {
            tracing::info!(workspace_id = %ws.id, why, "plugin changed; workspace not restarted");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /workspaces/{id}/plugins/{name}`.
pub async fn uninstall(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if !valid_name(&name) {
        return Err(ApiError::bad_request(format!(
            "invalid plugin name {name:?}"
        )));
    }
    live(&workspace)?;
    let started = std::time::Instant::now();
    let result = deliver(&state, &workspace, &name, |backend| {
        let (ws, name) = (&workspace, name.as_str());
        async move { backend.remove_plugin(ws, name).await }
    })
    .await;
    record(
        &state,
        &caller,
        &workspace,
        "DELETE",
        "plugin uninstalled",
        &name,
        None,
        None,
        started,
        &result,
    )
    .await;
    let restarted = result?;
    Ok(
        axum::Json(json!({ "status": "uninstalled", "plugin": name, "restarted": restarted }))
            .into_response(),
    )
}

/// `GET /workspaces/{id}/plugins/{name}/download`: the registry plugin as a gzip tarball.
pub async fn download(
    State(state): State<AppState>,
    WorkspaceCaller { .. }: WorkspaceCaller,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if !valid_name(&name) {
        return Err(ApiError::bad_request(format!(
            "invalid plugin name {name:?}"
        )));
    }
    let source = PluginSource::Local { name: name.clone() };
    let staged = stage::stage(&source, &state.config.plugin_staging())
        .await
        .map_err(stage_error)?;
    let prefix = name.clone();
    let gz = tokio::task::spawn_blocking(move || {
        archive::pack_gz(&staged.root, &prefix, plugins::PLUGIN_OWNER)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.tar.gz\""),
            ),
        ],
        gz,
    )
        .into_response())
}

/// An audit row for an install or uninstall attempt: what, by whom, how it ended.
#[allow(clippy::too_many_arguments)]
async fn record(
    state: &AppState,
    caller: &Caller,
    ws: &Workspace,
    method: &str,
    summary: &str,
    name: &str,
    source: Option<&PluginSource>,
    commit: Option<&str>,
    started: std::time::Instant,
    result: &Result<bool, ApiError>,
) {
    let (status, error) = match result {
        Ok(_) => ("ok", None),
        Err(e) if e.status().is_server_error() => ("error", Some(e.status().to_string())),
        Err(e) => ("error", Some(e.to_string())),
    };
    let row = NewActivity {
        workspace_id: ws.id,
        activity_type: "plugin".into(),
        actor: caller.actor(),
        method: method.into(),
        summary: format!("{summary}: {name}"),
        request_body: Some(json!({
            "plugin": name,
            "source": source.map(ToString::to_string),
            "commit": commit,
        })),
        duration_ms: Some(started.elapsed().as_millis() as i64),
        status: status.into(),
        error_detail: error,
        created_at: Utc::now(),
    };
    audit::record(&*state.store, row).await;
}

/// The org named in an allowlist path, if the caller may see it.
async fn org_for(state: &AppState, caller: &Caller, raw: &str) -> Result<WorkspaceId, ApiError> {
    let org = WorkspaceId::parse(raw).map_err(|_| ApiError::bad_request("invalid org id"))?;
    let hidden = caller.anchored_org().is_some_and(|own| own != org);
    match state.store.workspace(org).await? {
        Some(ws) if ws.parent_id.is_none() && !hidden => Ok(org),
        _ => Err(ApiError::not_found("org not found")),
    }
}

/// `GET /orgs/{id}/plugins/allowlist`.
pub async fn get_allowlist(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(org): Path<String>,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &caller, &org).await?;
    allowlist_response(&state, org).await
}

/// The list as both routes answer it; `allow_all` is true when it is empty (Go's field).
async fn allowlist_response(state: &AppState, org: WorkspaceId) -> Result<Response, ApiError> {
    let entries = state.store.allowlist(org).await?;
    let body = json!({ "org_id": org, "allow_all": entries.is_empty(), "plugins": entries });
    Ok(axum::Json(body).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistBody {
    plugins: Vec<String>,
    /// Who enabled the plugins, as the Go clients send it; else the caller's actor.
    enabled_by: Option<String>,
}

/// `PUT /orgs/{id}/plugins/allowlist` `{"plugins": [names]}`: replaces the list (empty allows all).
pub async fn put_allowlist(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(org): Path<String>,
    Json(body): Json<AllowlistBody>,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &caller, &org).await?;
    let mut names = body.plugins;
    if let Some(bad) = names.iter().find(|n| !valid_name(n)) {
        return Err(ApiError::bad_request(format!(
            "invalid plugin name {bad:?}"
        )));
    }
    names.sort();
    names.dedup();
    let enabled_by = match body.enabled_by.as_deref().filter(|e| !e.trim().is_empty()) {
        Some(by) => {
            crate::workspace::validate_label("enabled_by", by).map_err(ApiError::BadRequest)?
        }
        None => caller.actor(),
    };
    state
        .store
        .replace_allowlist(org, &names, &enabled_by, Utc::now())
        .await?;
    allowlist_response(&state, org).await
}
