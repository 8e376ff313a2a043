//! Open routes: liveness, readiness and metrics.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::app::AppState;

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn health() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// 200 when the database (and each configured backend) answers, else 503 naming what failed.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut checks = Map::new();
    let mut failed = Vec::new();
    let db_ok = matches!(
        tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()).await,
        Ok(Ok(()))
    );
    record(&mut checks, &mut failed, "database", db_ok);
    // The database, and Docker where configured (the EIC path has no engine to ask).
    if let Some(backend) = &state.backends.local {
        let ok = matches!(
            tokio::time::timeout(PROBE_TIMEOUT, backend.ping()).await,
            Ok(Ok(()))
        );
        record(&mut checks, &mut failed, backend.name(), ok);
    }
    // The EC2 path's start-up checks (binaries, the aws CLI's version); they fail readiness only
    // on an EC2-only tenant, where the EC2 path is all there is.
    if let Some(remote) = &state.backends.remote {
        let problem = remote.readiness_problem();
        checks.insert("eic".into(), json!(problem.unwrap_or("ok")));
        if problem.is_some() && state.backends.local.is_none() {
            failed.push("eic");
        }
    }
    if failed.is_empty() {
        axum::Json(json!({ "status": "ready", "checks": checks })).into_response()
    } else {
        let body =
            json!({ "error": format!("not ready: {}", failed.join(", ")), "checks": checks });
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

fn record(
    checks: &mut Map<String, Value>,
    failed: &mut Vec<&'static str>,
    name: &'static str,
    ok: bool,
) {
    checks.insert(name.into(), json!(if ok { "ok" } else { "unavailable" }));
    if !ok {
        failed.push(name);
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
