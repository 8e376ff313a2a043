//! `GET /console` (SPEC §13): the web console, a page and its assets embedded in the binary
//! (xterm.js and its fit addon vendored under `assets/console/vendor`, with their licences). The
//! page holds no data, so it needs no token; it asks for one and calls the API with it.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Only this origin, for scripts, sockets and fetches. xterm.js's renderer writes `<style>`
/// elements, hence the inline styles; no inline or foreign script runs.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; font-src 'self'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const PAGE: &str = include_str!("../../assets/console/index.html");

/// The assets by name: content type and bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/console/console.css"),
    ),
    (
        "xterm.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console/vendor/xterm.js"),
    ),
    (
        "xterm.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/console/vendor/xterm.css"),
    ),
    (
        "addon-fit.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console/vendor/addon-fit.js"),
    ),
    (
        "LICENSE.xterm",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/console/vendor/LICENSE.xterm"),
    ),
    (
        "LICENSE.addon-fit",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/console/vendor/LICENSE.addon-fit"),
    ),
];

fn with_csp(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    response
}

/// `GET /console` and `GET /console/workspaces/{id}`: the page (it reads the path itself).
pub async fn page() -> Response {
    with_csp("text/html; charset=utf-8", PAGE.as_bytes())
}

/// `GET /console/assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or(ApiError::NotFound("no such console asset".into()))?;
    Ok(with_csp(content_type, body))
}
