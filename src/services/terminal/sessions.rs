//! Resumable terminal sessions (SPEC §12): the registry of live sessions, opening one, resuming
//! or viewing one, listing and killing them; each session's lifetime (its grace after the last
//! socket) and its one audit row.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures_util::{Sink, Stream};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::{Prepared, Terminals};
use crate::audit::{self, Kind};
use crate::auth::Caller;
use crate::metrics::SessionGauges;
use crate::services::replicas::peer::PeerSocket;
use crate::services::revocations::Watch;
use crate::services::views::Done;
use crate::services::{ServiceError, live};
use crate::sync::Locked;
use crate::terminal::Stops;
use crate::terminal::attach::{Start, attach};
use crate::terminal::session::{End, Mode, Session, Starter, new_id};
use crate::terminal::{BridgeConfig, ClientFrame, ServerFrame, SessionLimits};
use crate::workspace::{Workspace, WorkspaceId};

/// A session as `GET /workspaces/{id}/terminal/sessions` lists it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionView {
    pub session: String,
    pub created_at: DateTime<Utc>,
    /// Sockets attached now.
    pub attached: usize,
    /// The live offset: bytes output so far.
    pub offset: u64,
    pub cols: u16,
    pub rows: u16,
    pub exited: bool,
}

/// The live sessions, by id.
pub(super) struct Registry {
    pub(super) limits: SessionLimits,
    live: Mutex<HashMap<String, (WorkspaceId, Arc<Session>)>>,
}

pub(super) fn not_found() -> ServiceError {
    ServiceError::NotFound("terminal session not found".into())
}

