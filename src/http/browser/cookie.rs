//! The session cookie (read and written by the `cookie` crate): its name and attributes, reading
//! it from a request, and the `Origin` rule that decides whether it counts.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::HeaderValue;
use axum::http::header::{COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use cookie::{Cookie, SameSite};

use crate::access::AuthError;
use crate::config::Config;
use crate::http::error::ApiError;

/// The cookie's name where it is `Secure`: `__Host-` makes browsers refuse one set by a sibling
/// host or for another path, so no other site can plant a session of its own.
const SECURE_NAME: &str = "__Host-workspace_session";
/// Its name over plain HTTP to loopback, where a `Secure` cookie is not kept.
const PLAIN_NAME: &str = "workspace_session";

/// Whether the request came over plain HTTP to loopback: from a loopback peer, for a loopback
/// `Host`. Only then is the cookie set without `Secure`.
fn plain_loopback(parts: &Parts) -> bool {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
    let host = parts.headers.get(HOST).and_then(|h| h.to_str().ok());
    peer.is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback()) && host.is_some_and(loopback_host)
}

/// Whether a `Host` value (`name`, `name:port`, `[v6]` or `[v6]:port`) names loopback.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn cookie_name(parts: &Parts) -> &'static str {
    if plain_loopback(parts) {
        PLAIN_NAME
    } else {
        SECURE_NAME
    }
}

/// The session cookie of the request, if any; two that differ are refused.
fn session_cookie(parts: &Parts) -> Result<Option<String>, ApiError> {
    let name = cookie_name(parts);
    let mut found: Option<String> = None;
    let headers = parts.headers.get_all(COOKIE).iter();
    let cookies = headers
        .filter_map(|h| h.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok);
    for cookie in cookies.filter(|c| c.name() == name) {
        match &found {
            Some(seen) if seen != cookie.value() => {
                return Err(ApiError::bad_request("more than one session cookie"));
            }
            _ => found = Some(cookie.value().to_owned()),
        }
    }
    Ok(found.filter(|v| !v.is_empty()))
}

/// The session cookie of a request sent from the server's own origin; a cookie from anywhere
/// else (or with no `Origin`) is refused (401), never ignored.
pub fn own_origin_session(parts: &Parts, config: &Config) -> Result<Option<String>, ApiError> {
    let Some(session) = session_cookie(parts)? else {
        return Ok(None);
    };
    match same_origin(parts, config.public_origin.as_deref()) {
        true => Ok(Some(session)),
        false => Err(AuthError::CrossOrigin.into()),
    }
}

/// Whether the request's one `Origin` is the server's own: `PUBLIC_ORIGIN` when configured,
/// else the request's `Host` over `http` or `https`.
fn same_origin(parts: &Parts, public: Option<&str>) -> bool {
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

pub fn set_cookie(parts: &Parts, value: &str, max_age: i64) -> HeaderValue {
    let name = cookie_name(parts);
    let cookie = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age))
        .secure(name == SECURE_NAME);
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::loopback_host;

    #[test]
    fn loopback_hosts_are_named_with_or_without_a_port() {
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(loopback_host(host), "{host}");
        }
        for host in [
            "ws.example.com",
            "10.0.0.1:8080",
            "[::2]:80",
            "localhost.example.com",
            "",
        ] {
            assert!(!loopback_host(host), "{host}");
        }
    }
}
