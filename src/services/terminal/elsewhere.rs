//! Resumable sessions across replicas (SPEC §16): each session is recorded with the replica
//! that holds it, so the limit per workspace holds across replicas, and a resume, a listing, a
//! viewer's ticket or a kill that reaches another replica finds it. A kill asked of another
//! replica is written to the table and announced; the holder acts on the table.

use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::Terminals;
use super::sessions::{Registry, SessionView, not_found};
use crate::services::ServiceError;
use crate::services::replicas::peer::{PeerError, PeerSocket};
use crate::services::replicas::{Place, Replicas};
use crate::store::{Store, StoredSession};
use crate::terminal::session::Mode;
use crate::workspace::WorkspaceId;

/// What a kill announcement starts with; the session's id follows.
const KILL: &str = "kill-session:";

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A failure to reach the replica holding a session, as an answer.
fn unreached(e: PeerError) -> ServiceError {
    match e {
        // Nothing listens where it was: the replica and its shells are gone.
        PeerError::Refused => not_found(),
        PeerError::Unreachable => ServiceError::Unavailable(
            "the replica holding this terminal session cannot be reached; try again".into(),
        ),
        PeerError::Answered(e) => e,
    }
}

impl Terminals {
    /// Records session `id` of `ws` as held here, unless the workspace has its most.
    pub(super) async fn record(&self, ws: WorkspaceId, id: &str) -> Result<(), ServiceError> {
        let session = StoredSession {
            id: id.to_owned(),
            workspace_id: ws,
            replica_id: self.replicas.id().to_owned(),
            created_at_ms: now_ms(),
            holder: None,
            killed: false,
        };
        let max = i64::try_from(self.resumable.limits.per_workspace).unwrap_or(i64::MAX);
        match self
            .ports
            .store
            .insert_terminal_session(&session, max, now_ms())
            .await?
        {
            true => Ok(()),
            false => Err(self.resumable.quota()),
        }
    }

    /// Forgets the record of a session that never started.
    pub(super) async fn forget(&self, id: &str) {
        if let Err(e) = self.ports.store.remove_terminal_session(id).await {
            tracing::warn!(session = %id, error = %e, "forgetting a terminal session that never started");
        }
    }

    /// The address of the live replica that holds session `id` of `ws`; 404 when none does.
    pub(super) async fn held_elsewhere(
        &self,
        ws: WorkspaceId,
        id: &str,
    ) -> Result<String, ServiceError> {
        let stored = self.ports.store.terminal_session(ws, id, now_ms()).await?;
        let stored = stored.filter(|s| !s.killed).ok_or_else(not_found)?;
        match self.replicas.place(stored.holder.as_ref()) {
            Place::There(url) => Ok(url),
            Place::Here | Place::Gone => Err(not_found()),
        }
    }

    /// A socket to session `id` of `ws` on the replica that holds it.
    pub(super) async fn resume_elsewhere(
        &self,
        ws: WorkspaceId,
        id: &str,
        offset: Option<u64>,
        mode: Mode,
    ) -> Result<PeerSocket, ServiceError> {
        let url = self.held_elsewhere(ws, id).await?;
        let peer = &self.replicas.peer;
        let view = mode == Mode::View;
        peer.terminal(&url, (ws, id), offset, view)
            .await
            .map_err(unreached)
    }

    /// The sessions of `ws` that other live replicas hold; one that cannot be reached now is
    /// left out (its sessions are listed again once it answers).
    pub(super) async fn sessions_elsewhere(&self, ws: WorkspaceId) -> Vec<SessionView> {
        let holders = self
            .ports
            .store
            .session_holders(ws, self.replicas.id(), now_ms());
        let holders = match holders.await {
            Ok(holders) => holders,
            Err(e) => {
                tracing::warn!(error = %e, "listing the replicas holding terminal sessions");
                return Vec::new();
            }
        };
        let mut views = Vec::new();
        for url in holders.into_iter().filter_map(|h| h.url) {
            match self.replicas.peer.sessions(&url, ws).await {
                Ok(theirs) => views.extend(theirs),
                Err(e) => {
                    tracing::warn!(replica = %url, error = ?e, "listing a replica's sessions")
                }
            }
        }
        views
    }

    /// Marks session `id` of `ws`, held by another live replica, killed and tells that replica.
    pub(super) async fn kill_elsewhere(
        &self,
        ws: WorkspaceId,
        id: &str,
    ) -> Result<(), ServiceError> {
        self.held_elsewhere(ws, id).await?;
        if !self
            .ports
            .store
            .kill_terminal_session(ws, id, now_ms())
            .await?
        {
            return Err(not_found());
        }
        self.replicas.announce(&format!("{KILL}{id}")).await;
        tracing::info!(workspace_id = %ws, session = %id, "terminal session killed on another replica");
        Ok(())
    }
}

/// Kills the sessions held here that another replica marked killed: at once when it announces
/// one, and every few seconds in case an announcement was missed.
pub(super) fn watch_kills(
    registry: &Arc<Registry>,
    store: &Arc<dyn Store>,
    replicas: &Arc<Replicas>,
    shutdown: &CancellationToken,
) {
    let registry = Arc::downgrade(registry);
    let (store, holder) = (store.clone(), replicas.clone());
    replicas.watch(KILL, shutdown, move |announced| {
        let (registry, store, holder) = (registry.upgrade(), store.clone(), holder.clone());
        async move {
            let Some(registry) = registry else {
                return false;
            };
            // A session held elsewhere is not this replica's to act on.
            if announced.is_some_and(|id| registry.by_id(&id).is_none()) {
                return true;
            }
            // The table says which were asked to be killed: an announcement only wakes it up.
            match store.killed_terminal_sessions(holder.id()).await {
                Ok(ids) => {
                    for session in ids.iter().filter_map(|id| registry.by_id(id)) {
                        session.kill().await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading which terminal sessions to kill"),
            }
            true
        }
    });
}
