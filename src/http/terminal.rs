//! The terminal routes: single-use tickets, and the WebSocket upgrade's authentication.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;

use super::auth::{WorkspaceCaller, header_caller, live};
use super::error::ApiError;
use super::extract::Query;
use crate::access::{AuthError, TICKET_TTL};
use crate::app::AppState;
use crate::audit;
use crate::auth::Caller;
use crate::backend::{BackendError, TermSize, TerminalControl, TerminalSession};
use crate::store::NewActivity;
use crate::terminal::protocol::{MAX_DIMENSION, valid_size};
use crate::terminal::{ClientFrame, ServerFrame, bridge};
use crate::workspace::{Placement, WorkspaceId};

/// `POST /workspaces/{id}/terminal/ticket`: a ticket for browsers, which cannot set headers on a
/// WebSocket.
pub async fn ticket(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
) -> Result<Response, ApiError> {
    let ticket = state.access.issue_ticket(workspace.id).await?;
    let body = json!({ "ticket": ticket, "expires_in": TICKET_TTL.as_secs() });
    Ok(axum::Json(body).into_response())
}

#[derive(Deserialize)]
struct TicketQuery {
    ticket: Option<String>,
}

/// A caller admitted to the terminal: by `Authorization` header or, failing that, by `?ticket=`.
/// Tokens are never read from the query string.
pub struct TerminalCaller(pub WorkspaceCaller);

impl FromRequestParts<AppState> for TerminalCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(caller) = header_caller(parts, state).await? {
            return Ok(Self(WorkspaceCaller::admit(parts, state, caller).await?));
        }
        let Query(TicketQuery { ticket }) = Query::from_request_parts(parts, state).await?;
        let ticket = ticket.ok_or(ApiError::from(AuthError::Missing))?;
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid path"))?;
        let id = super::extract::path_id(&raw, "id")?
            .ok_or_else(|| ApiError::bad_request("missing id"))?;
        let caller = state.access.redeem_ticket(&ticket, id).await?;
        Ok(Self(WorkspaceCaller::admit(parts, state, caller).await?))
    }
}

/// Read buffer of a terminal's WebSocket, in bytes.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024;

#[derive(Deserialize)]
pub struct SizeQuery {
    cols: Option<u16>,
    rows: Option<u16>,
}

/// `GET /workspaces/{id}/terminal`: everything that can fail is checked, and the shell opened,
/// before the upgrade; then the socket is bridged to the shell until either side ends.
pub async fn terminal(
    State(state): State<AppState>,
    TerminalCaller(WorkspaceCaller { caller, workspace }): TerminalCaller,
    Query(size): Query<SizeQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    live(&workspace)?;
    let default = TermSize::default();
    let size = valid_size(
        size.cols.unwrap_or(default.cols),
        size.rows.unwrap_or(default.rows),
    )
    .ok_or_else(|| ApiError::bad_request(format!("cols and rows must be 1-{MAX_DIMENSION}")))?;
    let backend = state.backends.for_placement(&Placement::of(&workspace))?;
    let upgrade = upgrade.map_err(|_| ApiError::bad_request("expected a WebSocket upgrade"))?;
    let session = match backend.open_terminal(&workspace, size).await {
        Ok(session) => session,
        Err(BackendError::NotRunning) => {
            return Err(ApiError::not_found("container not running"));
        }
        Err(e @ (BackendError::Gateway(_) | BackendError::Unconfigured(_))) => {
            // A browser cannot read the body of a refused upgrade: say it inside the socket.
            let message = e.to_string();
            tracing::warn!(workspace_id = %workspace.id, error = %message, "terminal failed to open");
            return Ok(upgrade.on_upgrade(move |socket| report_error(socket, message)));
        }
        Err(e) => return Err(e.into()),
    };
    let guard = KillGuard(Some(session.control.clone()));
    // Small socket buffers: an idle session should cost little; the bridge already joins
    // output into frames of up to 64 KiB, so large buffers buy nothing.
    let upgrade = upgrade
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(0);
    // Counted until the session has closed and written its audit row (shutdown waits for it).
    let tracked = state.sessions.token();
    Ok(upgrade.on_upgrade(move |socket| async move {
        run_session(state, caller, workspace.id, size, session, socket).await;
        guard.disarm();
        drop(tracked);
    }))
}

/// Kills a shell whose socket never finished upgrading.
struct KillGuard(Option<Arc<dyn TerminalControl>>);

impl KillGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for KillGuard {
    fn drop(&mut self) {
        if let Some(control) = self.0.take() {
            tokio::spawn(async move { control.kill().await });
        }
    }
}

async fn run_session(
    state: AppState,
    caller: Caller,
    workspace_id: WorkspaceId,
    size: TermSize,
    session: TerminalSession,
    socket: WebSocket,
) {
    let started = Instant::now();
    let started_at = Utc::now();
    state.metrics.terminal_sessions(1);
    let (sink, stream) = socket.split();
    let sink =
        sink.with(|frame: ServerFrame| async move { Ok::<_, axum::Error>(to_message(frame)) });
    let stream = stream.map(|message| match message {
        Ok(Message::Binary(bytes)) => ClientFrame::Input(bytes),
        Ok(Message::Text(text)) => ClientFrame::from_text(text.as_str()),
        Ok(Message::Close(_)) | Err(_) => ClientFrame::Close,
        Ok(_) => ClientFrame::Other,
    });
    let stats = bridge(
        session,
        Box::pin(sink),
        Box::pin(stream),
        state.shutdown.child_token(),
        state.config.terminal_bridge(),
    )
    .await;
    state.metrics.terminal_sessions(-1);
    state
        .metrics
        .terminal_bytes(stats.bytes_in, stats.bytes_out);
    let row = NewActivity {
        workspace_id,
        activity_type: "terminal".into(),
        actor: caller.actor(),
        method: "GET".into(),
        summary: "terminal session".into(),
        request_body: Some(json!({
            "cols": size.cols,
            "rows": size.rows,
            "bytes_in": stats.bytes_in,
            "bytes_out": stats.bytes_out,
            "exit_code": stats.exit_code,
            "ended": stats.end,
        })),
        duration_ms: Some(started.elapsed().as_millis() as i64),
        status: if stats.error.is_some() { "error" } else { "ok" }.into(),
        error_detail: stats.error,
        created_at: started_at,
    };
    audit::record_or_defer(state.store.clone(), row).await;
}

/// Sends `Error: <message>\r\n` and closes with 1011.
async fn report_error(mut socket: WebSocket, message: String) {
    for frame in ServerFrame::error(&message) {
        if socket.send(to_message(frame)).await.is_err() {
            break;
        }
    }
}

fn to_message(frame: ServerFrame) -> Message {
    match frame {
        ServerFrame::Output(bytes) => Message::Binary(bytes),
        ServerFrame::Text(text) => Message::Text(text.into()),
        ServerFrame::Ping => Message::Ping(Bytes::new()),
        ServerFrame::Close { code, reason } => Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })),
    }
}
