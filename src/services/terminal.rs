//! The terminal use case (SPEC §5.3): single-use tickets, opening the shell before the socket is
//! upgraded (so every failure is an HTTP answer), and running the bridge to its end, with the
//! session's metrics and audit row. The socket is the HTTP layer's; here it is a `Sink`/`Stream`
//! of the bridge's frames. Resumable sessions are in `terminal/sessions.rs`.

mod elsewhere;
pub(crate) mod sessions;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use futures_util::{Sink, Stream};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use self::sessions::Registry;
pub use self::sessions::{Attaching, Resumed, SessionView};
use super::replicas::Replicas;
use super::revocations::Watch;
use super::{Ports, ServiceError, live};
use crate::access::{Access, TICKET_TTL};
use crate::audit::{self, Kind};
use crate::auth::Caller;
use crate::backend::{BackendError, Bound, TermSize, TerminalControl, TerminalSession};
use crate::metrics::Metrics;
use crate::terminal::protocol::{MAX_DIMENSION, valid_size};
use crate::terminal::{BridgeConfig, ClientFrame, ServerFrame, SessionLimits, Stops, bridge};
use crate::workspace::{Workspace, WorkspaceId};

/// The body of a ticket request for a viewer: `{"session": sid, "mode": "view"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketBody {
    session: String,
    mode: String,
}

/// A terminal ticket, for browsers, which cannot set headers on a WebSocket.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub ticket: String,
    /// Seconds until it expires unused.
    pub expires_in: u64,
}

/// A terminal request that passed its checks: the workspace's backend and the size.
pub struct Prepared {
    bound: Bound,
    size: TermSize,
}

/// What opening a terminal came to.
pub enum Opened {
    /// The shell runs; attach a socket to it.
    Shell(Pending),
    /// The way to the workspace failed after the request was accepted. A browser cannot read the
    /// body of a refused upgrade, so this is said inside the socket.
    Refused(String),
}

pub struct Terminals {
    ports: Ports,
    access: Arc<Access>,
    metrics: Arc<Metrics>,
    bridge: BridgeConfig,
    shutdown: CancellationToken,
    /// Sessions still running: shutdown waits for each to close and write its audit row.
    sessions: TaskTracker,
    /// The resumable sessions (SPEC §12).
    resumable: Arc<Registry>,
    /// This replica and the way to the others (SPEC §16).
    replicas: Arc<Replicas>,
}

impl Terminals {
    pub fn new(
        ports: Ports,
        access: Arc<Access>,
        metrics: Arc<Metrics>,
        (bridge, limits): (BridgeConfig, SessionLimits),
        (shutdown, sessions): (CancellationToken, TaskTracker),
        replicas: Arc<Replicas>,
    ) -> Self {
        let resumable = Arc::new(Registry::new(limits));
        elsewhere::watch_kills(&resumable, &ports.store, &replicas, &shutdown);
        let gauges = Arc::downgrade(&resumable);
        metrics
            .read_sessions_from(move || gauges.upgrade().map(|r| r.gauges()).unwrap_or_default());
        Self {
            ports,
            access,
            metrics,
            bridge,
            shutdown,
            sessions,
            resumable,
            replicas,
        }
    }

