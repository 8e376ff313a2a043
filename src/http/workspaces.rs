//! Workspace registry routes: create, list, get, patch, delete, restart (SPEC §5.2).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::auth::{AdminCaller, AdminWorkspace, WorkspaceCaller, live};
use super::error::ApiError;
use super::extract::Json;
use crate::app::AppState;
use crate::audit;
use crate::auth::Caller;
use crate::backend::{Backend, BackendError};
use crate::store::WorkspaceFields;
use crate::workspace::{
    self, DEFAULT_RUNTIME, DEFAULT_TIER, Placement, Status, Workspace, WorkspaceId,
};

/// The create body. Besides its own fields it takes the Go server's (SPEC §11): `role` and
/// `model` are validated as Go did; the rest are accepted and not acted on (docs/api.md).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    runtime: Option<String>,
    tier: Option<i32>,
    image: Option<String>,
    parent_id: Option<WorkspaceId>,
    instance_id: Option<String>,
    role: Option<String>,
    model: Option<String>,
    #[serde(rename = "template")]
    _template: Option<IgnoredAny>,
    #[serde(rename = "external")]
    _external: Option<IgnoredAny>,
    #[serde(rename = "url")]
    _url: Option<IgnoredAny>,
    #[serde(rename = "workspace_dir")]
    _workspace_dir: Option<IgnoredAny>,
    #[serde(rename = "workspace_access")]
    _workspace_access: Option<IgnoredAny>,
    #[serde(rename = "budget_limit")]
    _budget_limit: Option<IgnoredAny>,
    #[serde(rename = "secrets")]
    _secrets: Option<IgnoredAny>,
    #[serde(rename = "max_concurrent_tasks")]
    _max_concurrent_tasks: Option<IgnoredAny>,
    #[serde(rename = "canvas")]
    _canvas: Option<IgnoredAny>,
    #[serde(rename = "initial_memories")]
    _initial_memories: Option<IgnoredAny>,
}

