//! The terminal routes: single-use tickets (a viewer's too), and the WebSocket upgrade of a plain
//! terminal (SPEC §5.3) or of a resumable session, new, resumed or viewed (SPEC §12).

mod caller;
pub mod sessions;
mod socket;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

pub use self::caller::TerminalCaller;
use self::socket::{frames, report_error};
use super::auth::WorkspaceCaller;
use super::error::ApiError;
use super::extract::Query;
use super::relay::relay;
use crate::app::AppState;
use crate::services::revocations::Watch;
use crate::services::terminal::{Attaching, Opened, Resumed, TicketBody};
use crate::terminal::session::Mode;

/// `POST /workspaces/{id}/terminal/ticket`: a ticket for browsers, which cannot set headers on a
/// WebSocket; with `{"session": sid, "mode": "view"}`, one that only views that session.
pub async fn ticket(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Option<TicketBody> = match body.iter().all(u8::is_ascii_whitespace) {
        true => None,
        false => Some(
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid ticket body: {e}")))?,
        ),
    };
    let ticket = state
        .services
        .terminal
        .ticket(&caller, &workspace, body)
        .await?;
    Ok(axum::Json(ticket).into_response())
}

/// Read buffer of a terminal's WebSocket, in bytes.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024;

#[derive(Deserialize)]
pub struct TerminalQuery {
    cols: Option<u16>,
    rows: Option<u16>,
    /// `new`, or the id of a session to resume.
    session: Option<String>,
    /// Where a resume starts: the client's position in the session's output.
    offset: Option<u64>,
}

/// `GET /workspaces/{id}/terminal`: everything that can fail is checked, and the shell opened or
/// the session found, before the upgrade; then the socket is bridged or attached.
pub async fn terminal(
    State(state): State<AppState>,
    TerminalCaller { admitted, view }: TerminalCaller,
    Query(q): Query<TerminalQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let WorkspaceCaller { caller, workspace } = admitted;
    let terminals = &state.services.terminal;
    // The socket closes when the token that opened it is revoked (SPEC §16).
    let watch = state.services.revocations.watch(&caller);
    let upgraded = |u: Result<WebSocketUpgrade, _>| {
        u.map(|u| u.read_buffer_size(SOCKET_BUFFER_BYTES).write_buffer_size(0))
            .map_err(|_| ApiError::bad_request("expected a WebSocket upgrade"))
    };
    let attaching = match (q.session.as_deref(), view) {
        (asked, Some(viewed)) => {
            if asked != Some(viewed.as_str()) {
                return Err(ApiError::Forbidden(
                    "this ticket only views the session it was issued for".into(),
                ));
            }
            terminals
                .resume(&workspace, &viewed, q.offset, Mode::View)
                .await?
        }
        (Some("new"), None) => {
            let prepared = terminals.prepare(&workspace, q.cols, q.rows)?;
            let upgrade = upgraded(upgrade)?;
            return Ok(match terminals.open_session(caller, prepared).await? {
                Ok(attaching) => upgrade.on_upgrade(move |s| attach(attaching, s, watch)),
                Err(refused) => upgrade.on_upgrade(move |s| report_error(s, refused)),
            });
        }
        (Some(sid), None) => {
            terminals
                .resume(&workspace, sid, q.offset, Mode::Write)
                .await?
        }
        (None, None) => {
            let prepared = terminals.prepare(&workspace, q.cols, q.rows)?;
            let upgrade = upgraded(upgrade)?;
            return Ok(match terminals.open(caller, prepared).await? {
                // The bridge already joins output into frames of up to 64 KiB: small socket
                // buffers cost an idle session little and lose nothing.
                Opened::Shell(pending) => upgrade.on_upgrade(move |socket| {
                    let (tx, rx) = frames(socket);
                    pending.run(tx, rx, watch)
                }),
                Opened::Refused(message) => {
                    upgrade.on_upgrade(move |socket| report_error(socket, message))
                }
            });
        }
    };
    let upgrade = upgraded(upgrade)?;
    Ok(match attaching {
        Resumed::Here(attaching) => {
            upgrade.on_upgrade(move |socket| attach(attaching, socket, watch))
        }
        // Held by another replica (SPEC §16): its frames pass through as they are.
        Resumed::There(peer) => upgrade.on_upgrade(move |socket| relay(socket, *peer, watch)),
    })
}

pub(super) async fn attach(
    attaching: Attaching,
    socket: axum::extract::ws::WebSocket,
    watch: Option<Watch>,
) {
    let (tx, rx) = frames(socket);
    attaching.run(tx, rx, watch).await;
}