impl Registry {
    pub(super) fn new(limits: SessionLimits) -> Self {
        Self {
            limits,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Session `id` of workspace `ws`.
    pub(super) fn get(&self, ws: WorkspaceId, id: &str) -> Result<Arc<Session>, ServiceError> {
        match self.live.locked().get(id) {
            Some((owner, session)) if *owner == ws => Ok(session.clone()),
            _ => Err(not_found()),
        }
    }

    /// Session `id`, of whichever workspace.
    pub(super) fn by_id(&self, id: &str) -> Option<Arc<Session>> {
        self.live.locked().get(id).map(|(_, s)| s.clone())
    }

    fn count(&self, ws: WorkspaceId) -> usize {
        self.live
            .locked()
            .values()
            .filter(|(o, _)| *o == ws)
            .count()
    }

    pub(super) fn quota(&self) -> ServiceError {
        ServiceError::Quota(format!(
            "a workspace may have at most {} resumable terminal sessions; end one first",
            self.limits.per_workspace
        ))
    }

    /// Adds a session unless the workspace is at its limit.
    fn insert(&self, ws: WorkspaceId, session: &Arc<Session>) -> Result<(), ServiceError> {
        let mut live = self.live.locked();
        if live.values().filter(|(o, _)| *o == ws).count() >= self.limits.per_workspace {
            return Err(self.quota());
        }
        live.insert(session.id.clone(), (ws, session.clone()));
        Ok(())
    }

    fn remove(&self, id: &str) {
        self.live.locked().remove(id);
    }

    pub(super) fn gauges(&self) -> SessionGauges {
        let live = self.live.locked();
        SessionGauges {
            live: live.len(),
            detached: live.values().filter(|(_, s)| s.attached() == 0).count(),
            replay_bytes: live.values().map(|(_, s)| s.held()).sum(),
        }
    }
}

impl Terminals {
    /// Opens a resumable session in the prepared workspace; `Err(message)` inside `Ok` when the
    /// way to the workspace failed after the request was accepted (said inside the socket).
    pub async fn open_session(
        &self,
        caller: Caller,
        prepared: Prepared,
    ) -> Result<Result<Attaching, String>, ServiceError> {
        let ws = prepared.bound.target.workspace.id;
        if self.resumable.count(ws) >= self.resumable.limits.per_workspace {
            return Err(self.resumable.quota());
        }
        // Recorded first, so the limit holds across replicas (SPEC §16).
        let id = new_id();
        self.record(ws, &id).await?;
        let shell = match self.open_shell(&prepared).await {
            Ok(Ok(shell)) => shell,
            Ok(Err(refused)) => {
                self.forget(&id).await;
                return Ok(Err(refused));
            }
            Err(e) => {
                self.forget(&id).await;
                return Err(e);
            }
        };
        let limits = self.resumable.limits;
        let (session, starter) = Session::start(id, shell, prepared.size, limits.replay_bytes);
        if let Err(e) = self.resumable.insert(ws, &session) {
            session.kill().await;
            self.forget(&session.id).await;
            return Err(e);
        }
        tracing::info!(workspace_id = %ws, session = %session.id, "resumable terminal session opened");
        let tracked = self.sessions.token();
        tokio::spawn(supervise(
            self.clone_for_session(),
            session.clone(),
            caller,
            ws,
            tracked,
        ));
        Ok(Ok(self.attaching(
            session,
            Mode::Write,
            Start::New,
            Some(starter),
        )))
    }

    /// Attaches to session `id` of `ws` from `offset` (0 when absent), a writer or a viewer:
    /// here, or through a socket to the replica that holds it (SPEC §16).
    pub async fn resume(
        &self,
        ws: &Workspace,
        id: &str,
        offset: Option<u64>,
        mode: Mode,
    ) -> Result<Resumed, ServiceError> {
        live(ws)?;
        match self.resumable.get(ws.id, id) {
            Ok(_) => self.resume_here(ws.id, id, offset, mode).map(Resumed::Here),
            Err(_) => self
                .resume_elsewhere(ws.id, id, offset, mode)
                .await
                .map(|s| Resumed::There(Box::new(s))),
        }
    }

    /// Attaches to session `id` of `ws`, which this replica holds.
    pub fn resume_here(
        &self,
        ws: WorkspaceId,
        id: &str,
        offset: Option<u64>,
        mode: Mode,
    ) -> Result<Attaching, ServiceError> {
        let session = self.resumable.get(ws, id)?;
        let offset = offset.unwrap_or(0);
        if offset > session.summary().0 {
            return Err(ServiceError::invalid("offset is past the session's output"));
        }
        Ok(self.attaching(session, mode, Start::At(offset), None))
    }

    fn attaching(
        &self,
        session: Arc<Session>,
        mode: Mode,
        start: Start,
        starter: Option<Starter>,
    ) -> Attaching {
        Attaching {
            session,
            mode,
            start,
            starter,
            bridge: self.bridge,
            cancel: self.shutdown.child_token(),
            _tracked: self.sessions.token(),
        }
    }

    /// The live sessions of `ws` on every replica, oldest first.
    pub async fn list_sessions(&self, ws: &Workspace) -> Vec<SessionView> {
        let mut views = self.list_here(ws.id);
        views.extend(self.sessions_elsewhere(ws.id).await);
        views.sort_by_key(|v| v.created_at);
        views
    }

    /// The live sessions of `ws` that this replica holds, oldest first.
    pub fn list_here(&self, ws: WorkspaceId) -> Vec<SessionView> {
        let live = self.resumable.live.locked();
        let mut views: Vec<SessionView> = live
            .values()
            .filter(|(owner, _)| *owner == ws)
            .map(|(_, s)| {
                let (offset, size, exited) = s.summary();
                SessionView {
                    session: s.id.clone(),
                    created_at: s.created_at,
                    attached: s.attached(),
                    offset,
                    cols: size.cols,
                    rows: size.rows,
                    exited,
                }
            })
            .collect();
        views.sort_by_key(|v| v.created_at);
        views
    }

    /// Kills session `id` of `ws` now; its sockets get the end of its output and close. One
    /// another replica holds is marked killed and that replica told (SPEC §16).
    pub async fn kill_session(&self, ws: &Workspace, id: &str) -> Result<Done, ServiceError> {
        match self.resumable.get(ws.id, id) {
            Ok(session) => session.kill().await,
            Err(_) => self.kill_elsewhere(ws.id, id).await?,
        }
        Ok(Done { status: "killed" })
    }

    /// What a session's supervisor needs of the service.
    fn clone_for_session(&self) -> Lifetime {
        Lifetime {
            registry: self.resumable.clone(),
            store: self.ports.store.clone(),
            grace: self.resumable.limits.detach_grace,
            shutdown: self.shutdown.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

struct Lifetime {
    registry: Arc<Registry>,
    store: Arc<dyn crate::store::Store>,
    grace: std::time::Duration,
    shutdown: CancellationToken,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Keeps a session until its grace after the last socket runs out, it is killed, or the server
/// stops; then kills its shell, drops it and writes its one audit row.
async fn supervise(
    life: Lifetime,
    session: Arc<Session>,
    caller: Caller,
    ws: WorkspaceId,
    _tracked: TaskTrackerToken,
) {
    let end = session.lifetime(life.grace, &life.shutdown).await;
    let exit = session.exit();
    session.kill().await;
    life.registry.remove(&session.id);
    if let Err(e) = life.store.remove_terminal_session(&session.id).await {
        tracing::warn!(session = %session.id, error = %e, "forgetting an ended terminal session");
    }
    let ended = match (exit, end) {
        (Some(_), _) => "exited",
        (None, End::Grace) => "detach_grace",
        (None, End::Killed) => "killed",
        (None, End::Shutdown) => "shutdown",
    };
    tracing::info!(workspace_id = %ws, session = %session.id, ended, "resumable terminal session ended");
    let t = session.tally();
    let (_, size, _) = session.summary();
    let lasted = (Utc::now() - session.created_at)
        .to_std()
        .unwrap_or_default();
    life.metrics.terminal_session_ended(lasted);
    let row = audit::row(ws, Kind::Terminal, &caller, "GET", "terminal session")
        .with_details(json!({
            "session": session.id,
            "resumable": true,
            "attaches": t.attaches,
            "cols": size.cols,
            "rows": size.rows,
            "bytes_in": t.bytes_in,
            "bytes_out": t.bytes_out,
            "dropped_view_frames": t.dropped,
            "exit_code": exit.flatten(),
            "ended": ended,
        }))
        .with_duration(lasted)
        .started_at(session.created_at);
    audit::record_or_defer(life.store, row).await;
}

/// A resume: a socket about to attach here, or one to the replica that holds the session.
pub enum Resumed {
    Here(Attaching),
    There(Box<PeerSocket>),
}

/// A socket about to attach to a session. A new session whose first socket never attached (the
/// upgrade failed) is killed when this is dropped.
pub struct Attaching {
    session: Arc<Session>,
    mode: Mode,
    start: Start,
    starter: Option<Starter>,
    bridge: BridgeConfig,
    cancel: CancellationToken,
    _tracked: TaskTrackerToken,
}

impl Attaching {
    /// Attaches the socket (`tx`, `rx`) until it leaves, the shell ends, the server shuts down
    /// or the token of `watch`, which opened the socket, is revoked.
    pub async fn run<Tx, Rx>(mut self, tx: Tx, rx: Rx, watch: Option<Watch>)
    where
        Tx: Sink<ServerFrame> + Unpin,
        Rx: Stream<Item = ClientFrame> + Unpin,
    {
        let session = self.session.clone();
        let starter = self.starter.take();
        let attached = attach(
            session,
            self.mode,
            self.start,
            tx,
            rx,
            Stops {
                shutdown: self.cancel.clone(),
                revoked: Watch::signal(watch.as_ref()),
            },
            self.bridge,
        );
        // The pump of a new session starts once its first socket has joined (at offset 0).
        let started = async {
            tokio::task::yield_now().await;
            drop(starter);
        };
        let (_left, ()) = tokio::join!(attached, started);
    }
}

impl Drop for Attaching {
    fn drop(&mut self) {
        if self.starter.take().is_some() {
            let session = self.session.clone();
            tokio::spawn(async move { session.kill().await });
        }
    }
}