    /// A ticket for `caller` to `ws`; with a body naming a session, one that only views that
    /// session.
    pub async fn ticket(
        &self,
        caller: &Caller,
        ws: &Workspace,
        body: Option<TicketBody>,
    ) -> Result<Ticket, ServiceError> {
        let view = match body {
            None => None,
            Some(TicketBody { session, mode }) => {
                if mode != "view" {
                    return Err(ServiceError::invalid(r#"mode must be "view""#));
                }
                if self.resumable.get(ws.id, &session).is_err() {
                    self.held_elsewhere(ws.id, &session).await?;
                }
                Some(session)
            }
        };
        Ok(Ticket {
            ticket: self
                .access
                .issue_ticket(caller, ws.id, view.as_deref())
                .await?,
            expires_in: TICKET_TTL.as_secs(),
        })
    }

    /// Checks a terminal request for `ws` of `cols` × `rows` (80 × 24 by default), before
    /// anything is opened.
    pub fn prepare(
        &self,
        ws: &Workspace,
        cols: Option<u16>,
        rows: Option<u16>,
    ) -> Result<Prepared, ServiceError> {
        live(ws)?;
        let default = TermSize::default();
        let size = valid_size(cols.unwrap_or(default.cols), rows.unwrap_or(default.rows))
            .ok_or_else(|| {
                ServiceError::invalid(format!("cols and rows must be 1-{MAX_DIMENSION}"))
            })?;
        Ok(Prepared {
            bound: self.ports.backends.for_workspace(ws)?,
            size,
        })
    }

    /// Opens the login shell of a prepared request: the shell, or why the way to the workspace
    /// failed (said inside the socket).
    async fn open_shell(
        &self,
        prepared: &Prepared,
    ) -> Result<Result<TerminalSession, String>, ServiceError> {
        let b = &prepared.bound;
        match b.backend.open_terminal(&b.target, prepared.size).await {
            Ok(shell) => Ok(Ok(self.metrics.terminal_io().count(shell))),
            Err(BackendError::NotRunning) => {
                Err(ServiceError::NotFound("container not running".into()))
            }
            Err(e @ (BackendError::Gateway(_) | BackendError::Unconfigured(_))) => {
                let message = e.to_string();
                let id = b.target.workspace.id;
                tracing::warn!(workspace_id = %id, error = %message, "terminal failed to open");
                Ok(Err(message))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the login shell of a prepared request; closing its socket ends it.
    pub async fn open(&self, caller: Caller, prepared: Prepared) -> Result<Opened, ServiceError> {
        let session = match self.open_shell(&prepared).await? {
            Ok(shell) => shell,
            Err(refused) => return Ok(Opened::Refused(refused)),
        };
        Ok(Opened::Shell(Pending {
            guard: KillGuard(Some(session.control.clone())),
            session: Some(session),
            caller,
            workspace_id: prepared.bound.target.workspace.id,
            size: prepared.size,
            ports: self.ports.clone(),
            metrics: self.metrics.clone(),
            bridge: self.bridge,
            shutdown: self.shutdown.child_token(),
            // Counted until the session has closed and written its audit row.
            _tracked: self.sessions.token(),
        }))
    }
}

/// An open shell waiting for its socket. Dropped unused (the upgrade never finished), it kills
/// the shell.
pub struct Pending {
    session: Option<TerminalSession>,
    guard: KillGuard,
    caller: Caller,
    workspace_id: WorkspaceId,
    size: TermSize,
    ports: Ports,
    metrics: Arc<Metrics>,
    bridge: BridgeConfig,
    shutdown: CancellationToken,
    _tracked: TaskTrackerToken,
}

impl Pending {
    /// Bridges the socket (`tx`, `rx`) to the shell until either side ends, the server shuts
    /// down or the token of `watch`, which opened the socket, is revoked; then audits.
    pub async fn run<Tx, Rx>(mut self, tx: Tx, rx: Rx, watch: Option<Watch>)
    where
        Tx: Sink<ServerFrame> + Unpin,
        Rx: Stream<Item = ClientFrame> + Unpin,
    {
        let Some(session) = self.session.take() else {
            return;
        };
        let started = Instant::now();
        let started_at = Utc::now();
        self.metrics.terminal_sessions(1);
        let stops = Stops {
            shutdown: self.shutdown.clone(),
            revoked: Watch::signal(watch.as_ref()),
        };
        let stats = bridge(session, tx, rx, stops, self.bridge).await;
        // The bridge has ended the shell; a run cut short before this still kills it.
        self.guard.0 = None;
        self.metrics.terminal_sessions(-1);
        self.metrics.terminal_session_ended(started.elapsed());
        let status = if stats.error.is_some() { "error" } else { "ok" };
        let row = audit::row(
            self.workspace_id,
            Kind::Terminal,
            &self.caller,
            "GET",
            "terminal session",
        )
        .with_details(json!({
            "cols": self.size.cols,
            "rows": self.size.rows,
            "bytes_in": stats.bytes_in,
            "bytes_out": stats.bytes_out,
            "exit_code": stats.exit_code,
            "ended": stats.end,
        }))
        .with_duration(started.elapsed())
        .started_at(started_at)
        .with_outcome(status, stats.error.clone());
        audit::record_or_defer(self.ports.store.clone(), row).await;
    }
}

/// Kills a shell whose socket never attached.
struct KillGuard(Option<Arc<dyn TerminalControl>>);

impl Drop for KillGuard {
    fn drop(&mut self) {
        if let Some(control) = self.0.take() {
            tokio::spawn(async move { control.kill().await });
        }
    }
}
