//! Cross-cutting middleware: request ids and spans, tenant guard, rate limiting, metrics,
//! security headers, CORS.

mod headers;

pub use self::headers::{CANVAS_CSP, cors, security_headers};

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{
    DefaultOnBodyChunk, DefaultOnEos, DefaultOnRequest, DefaultOnResponse, TraceLayer,
};
use tracing::Level;

use super::error::ApiError;
use crate::app::AppState;

/// The span of a request: its id, method and path (never the query, which may hold a ticket).
fn request_span(req: &Request) -> tracing::Span {
    let id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
}

type Traced = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&Request) -> tracing::Span,
    DefaultOnRequest,
    DefaultOnResponse,
    DefaultOnBodyChunk,
    DefaultOnEos,
    (),
>;
type RequestLayers = Stack<
    PropagateRequestIdLayer,
    Stack<Traced, Stack<SetRequestIdLayer<MakeRequestUuid>, Identity>>,
>;

/// Gives every request an `x-request-id` (a client's own is kept), a span carrying it for all
/// that the request logs, and the id on the response. Failures are logged by `ApiError`, once.
pub fn request_ids() -> ServiceBuilder<RequestLayers> {
    let trace = TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&Request) -> tracing::Span)
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
        .on_failure(());
    ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(trace)
        .layer(PropagateRequestIdLayer::x_request_id())
}

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
        && let Err(wait) = state.rate_limiter.check(ip)
    {
        let retry_after_secs = wait.max(Duration::from_secs(1)).as_secs_f64().ceil() as u64;
        return ApiError::TooManyRequests { retry_after_secs }.into_response();
    }
    next.run(req).await
}

/// Counts and times each request by route template (never the raw path, which holds ids).
pub async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let metrics = &state.metrics;
    metrics.http_request(&route, method.as_str(), status, started.elapsed());
    response
}
