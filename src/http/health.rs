//! Open routes: liveness, readiness, metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Alive {
    status: &'static str,
}

pub async fn health() -> Response {
    axum::Json(Alive { status: "ok" }).into_response()
}

/// 200 when the database (and each configured backend) answers, else 503 naming what failed.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.services.health.ready().await;
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(readiness)).into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

/// The OpenAPI 3.1 document of every route (`crate::openapi`).
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::json(),
    )
        .into_response()
}