pub async fn create(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Json(body): Json<CreateBody>,
) -> Result<Response, ApiError> {
    workspace::check_go_create_fields(
        &body.name,
        body.role.as_deref(),
        body.model.as_deref(),
        body.runtime.as_deref(),
    )
    .map_err(ApiError::bad_request)?;
    let name = workspace::validate_label("name", &body.name).map_err(ApiError::BadRequest)?;
    let runtime = body
        .runtime
        .as_deref()
        .map_or(Ok(DEFAULT_RUNTIME.to_owned()), |r| {
            workspace::validate_label("runtime", r)
        })
        .map_err(ApiError::BadRequest)?;
    // Tier 0 is the Go clients' "unset".
    let tier = workspace::validate_tier(body.tier.filter(|t| *t != 0).unwrap_or(DEFAULT_TIER))
        .map_err(ApiError::BadRequest)?;
    let image = body
        .image
        .as_deref()
        .map(workspace::validate_image)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let instance_id = body
        .instance_id
        .as_deref()
        .filter(|i| !i.is_empty())
        .map(workspace::validate_instance_id)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    // An org token's workspaces live inside its org: with no parent given, under the org root.
    let parent_id = body.parent_id.or(caller.anchored_org());
    check_parent(&state, &caller, None, parent_id).await?;

    // Without an instance: the control plane provisions one, else the local Docker engine
    // (which must answer now: nothing is stored without one).
    let cp = state
        .control_plane
        .clone()
        .filter(|_| instance_id.is_none());
    let provisioner = match instance_id {
        Some(_) => None,
        None if cp.is_some() => None,
        None => {
            let backend = state.backends.for_placement(&Placement::Local {
                container: String::new(),
            })?;
            backend.ping().await?;
            Some(backend)
        }
    };
    let now = Utc::now();
    let mut ws = Workspace {
        id: WorkspaceId::new(),
        name,
        runtime,
        tier,
        status: if provisioner.is_some() {
            Status::Provisioning
        } else {
            Status::Online
        },
        parent_id,
        instance_id,
        image,
        last_error: None,
        created_at: now,
        updated_at: now,
        host_key: None,
    };
    if let Some(cp) = cp {
        let instance = cp.provision(&ws).await.map_err(|e| {
            tracing::warn!(workspace_id = %ws.id, error = %e, "control plane provisioning failed");
            ApiError::BadGateway("the control plane could not provision the workspace".into())
        })?;
        ws.instance_id = Some(instance);
    }
    state.store.insert_workspace(&ws).await?;
    audit::workspace_event(
        &*state.store,
        ws.id,
        &caller,
        "POST",
        "workspace registered",
    )
    .await;
    if let Some(backend) = provisioner {
        tokio::spawn(provision(state.clone(), backend, ws.clone()));
    }
    let body = json!({ "id": ws.id, "status": ws.status });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Creates and starts the workspace's container; `online` when it runs, else `failed` with the
/// engine's reason.
async fn provision(state: AppState, backend: Arc<dyn Backend>, ws: Workspace) {
    let (status, error) = match backend.provision(&ws).await {
        Ok(()) => (Status::Online, None),
        Err(e) => {
            tracing::warn!(workspace_id = %ws.id, error = %e, "provisioning failed");
            let reason = match e {
                BackendError::Invalid(reason) => reason,
                other => other.to_string(),
            };
            (Status::Failed, Some(reason))
        }
    };
    // Deleted while it was being created: take down what was just made, keep `removed`.
    if let Ok(Some(now)) = state.store.workspace(ws.id).await
        && now.status == Status::Removed
    {
        if let Err(e) = backend.remove(&ws).await {
            tracing::warn!(workspace_id = %ws.id, error = %e, "cleanup after delete failed");
        }
        return;
    }
    if let Err(e) = state
        .store
        .set_status(ws.id, status, error.as_deref(), Utc::now())
        .await
    {
        tracing::error!(workspace_id = %ws.id, error = %e, "could not record provisioning result");
    }
}

/// Checks that `parent` exists, would not make a cycle under `child`, and lies in the caller's org.
async fn check_parent(
    state: &AppState,
    caller: &Caller,
    child: Option<WorkspaceId>,
    parent: Option<WorkspaceId>,
) -> Result<(), ApiError> {
    if let Some(p) = parent {
        match state.store.workspace(p).await? {
            Some(ws) if ws.status != Status::Removed => {}
            _ => return Err(ApiError::bad_request("parent workspace not found")),
        }
        if let Some(child) = child
            && state.store.ancestors(p).await?.contains(&child)
        {
            return Err(ApiError::bad_request("parent_id would make a cycle"));
        }
    }
    if !state.access.may_use_parent(caller, parent).await? {
        return Err(ApiError::Forbidden(
            "parent_id must be inside your org".into(),
        ));
    }
    Ok(())
}

pub async fn list(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
) -> Result<Response, ApiError> {
    let mut rows = state.store.list_workspaces(caller.anchored_org()).await?;
    crate::observe::follow_engine(&*state.store, &state.backends, &mut rows).await;
    Ok(axum::Json(rows).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
) -> Response {
    let mut one = [workspace];
    crate::observe::follow_engine(&*state.store, &state.backends, &mut one).await;
    let [workspace] = one;
    axum::Json(workspace).into_response()
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    name: Option<String>,
    runtime: Option<String>,
    tier: Option<i32>,
    #[serde(default, deserialize_with = "present")]
    parent_id: Option<Option<WorkspaceId>>,
    #[serde(default, deserialize_with = "present")]
    instance_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    image: Option<Option<String>>,
}

impl PatchBody {
    fn touches_sensitive_fields(&self) -> bool {
        self.runtime.is_some()
            || self.tier.is_some()
            || self.parent_id.is_some()
            || self.instance_id.is_some()
            || self.image.is_some()
    }
}

pub async fn patch(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    Json(body): Json<PatchBody>,
) -> Result<Response, ApiError> {
    if body.touches_sensitive_fields() && !caller.is_admin_group() {
        return Err(ApiError::Forbidden(
            "only an admin may change tier, parent_id, runtime, instance_id or image".into(),
        ));
    }
    live(&workspace)?;
    let mut f = WorkspaceFields::from(&workspace);
    if let Some(name) = &body.name {
        f.name = workspace::validate_label("name", name).map_err(ApiError::BadRequest)?;
    }
    if let Some(runtime) = &body.runtime {
        f.runtime = workspace::validate_label("runtime", runtime).map_err(ApiError::BadRequest)?;
    }
    if let Some(tier) = body.tier {
        f.tier = workspace::validate_tier(tier).map_err(ApiError::BadRequest)?;
    }
    if let Some(image) = &body.image {
        f.image = image
            .as_deref()
            .map(workspace::validate_image)
            .transpose()
            .map_err(ApiError::BadRequest)?;
    }
    if let Some(instance_id) = &body.instance_id {
        f.instance_id = instance_id
            .as_deref()
            .filter(|i| !i.is_empty())
            .map(workspace::validate_instance_id)
            .transpose()
            .map_err(ApiError::BadRequest)?;
    }
    if let Some(parent) = body.parent_id {
        if parent == Some(workspace.id) {
            return Err(ApiError::bad_request(
                "a workspace cannot be its own parent",
            ));
        }
        check_parent(&state, &caller, Some(workspace.id), parent).await?;
        f.parent_id = parent;
    }
    if f != WorkspaceFields::from(&workspace) {
        state
            .store
            .update_workspace_fields(workspace.id, &f, Utc::now())
            .await?;
        audit::workspace_event(
            &*state.store,
            workspace.id,
            &caller,
            "PATCH",
            "workspace updated",
        )
        .await;
    }
    let updated = state
        .store
        .workspace(workspace.id)
        .await?
        .ok_or_else(ApiError::workspace_not_found)?;
    Ok(axum::Json(updated).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    AdminWorkspace { caller, workspace }: AdminWorkspace,
) -> Result<Response, ApiError> {
    if workspace.status != Status::Removed {
        match Placement::of(&workspace) {
            // Removing the container and its volume needs the engine that runs them.
            placement @ Placement::Local { .. } => {
                state
                    .backends
                    .for_placement(&placement)?
                    .remove(&workspace)
                    .await?;
            }
            placement @ Placement::Remote { .. } => {
                if let Some(cp) = &state.control_plane {
                    cp.terminate(&workspace).await.map_err(|e| {
                        tracing::warn!(workspace_id = %workspace.id, error = %e, "control plane terminate failed");
                        ApiError::BadGateway("the control plane could not terminate the instance".into())
                    })?;
                }
                if let Ok(backend) = state.backends.for_placement(&placement) {
                    // Closes the pooled connection to the instance.
                    let _ = backend.remove(&workspace).await;
                }
            }
        }
        state
            .store
            .remove_workspace(workspace.id, Utc::now())
            .await?;
        audit::workspace_event(
            &*state.store,
            workspace.id,
            &caller,
            "DELETE",
            "workspace removed",
        )
        .await;
    }
    Ok(axum::Json(json!({ "id": workspace.id, "status": Status::Removed })).into_response())
}

pub async fn restart(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
) -> Result<Response, ApiError> {
    live(&workspace)?;
    let backend = state.backends.for_placement(&Placement::of(&workspace))?;
    let result = backend.restart(&workspace).await;
    crate::observe::restarted(&*state.store, &workspace, &result).await;
    if let Err(BackendError::Invalid(_)) = result {
        return Err(ApiError::BadGateway(
            "the engine could not start the workspace; its last_error says why".into(),
        ));
    }
    result?;
    audit::workspace_event(
        &*state.store,
        workspace.id,
        &caller,
        "POST",
        "workspace restarted",
    )
    .await;
    Ok(axum::Json(json!({ "id": workspace.id, "status": "restarted" })).into_response())
}
