//! The terminal routes: single-use tickets, the WebSocket upgrade's authentication, and the
//! socket adapted to the bridge's frames.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use super::auth::{WorkspaceCaller, header_caller};
use super::error::ApiError;
use super::extract::Query;
use crate::access::AuthError;
use crate::app::AppState;
use crate::services::terminal::{Opened, Pending};
use crate::terminal::{ClientFrame, ServerFrame};

/// `POST /workspaces/{id}/terminal/ticket`: a ticket for browsers, which cannot set headers on a
/// WebSocket.
pub async fn ticket(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
) -> Result<Response, ApiError> {
    let ticket = state.services.terminal.ticket(&workspace).await?;
    Ok(axum::Json(ticket).into_response())
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
    let terminals = &state.services.terminal;
    let prepared = terminals.prepare(&workspace, size.cols, size.rows)?;
    let upgrade = upgrade.map_err(|_| ApiError::bad_request("expected a WebSocket upgrade"))?;
    let pending = match terminals.open(caller, prepared).await? {
        Opened::Shell(pending) => pending,
        Opened::Refused(message) => {
            return Ok(upgrade.on_upgrade(move |socket| report_error(socket, message)));
        }
    };
    // Small socket buffers: an idle session should cost little; the bridge already joins
    // output into frames of up to 64 KiB, so large buffers buy nothing.
    let upgrade = upgrade
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(0);
    Ok(upgrade.on_upgrade(move |socket| attach(pending, socket)))
}

/// The socket as the bridge's frames.
async fn attach(pending: Pending, socket: WebSocket) {
    let (sink, stream) = socket.split();
    let sink =
        sink.with(|frame: ServerFrame| async move { Ok::<_, axum::Error>(to_message(frame)) });
    let stream = stream.map(|message| match message {
        Ok(Message::Binary(bytes)) => ClientFrame::Input(bytes),
        Ok(Message::Text(text)) => ClientFrame::from_text(text.as_str()),
        Ok(Message::Close(_)) | Err(_) => ClientFrame::Close,
        Ok(_) => ClientFrame::Other,
    });
    pending.run(Box::pin(sink), Box::pin(stream)).await;
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
