//! The terminal routes: single-use tickets, and the WebSocket upgrade's authentication.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::auth::{WorkspaceCaller, header_caller};
use super::error::ApiError;
use super::extract::Query;
use crate::access::{AuthError, TICKET_TTL};
use crate::app::AppState;
use crate::workspace::{Placement, Status};

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

/// `GET /workspaces/{id}/terminal`: checks everything that can fail before the upgrade.
pub async fn terminal(
    State(state): State<AppState>,
    TerminalCaller(WorkspaceCaller { workspace, .. }): TerminalCaller,
) -> Result<Response, ApiError> {
    if workspace.status == Status::Removed {
        return Err(ApiError::Conflict("workspace has been removed".into()));
    }
    let backend = state.backends.for_placement(&Placement::of(&workspace))?;
    Err(ApiError::Unavailable(format!(
        "terminal sessions are not offered by the {} backend",
        backend.name()
    )))
}
