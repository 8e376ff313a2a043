//! Who may open a terminal: a caller by `Authorization` header or, failing that, by `?ticket=`.
//! Tokens are never read from the query string. A viewer's ticket admits to one session only.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;

use crate::access::AuthError;
use crate::app::AppState;
use crate::http::auth::{WorkspaceCaller, header_caller};
use crate::http::error::ApiError;
use crate::http::extract::{Query, path_id};

#[derive(Deserialize)]
struct TicketQuery {
    ticket: Option<String>,
}

/// A caller admitted to the terminal of the `{id}` workspace.
pub struct TerminalCaller {
    pub admitted: WorkspaceCaller,
    /// The one session a viewer's ticket may view.
    pub view: Option<String>,
}

impl FromRequestParts<AppState> for TerminalCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(caller) = header_caller(parts, state).await? {
            let admitted = WorkspaceCaller::admit(parts, state, caller).await?;
            return Ok(Self {
                admitted,
                view: None,
            });
        }
        let Query(TicketQuery { ticket }) = Query::from_request_parts(parts, state).await?;
        let ticket = ticket.ok_or(ApiError::from(AuthError::Missing))?;
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid path"))?;
        let id = path_id(&raw, "id")?.ok_or_else(|| ApiError::bad_request("missing id"))?;
        let (caller, view) = state.access.redeem_ticket(&ticket, id).await?;
        let admitted = WorkspaceCaller::admit(parts, state, caller).await?;
        Ok(Self { admitted, view })
    }
}
