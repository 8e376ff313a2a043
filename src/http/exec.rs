//! `POST /workspaces/{id}/exec` (SPEC §5.4): streamed NDJSON, or one JSON object when asked; and
//! the run as a resource (SPEC §14): its record, and its output from any offset.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio_stream::wrappers::ReceiverStream;

use super::auth::WorkspaceCaller;
use super::error::ApiError;
use super::extract::{Json, PathUuid, Query};
use crate::app::AppState;
use crate::backend::RunSignal;
use crate::services::exec::{ExecBody, Lines, idempotency_key};

/// The header that names a run.
const EXEC_ID: HeaderName = HeaderName::from_static("x-exec-id");
/// The header that makes a retry attach to the first run instead of starting another.
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

fn wants_buffered(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("ndjson"))
}

/// An NDJSON body of `lines`, holding `keep` for as long as the body lives.
pub(super) fn ndjson<K: Send + 'static>(lines: Lines, keep: K) -> Response {
    let stream = ReceiverStream::new(lines).map(move |line| {
        let _held = &keep;
        line
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

pub async fn exec(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    headers: HeaderMap,
    Json(body): Json<ExecBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(headers.get(IDEMPOTENCY_KEY).map(HeaderValue::as_bytes))?;
    let started = state
        .services
        .exec
        .start(caller, workspace, body, key)
        .await?;
    let exec_id = HeaderValue::from_str(&started.exec_id.to_string())
        .map_err(|e| ApiError::Internal(e.into()))?;
    let mut response = if started.detached {
        let body = serde_json::json!({ "exec_id": started.exec_id });
        (StatusCode::ACCEPTED, axum::Json(body)).into_response()
    } else if wants_buffered(&headers) {
        let collected = started.collect().await?;
        let status = match collected.timed_out() {
            true => StatusCode::GATEWAY_TIMEOUT,
            false => StatusCode::OK,
        };
        (status, axum::Json(collected)).into_response()
    } else {
        // The client that started the run holds it: if it leaves, the run is killed.
        ndjson(started.lines, started.held)
    };
    response.headers_mut().insert(EXEC_ID, exec_id);
    Ok(response)
}

/// `GET /workspaces/{id}/exec/{exec_id}`.
pub async fn run(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
    PathUuid(exec_id): PathUuid,
) -> Result<Response, ApiError> {
    let view = state.services.exec.runs.view(workspace.id, exec_id).await?;
    Ok(axum::Json(view).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputQuery {
    since: Option<u64>,
    follow: Option<String>,
}

/// `GET /workspaces/{id}/exec/{exec_id}/output?since=N&follow=1`.
pub async fn output(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
    PathUuid(exec_id): PathUuid,
    Query(q): Query<OutputQuery>,
) -> Result<Response, ApiError> {
    let follow = match q.follow.as_deref() {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(_) => return Err(ApiError::bad_request("follow must be 1 or 0")),
    };
    let runs = &state.services.exec.runs;
    let lines = runs
        .output(workspace.id, exec_id, q.since.unwrap_or(0), follow)
        .await?;
    Ok(ndjson(lines, ()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalBody {
    signal: RunSignal,
}

/// `POST /workspaces/{id}/exec/{exec_id}/signal` `{"signal":"INT"|"TERM"|"KILL"|"HUP"}`.
pub async fn signal(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
    PathUuid(exec_id): PathUuid,
    Json(body): Json<SignalBody>,
) -> Result<Response, ApiError> {
    let exec = &state.services.exec;
    exec.signal(workspace.id, exec_id, body.signal).await?;
    let answer = serde_json::json!({ "exec_id": exec_id, "signal": body.signal });
    Ok(axum::Json(answer).into_response())
}
