//! Browser sessions (SPEC §13): `POST /auth/session` trades a bearer for an `HttpOnly` cookie,
//! `DELETE /auth/session` ends it; the cookie counts only with the server's own `Origin`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::ApiError;
use crate::access::AuthError;
use crate::app::AppState;

/// The cookie's name where it is `Secure`: `__Host-` makes browsers refuse one set by a sibling
/// host or for another path, so no other site can plant a session of its own.
const SECURE_NAME: &str = "__Host-workspace_session";
/// Its name over plain HTTP to loopback, where a `Secure` cookie is not kept.
const PLAIN_NAME: &str = "workspace_session";

#[derive(Serialize)]
struct Opened {
    status: &'static str,
    expires_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct Ended {
    status: &'static str,
}

/// Whether the request came over plain HTTP to loopback: from a loopback peer, for a loopback
/// `Host`. Only then is the cookie set without `Secure`.
fn plain_loopback(parts: &Parts) -> bool {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
    let host = parts.headers.get(HOST).and_then(|h| h.to_str().ok());
    let host = host.map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name));
    let host = host.map(|h| h.trim_start_matches('[').trim_end_matches(']'));
    let loopback_host = host.is_some_and(|h| {
        h.eq_ignore_ascii_case("localhost")
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    peer.is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback()) && loopback_host
}

fn cookie_name(parts: &Parts) -> &'static str {
    if plain_loopback(parts) {
        PLAIN_NAME
    } else {
        SECURE_NAME
    }
}

/// The session cookie of the request, if any; two that differ are refused.
pub fn session_cookie(parts: &Parts) -> Result<Option<String>, ApiError> {
    let name = cookie_name(parts);
    let mut found: Option<&str> = None;
    let headers = parts.headers.get_all(COOKIE).iter();
    let pairs = headers
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'));
    for (k, v) in pairs.filter_map(|pair| pair.trim().split_once('=')) {
        if k == name {
            match found {
                Some(seen) if seen != v => {
                    return Err(ApiError::bad_request("more than one session cookie"));
                }
                _ => found = Some(v),
            }
        }
    }
    Ok(found.filter(|v| !v.is_empty()).map(str::to_owned))
}

/// Whether the request's one `Origin` is the server's own: `PUBLIC_ORIGIN` when configured,
/// else the request's `Host` over `http` or `https`.
pub fn same_origin(parts: &Parts, public: Option<&str>) -> bool {
    let mut origins = parts.headers.get_all(ORIGIN).iter();
    let (Some(origin), None) = (origins.next(), origins.next()) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    match public {
        Some(own) => origin.eq_ignore_ascii_case(own),
        None => {
            let host = parts.headers.get(HOST).and_then(|h| h.to_str().ok());
            host.is_some_and(|host| {
                ["http://", "https://"].iter().any(|scheme| {
                    origin.len() == scheme.len() + host.len()
                        && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
                        && origin[scheme.len()..].eq_ignore_ascii_case(host)
                })
            })
        }
    }
}

fn set_cookie(parts: &Parts, value: &str, max_age: i64) -> HeaderValue {
    let name = cookie_name(parts);
    let secure = if name == SECURE_NAME { "; Secure" } else { "" };
    let cookie =
        format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `POST /auth/session`: a valid bearer (its `Authorization` header only) gets a session cookie.
pub async fn open(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let value = values.next().map(HeaderValue::as_bytes);
    if values.next().is_some() {
        return Err(ApiError::bad_request("more than one Authorization header"));
    }
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
    let session = session_cookie(&parts)?.ok_or(ApiError::Unauthorized("no session cookie"))?;
    if !same_origin(&parts, state.config.public_origin.as_deref()) {
        return Err(AuthError::CrossOrigin.into());
    }
    state.access.end_browser_session(&session).await?;
    let mut response = axum::Json(Ended { status: "ended" }).into_response();
    let cookie = set_cookie(&parts, "", 0);
    response.headers_mut().insert(SET_COOKIE, cookie);
    Ok(response)
}
