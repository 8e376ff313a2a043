//! The workspace registry's use cases (SPEC §5.2): create (through the control plane, the local
//! Docker engine, or by registering an instance that exists), list and read (following the
//! engine), patch, delete, restart, unpinning a host key, and the audit listing.

pub(crate) mod request;

use std::sync::Arc;

use chrono::Utc;

pub use self::request::{CreateBody, PatchBody};
use super::views::{ActivityView, Done, Restarted, WorkspaceStatus, WorkspaceView};
use super::{Ports, ServiceError, live};
use crate::access::Access;
use crate::audit;
use crate::auth::Caller;
use crate::backend::{Backend, BackendError, Target};
use crate::control_plane::ControlPlane;
use crate::observe;
use crate::store::{Store, WorkspaceFields};
use crate::workspace::{Placement, Status, Workspace, WorkspaceId};

/// Audit rows returned when no `limit` is given.
pub const DEFAULT_ACTIVITY_LIMIT: i64 = 100;
/// The largest `limit` honoured; larger values are clamped.
pub const MAX_ACTIVITY_LIMIT: i64 = 500;

/// The registry of workspaces.
pub struct Workspaces {
    ports: Ports,
    access: Arc<Access>,
    /// Provisions EC2 workspaces, when `CP_PROVISION_URL` is set.
    control_plane: Option<Arc<ControlPlane>>,
}

impl Workspaces {
    pub fn new(
        ports: Ports,
        access: Arc<Access>,
        control_plane: Option<Arc<ControlPlane>>,
    ) -> Self {
        Self {
            ports,
            access,
            control_plane,
        }
    }

    /// Registers a workspace. With an instance id it is registered as it is; without one, the
    /// control plane provisions an instance, else the local Docker engine a container (which
    /// must answer now: nothing is stored without one), in the background.
    pub async fn create(
        &self,
        caller: &Caller,
        body: CreateBody,
    ) -> Result<WorkspaceStatus, ServiceError> {
        let new = body.check()?;
        // An org token's workspaces live inside its org: with no parent given, under the org root.
        let parent_id = new.parent_id.or(caller.anchored_org());
        self.check_parent(caller, None, parent_id).await?;
        let cp = self
            .control_plane
            .clone()
            .filter(|_| new.instance_id.is_none());
        let provisioner = match (&new.instance_id, &cp) {
            (None, None) => {
                let backend = self.ports.backends.local()?;
                backend.ping().await?;
                Some(backend)
            }
            _ => None,
        };
        let now = Utc::now();
        let mut ws = Workspace {
            id: WorkspaceId::new(),
            name: new.name,
            runtime: new.runtime,
            tier: new.tier,
            status: if provisioner.is_some() {
                Status::Provisioning
            } else {
                Status::Online
            },
            parent_id,
            instance_id: new.instance_id,
            image: new.image,
            last_error: None,
            created_at: now,
            updated_at: now,
            host_key: None,
        };
        if let Some(cp) = cp {
            let instance = cp.provision(&ws).await.map_err(|e| {
                tracing::warn!(workspace_id = %ws.id, error = %e, "control plane provisioning failed");
                ServiceError::Upstream("the control plane could not provision the workspace".into())
            })?;
            ws.instance_id = Some(instance);
        }
        self.ports.store.insert_workspace(&ws).await?;
        self.event(ws.id, caller, "POST", "workspace registered")
            .await;
        let answer = WorkspaceStatus {
            id: ws.id,
            status: ws.status,
        };
        if let Some(backend) = provisioner {
            tokio::spawn(provision(self.ports.store.clone(), backend, ws));
        }
        Ok(answer)
    }

    /// Checks that `parent` exists, would not make a cycle under `child`, and lies in the
    /// caller's org.
    async fn check_parent(
        &self,
        caller: &Caller,
        child: Option<WorkspaceId>,
        parent: Option<WorkspaceId>,
    ) -> Result<(), ServiceError> {
        if let Some(p) = parent {
            match self.ports.store.workspace(p).await? {
                Some(ws) if ws.status != Status::Removed => {}
                _ => return Err(ServiceError::invalid("parent workspace not found")),
            }
            if let Some(child) = child
                && self.ports.store.ancestors(p).await?.contains(&child)
            {
                return Err(ServiceError::invalid("parent_id would make a cycle"));
            }
        }
        if !self.access.may_use_parent(caller, parent).await? {
            return Err(ServiceError::Forbidden(
                "parent_id must be inside your org".into(),
            ));
        }
        Ok(())
    }

