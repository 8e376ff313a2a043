//! Auth extractors: the admin group and the workspace group of SPEC §4.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::browser;
use super::error::ApiError;
use super::extract::path_id;
use crate::access::AuthError;
use crate::app::AppState;
use crate::auth::Caller;
use crate::workspace::Workspace;

/// The one `Authorization` value of a request. Two are refused (400), rather than letting one of
/// them win.
pub fn authorization(parts: &Parts) -> Result<Option<&[u8]>, ApiError> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let value = values.next().map(|v| v.as_bytes());
    if values.next().is_some() {
        return Err(ApiError::bad_request("more than one Authorization header"));
    }
    Ok(value)
}

/// The caller from the `Authorization` header, if any; without one, from a browser session
/// cookie sent with the server's own `Origin` (SPEC §13). No other header ever grants access.
pub async fn header_caller(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    let value = authorization(parts)?;
    if value.is_none()
        && let Some(session) = browser::own_origin_session(parts, &state.config)?
    {
        return Ok(Some(state.access.browser_caller(&session).await?));
    }
    Ok(state.access.caller(value).await?)
}

/// A caller admitted to the admin group (admin token or org token).
pub struct AdminCaller(pub Caller);

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = header_caller(parts, state).await?;
        Ok(AdminCaller(state.access.admin(caller)?))
    }
}

/// A caller admitted to the workspace named by the `{id}` path parameter, with that workspace.
pub struct WorkspaceCaller {
    pub caller: Caller,
    pub workspace: Workspace,
}

impl WorkspaceCaller {
    /// Admits `caller` (already authenticated) to the `{id}` workspace of the request.
    pub async fn admit(
        parts: &mut Parts,
        state: &AppState,
        caller: Caller,
    ) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid path"))?;
        let id = path_id(&params, "id")?.ok_or_else(|| ApiError::bad_request("missing id"))?;
        let workspace = state.access.workspace(&caller, id).await?;
        Ok(Self { caller, workspace })
    }
}

impl FromRequestParts<AppState> for WorkspaceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = header_caller(parts, state)
            .await?
            .ok_or(ApiError::from(AuthError::Missing))?;
        Self::admit(parts, state, caller).await
    }
}

/// An admin-group caller admitted to the `{id}` workspace (org tokens only within their org).
pub struct AdminWorkspace {
    pub caller: Caller,
    pub workspace: Workspace,
}

impl FromRequestParts<AppState> for AdminWorkspace {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = state.access.admin(header_caller(parts, state).await?)?;
        let WorkspaceCaller { caller, workspace } =
            WorkspaceCaller::admit(parts, state, caller).await?;
        Ok(Self { caller, workspace })
    }
}
