//! The terminal use case (SPEC §5.3): single-use tickets, opening the shell before the socket is
//! upgraded (so every failure is an HTTP answer), and running the bridge to its end, with the
//! session's metrics and audit row. The socket is the HTTP layer's; here it is a `Sink`/`Stream`
//! of the bridge's frames.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use futures_util::{Sink, Stream};
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::{Ports, ServiceError, live};
use crate::access::{Access, TICKET_TTL};
use crate::audit::{self, Kind};
use crate::auth::Caller;
use crate::backend::{BackendError, Bound, TermSize, TerminalControl, TerminalSession};
use crate::metrics::Metrics;
use crate::terminal::protocol::{MAX_DIMENSION, valid_size};
use crate::terminal::{BridgeConfig, ClientFrame, ServerFrame, bridge};
use crate::workspace::{Workspace, WorkspaceId};

/// A terminal ticket, for browsers, which cannot set headers on a WebSocket.
#[derive(Debug, Serialize)]
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
}

impl Terminals {
    pub fn new(
        ports: Ports,
        access: Arc<Access>,
        metrics: Arc<Metrics>,
        bridge: BridgeConfig,
        shutdown: CancellationToken,
        sessions: TaskTracker,
    ) -> Self {
        Self {
            ports,
            access,
            metrics,
            bridge,
            shutdown,
            sessions,
        }
    }

    pub async fn ticket(&self, ws: &Workspace) -> Result<Ticket, ServiceError> {
        Ok(Ticket {
            ticket: self.access.issue_ticket(ws.id).await?,
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

    /// Opens the login shell of a prepared request.
    pub async fn open(&self, caller: Caller, prepared: Prepared) -> Result<Opened, ServiceError> {
        let Prepared { bound: b, size } = prepared;
        let ws = &b.target.workspace;
        let session = match b.backend.open_terminal(&b.target, size).await {
            Ok(session) => session,
            Err(BackendError::NotRunning) => {
                return Err(ServiceError::NotFound("container not running".into()));
            }
            Err(e @ (BackendError::Gateway(_) | BackendError::Unconfigured(_))) => {
                let message = e.to_string();
                tracing::warn!(workspace_id = %ws.id, error = %message, "terminal failed to open");
                return Ok(Opened::Refused(message));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Opened::Shell(Pending {
            guard: KillGuard(Some(session.control.clone())),
            session: Some(session),
            caller,
            workspace_id: ws.id,
            size,
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
    /// Bridges the socket (`tx`, `rx`) to the shell until either side ends, then audits.
    pub async fn run<Tx, Rx>(mut self, tx: Tx, rx: Rx)
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
        let stats = bridge(session, tx, rx, self.shutdown.clone(), self.bridge).await;
        // The bridge has ended the shell; a run cut short before this still kills it.
        self.guard.0 = None;
        self.metrics.terminal_sessions(-1);
        self.metrics.terminal_bytes(stats.bytes_in, stats.bytes_out);
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