    /// The workspaces the caller may see, their statuses following the engine.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<WorkspaceView>, ServiceError> {
        let mut rows = self
            .ports
            .store
            .list_workspaces(caller.anchored_org())
            .await?;
        observe::follow_engine(&*self.ports.store, &self.ports.backends, &mut rows).await;
        Ok(rows.into_iter().map(WorkspaceView::from).collect())
    }

    /// One workspace, its status following the engine.
    pub async fn get(&self, ws: Workspace) -> WorkspaceView {
        let mut one = [ws];
        observe::follow_engine(&*self.ports.store, &self.ports.backends, &mut one).await;
        let [ws] = one;
        ws.into()
    }

    /// Changes what `body` names; tier, parent, runtime, instance and image only for an admin.
    pub async fn patch(
        &self,
        caller: &Caller,
        ws: Workspace,
        body: PatchBody,
    ) -> Result<WorkspaceView, ServiceError> {
        if body.touches_sensitive_fields() && !caller.is_admin_group() {
            return Err(ServiceError::Forbidden(
                "only an admin may change tier, parent_id, runtime, instance_id or image".into(),
            ));
        }
        live(&ws)?;
        let mut f = WorkspaceFields::from(&ws);
        body.apply(&mut f)?;
        if let Some(parent) = body.parent_id {
            if parent == Some(ws.id) {
                return Err(ServiceError::invalid(
                    "a workspace cannot be its own parent",
                ));
            }
            self.check_parent(caller, Some(ws.id), parent).await?;
            f.parent_id = parent;
        }
        if f != WorkspaceFields::from(&ws) {
            let store = &self.ports.store;
            store.update_workspace_fields(ws.id, &f, Utc::now()).await?;
            self.event(ws.id, caller, "PATCH", "workspace updated")
                .await;
        }
        let updated = self.ports.store.workspace(ws.id).await?;
        Ok(updated
            .ok_or_else(ServiceError::workspace_not_found)?
            .into())
    }

    /// Takes the workspace down (its container and volume; an instance through the control
    /// plane) and marks it removed. Removing a removed workspace changes nothing.
    pub async fn delete(
        &self,
        caller: &Caller,
        ws: Workspace,
    ) -> Result<WorkspaceStatus, ServiceError> {
        if ws.status != Status::Removed {
            let bound = self.ports.backends.for_workspace(&ws)?;
            if let Placement::Remote { .. } = bound.target.placement {
                if let Some(cp) = &self.control_plane {
                    cp.terminate(&ws).await.map_err(|e| {
                        tracing::warn!(workspace_id = %ws.id, error = %e, "control plane terminate failed");
                        ServiceError::Upstream(
                            "the control plane could not terminate the instance".into(),
                        )
                    })?;
                }
                // Closes the pooled connection to the instance; nothing there can fail it.
                let _ = bound.backend.remove(&bound.target).await;
            } else {
                bound.backend.remove(&bound.target).await?;
            }
            self.ports.store.remove_workspace(ws.id, Utc::now()).await?;
            self.event(ws.id, caller, "DELETE", "workspace removed")
                .await;
        }
        Ok(WorkspaceStatus {
            id: ws.id,
            status: Status::Removed,
        })
    }

    /// Restarts the workspace's container (re-created if it is gone) or agent.
    pub async fn restart(&self, caller: &Caller, ws: Workspace) -> Result<Restarted, ServiceError> {
        live(&ws)?;
        let bound = self.ports.backends.for_workspace(&ws)?;
        let result = bound.backend.restart(&bound.target).await;
        observe::restarted(&*self.ports.store, &ws, &result).await;
        if let Err(BackendError::Invalid(_)) = result {
            return Err(ServiceError::Upstream(
                "the engine could not start the workspace; its last_error says why".into(),
            ));
        }
        result?;
        self.event(ws.id, caller, "POST", "workspace restarted")
            .await;
        Ok(Restarted {
            id: ws.id,
            status: "restarted",
        })
    }

    /// Drops the pinned SSH host key of an EC2 workspace rebuilt under the same instance id;
    /// the next connection pins the new one (SPEC §11).
    pub async fn unpin_host_key(
        &self,
        caller: &Caller,
        ws: &Workspace,
    ) -> Result<Done, ServiceError> {
        self.ports.store.clear_host_key(ws.id).await?;
        self.event(ws.id, caller, "DELETE", "host key unpinned")
            .await;
        Ok(Done { status: "unpinned" })
    }

    /// The workspace's audit rows, newest first (SPEC §5.7).
    pub async fn activity(
        &self,
        ws: &Workspace,
        activity_type: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<ActivityView>, ServiceError> {
        let limit = limit.unwrap_or(DEFAULT_ACTIVITY_LIMIT);
        if limit < 1 {
            return Err(ServiceError::invalid("limit must be at least 1"));
        }
        let activity_type = activity_type.filter(|t| !t.is_empty());
        let rows = self
            .ports
            .store
            .list_activity(ws.id, activity_type, limit.min(MAX_ACTIVITY_LIMIT))
            .await?;
        Ok(rows.into_iter().map(ActivityView::from).collect())
    }

    async fn event(&self, id: WorkspaceId, caller: &Caller, method: &str, summary: &str) {
        audit::workspace_event(&*self.ports.store, id, caller, method, summary).await;
    }
}

/// Creates and starts the workspace's container; `online` when it runs, else `failed` with a
/// reason safe to show (the engine's refusal, or a fixed text; the detail goes to the log).
async fn provision(store: Arc<dyn Store>, backend: Arc<dyn Backend>, ws: Workspace) {
    let target = Target::of(ws);
    let ws = &target.workspace;
    let (status, error) = match backend.provision(&target).await {
        Ok(()) => (Status::Online, None),
        Err(e) => {
            tracing::warn!(workspace_id = %ws.id, error = %e, "provisioning failed");
            let reason = match e {
                BackendError::Invalid(reason) => reason,
                other => other.public_message(),
            };
            (Status::Failed, Some(reason))
        }
    };
    // Deleted while it was being created: take down what was just made, keep `removed`.
    if let Ok(Some(now)) = store.workspace(ws.id).await
        && now.status == Status::Removed
    {
        if let Err(e) = backend.remove(&target).await {
            tracing::warn!(workspace_id = %ws.id, error = %e, "cleanup after delete failed");
        }
        return;
    }
    if let Err(e) = store
        .set_status(ws.id, status, error.as_deref(), Utc::now())
        .await
    {
        tracing::error!(workspace_id = %ws.id, error = %e, "could not record provisioning result");
    }
}
