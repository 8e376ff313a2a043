//! A local workspace's status follows its engine (SPEC §11): one whose container stopped or was
//! removed behind the server's back is never reported `online`. The engine is asked when
//! workspaces are read (one call for a whole listing), and a restart records what it made.

use chrono::Utc;

use crate::backend::{BackendError, Backends, Observed, PING_TIMEOUT, Target};
use crate::store::Store;
use crate::workspace::{Placement, Status, Workspace};

/// What `last_error` says of a workspace whose container is gone.
pub const CONTAINER_GONE: &str =
    "the workspace's container is gone; POST /workspaces/{id}/restart creates it again";

/// The status a local workspace in `status` has when the engine reports `seen`; `None` when the
/// stored one stands. Only the settled states follow the engine: provisioning, removal and the
/// others belong to their own flows.
pub fn followed(status: Status, seen: &Observed) -> Option<(Status, Option<&'static str>)> {
    if !matches!(status, Status::Online | Status::Offline | Status::Degraded) {
        return None;
    }
    let next = match seen {
        Observed::Running => (Status::Online, None),
        Observed::Stopped(_) => (Status::Offline, None),
        Observed::Missing => (Status::Failed, Some(CONTAINER_GONE)),
    };
    (next.0 != status).then_some(next)
}

/// Brings the status of the local workspaces among `workspaces` in line with the engine, storing
/// what changed. When the engine cannot be asked, or does not answer within `PING_TIMEOUT`, the
/// stored statuses are answered as they are.
pub async fn follow_engine(store: &dyn Store, backends: &Backends, workspaces: &mut [Workspace]) {
    let Some(local) = &backends.local else {
        return;
    };
    let candidates: Vec<Target> = workspaces
        .iter()
        .filter(|ws| {
            matches!(
                ws.status,
                Status::Online | Status::Offline | Status::Degraded
            )
        })
        .map(|ws| Target::of(ws.clone()))
        .filter(|t| matches!(t.placement, Placement::Local { .. }))
        .collect();
    if candidates.is_empty() {
        return;
    }
    // A slow engine (busy killing a thousand execs, say) must not hold up a read of the registry.
    let seen = match tokio::time::timeout(PING_TIMEOUT, local.observe(&candidates)).await {
        Ok(Ok(seen)) => seen,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "could not ask the engine for workspace states");
            return;
        }
        Err(_) => {
            tracing::warn!("the engine did not say how workspaces are within {PING_TIMEOUT:?}");
            return;
        }
    };
    for ws in workspaces.iter_mut() {
        let Some((status, error)) = seen.get(&ws.id).and_then(|s| followed(ws.status, s)) else {
            continue;
        };
        tracing::info!(workspace_id = %ws.id, from = ws.status.as_str(), to = status.as_str(), "status follows the engine");
        let now = Utc::now();
        if let Err(e) = store.set_status(ws.id, status, error, now).await {
            tracing::warn!(workspace_id = %ws.id, error = %e, "could not store the followed status");
            continue;
        }
        ws.status = status;
        ws.last_error = error.map(str::to_owned);
        ws.updated_at = now;
    }
}

/// Records a restart of a local workspace: `online` when its container runs again (re-created if
/// it was gone), `failed` with the engine's reason when the engine refused.
pub async fn restarted(store: &dyn Store, ws: &Workspace, result: &Result<(), BackendError>) {
    if !matches!(Placement::of(ws), Placement::Local { .. }) {
        return;
    }
    let (status, error) = match result {
        Ok(()) => (Status::Online, None),
        Err(BackendError::Invalid(reason)) => (Status::Failed, Some(reason.as_str())),
        Err(_) => return,
    };
    if let Err(e) = store.set_status(ws.id, status, error, Utc::now()).await {
        tracing::warn!(workspace_id = %ws.id, error = %e, "could not record the restart");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_settled_states_follow_the_engine() {
        let stopped = Observed::Stopped("exited".into());
        assert_eq!(followed(Status::Online, &Observed::Running), None);
        assert_eq!(
            followed(Status::Online, &stopped),
            Some((Status::Offline, None))
        );
        assert_eq!(
            followed(Status::Offline, &Observed::Running),
            Some((Status::Online, None))
        );
        assert_eq!(
            followed(Status::Online, &Observed::Missing),
            Some((Status::Failed, Some(CONTAINER_GONE)))
        );
        for status in [
            Status::Provisioning,
            Status::Removed,
            Status::Failed,
            Status::Paused,
        ] {
            assert_eq!(followed(status, &Observed::Missing), None, "{status:?}");
        }
    }
}
