//! Browser sessions (SPEC §13): `POST /auth/session` trades a bearer for an `HttpOnly` cookie,
//! `DELETE /auth/session` ends it; the cookie counts only with the server's own `Origin`.

mod cookie;

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use self::cookie::own_origin_session;
use self::cookie::set_cookie;
use super::auth::authorization;
use super::error::ApiError;
use crate::app::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Opened {
    status: &'static str,
    expires_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Ended {
    status: &'static str,
}

/// `POST /auth/session`: a valid bearer (its `Authorization` header only) gets a session cookie.
pub async fn open(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    let value = authorization(&parts)?;
    let ttl = state.config.browser_session_ttl;
    let session = state.access.open_browser_session(value, ttl).await?;
    let max_age = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let body = Opened {
        status: "open",
        expires_at: session.expires_at,
    };
    let mut response = axum::Json(body).into_response();
    let cookie = set_cookie(&parts, &session.token, max_age);
    response.headers_mut().insert(SET_COOKIE, cookie);
    Ok(response)
}

/// `DELETE /auth/session`: ends the session of the cookie (sent from the server's own origin).
pub async fn end(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    let session = own_origin_session(&parts, &state.config)?;
    let session = session.ok_or(ApiError::Unauthorized("no session cookie"))?;
    state.access.end_browser_session(&session).await?;
    let mut response = axum::Json(Ended { status: "ended" }).into_response();
    let cookie = set_cookie(&parts, "", 0);
    response.headers_mut().insert(SET_COOKIE, cookie);
    Ok(response)
}
