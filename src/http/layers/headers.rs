//! Response headers: the API's security headers, the canvas's CSP, and CORS.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::ORG_HEADER;

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
/// canvas (marked [`crate::http::canvas::Proxied`]) keeps its upstream's headers, with `CANVAS_CSP`
/// when the upstream sent no CSP.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let proxied = response
        .extensions()
        .get::<crate::http::canvas::Proxied>()
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
