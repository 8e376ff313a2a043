//! `POST /workspaces/{id}/exec` (SPEC §5.4): streamed NDJSON, or one JSON object when asked.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::auth::WorkspaceCaller;
use super::error::ApiError;
use super::extract::Json;
use crate::app::AppState;
use crate::services::exec::{ExecBody, Run};

fn wants_buffered(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("ndjson"))
}

pub async fn exec(
    State(state): State<AppState>,
    WorkspaceCaller { caller, workspace }: WorkspaceCaller,
    headers: HeaderMap,
    Json(body): Json<ExecBody>,
) -> Result<Response, ApiError> {
    let run = state.services.exec.start(caller, workspace, body).await?;
    if wants_buffered(&headers) {
        return buffered(run).await;
    }
    let Run { events, summary } = run;
    let events = ReceiverStream::new(events).map(|event| ndjson_line(&event));
    let last = futures_util::stream::once(async move {
        summary
            .await
            .map(|s| ndjson_line(&s))
            .map_err(|_| std::io::Error::other("exec run ended without a summary"))
    });
    let body = Body::from_stream(events.map(Ok::<_, std::io::Error>).chain(last));
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

fn ndjson_line<T: serde::Serialize>(value: &T) -> bytes::Bytes {
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    line.into()
}

/// The whole run as one JSON object; 504 when it timed out.
async fn buffered(run: Run) -> Result<Response, ApiError> {
    let collected = run.collect().await?;
    let status = if collected.summary.timed_out {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(collected)).into_response())
}
