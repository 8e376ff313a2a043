//! One origin for the canvas and the API (SPEC §9): with `CANVAS_PROXY_URL`, a request that
//! matches no API route is passed to the canvas (WebSocket upgrades included) without its
//! `Authorization` and `Cookie` headers; without it, the JSON 404.

mod socket;

use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;

use super::error::ApiError;
use crate::app::AppState;

/// Headers never passed on: credentials of this API, and hop-by-hop headers.
const DROPPED: &[HeaderName] = &[
    header::AUTHORIZATION,
    header::COOKIE,
    header::HOST,
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::CONTENT_LENGTH,
];

fn cleaned(headers: &HeaderMap) -> HeaderMap {
    let mut out = headers.clone();
    for name in DROPPED {
        out.remove(name);
    }
    out.remove("keep-alive");
    out
}

/// The fallback of the router.
pub async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let Some(base) = state.canvas.clone() else {
        return ApiError::not_found("not found").into_response();
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let is_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if is_upgrade {
        let (mut parts, _) = req.into_parts();
        let headers = parts.headers.clone();
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => socket::websocket(upgrade, &base.ws, &path, &headers).await,
            Err(e) => e.into_response(),
        };
    }
    http(&state, &base.http, &path, req).await
}

/// Marks a response as the canvas's own, so the API's security headers leave it alone.
#[derive(Clone, Copy, Debug)]
pub struct Proxied;

/// The canvas's address, for plain requests and for WebSockets.
#[derive(Clone, Debug)]
pub struct CanvasBase {
    pub http: String,
    pub ws: String,
}

impl CanvasBase {
    pub fn new(url: &str) -> Self {
        let http = url.trim_end_matches('/').to_owned();
        let ws = if let Some(rest) = http.strip_prefix("https://") {
            format!("wss://{rest}")
        } else {
            format!("ws://{}", http.strip_prefix("http://").unwrap_or(&http))
        };
        Self { http, ws }
    }
}

pub(super) fn unavailable() -> Response {
    ApiError::BadGateway("the canvas is not reachable".into()).into_response()
}

async fn http(state: &AppState, base: &str, path: &str, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = reqwest::Body::wrap_stream(body.into_data_stream());
    let sent = state
        .canvas_client
        .request(parts.method, format!("{base}{path}"))
        .headers(cleaned(&parts.headers))
        .body(body)
        .send()
        .await;
    let upstream = match sent {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "canvas request failed");
            return unavailable();
        }
    };
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = cleaned(upstream.headers());
    let stream = upstream.bytes_stream().map_err(std::io::Error::other);
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response.extensions_mut().insert(Proxied);
    response
}
