//! Cross-cutting middleware: tenant guard, rate limiting, metrics, security headers, CORS.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::error::ApiError;
use crate::app::AppState;

/// The tenant header checked against `MOLECULE_ORG_ID`.
pub const ORG_HEADER: &str = "x-molecule-org-id";

/// With `MOLECULE_ORG_ID` set, a request without the matching `X-Molecule-Org-Id` is a bare 404
/// (the open group excepted), whether or not its path is a route.
pub async fn tenant_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(org) = state.config.org_id()
        && !super::OPEN_PATHS.contains(&req.uri().path())
        && req.headers().get(ORG_HEADER).map(HeaderValue::as_bytes) != Some(org.as_bytes())
    {
        return ApiError::BareNotFound.into_response();
    }
    next.run(req).await
}

/// Per-client token bucket; past the budget, 429 with `Retry-After` in whole seconds.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(ip) = client
        && let Err(wait) = state.rate_limiter.check(ip, Instant::now())
    {
        let retry_after_secs = wait.max(Duration::from_secs(1)).as_secs_f64().ceil() as u64;
        return ApiError::TooManyRequests { retry_after_secs }.into_response();
    }
    next.run(req).await
}

/// Counts each request by route template (never the raw path, which holds ids) and status.
pub async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().clone();
    let response = next.run(req).await;
    state
        .metrics
        .http_request(&route, method.as_str(), response.status().as_u16());
    response
}

/// Headers every API response carries unless a handler set them.
const API_HEADERS: [(HeaderName, &str); 5] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

/// The CSP a proxied canvas page gets when its upstream sends none: the Go server's.
pub const CANVAS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
    connect-src 'self' ws: wss:";

/// The API's security headers on the API's own responses only. A response proxied from the
/// canvas (marked [`super::canvas::Proxied`]) keeps its upstream's headers, with `CANVAS_CSP`
/// when the upstream sent no CSP.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let proxied = response
        .extensions()
        .get::<super::canvas::Proxied>()
        .is_some();
    let headers = response.headers_mut();
    if proxied {
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CANVAS_CSP),
            );
        }
        return response;
    }
    for (name, value) in API_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// CORS for the configured origins only; with none configured, no CORS headers are sent.
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(ORG_HEADER),
            ])
            .max_age(Duration::from_secs(600)),
    )
}
