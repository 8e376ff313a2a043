//! The routes one replica asks of another (SPEC §16), under `/internal/replica/`: a resume's
//! socket, the sessions held here, a run's output and its signals. The asking replica has already
//! authenticated and authorised the client; these routes admit only the replicas' shared secret
//! (`X-Replica-Token`), and are not part of the public API.

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{Json, Query};
use crate::app::AppState;
use crate::backend::RunSignal;
use crate::services::replicas::peer::REPLICA_TOKEN_HEADER;
use crate::terminal::session::Mode;
use crate::workspace::WorkspaceId;

/// The internal routes, with the methods each answers.
pub const REPLICA_ROUTES: [(&str, &str); 4] = [
    ("/internal/replica/workspaces/{id}/terminal/{sid}", "GET"),
    ("/internal/replica/workspaces/{id}/sessions", "GET"),
    (
        "/internal/replica/workspaces/{id}/exec/{exec_id}/output",
        "GET",
    ),
    (
        "/internal/replica/workspaces/{id}/exec/{exec_id}/signal",
        "POST",
    ),
];

pub fn routes(state: AppState) -> Router<AppState> {
    let [terminal, sessions, output, signal] = REPLICA_ROUTES.map(|(path, _)| path);
    Router::new()
        .route(terminal, get(resume))
        .route(sessions, get(list))
        .route(output, get(exec_output))
        .route(signal, post(exec_signal))
        .route_layer(from_fn_with_state(state, admit))
}

/// Admits only requests that carry the replicas' shared secret.
async fn admit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req.headers().get(REPLICA_TOKEN_HEADER);
    let presented = presented.and_then(|v| v.to_str().ok());
    if !state.services.replicas.peer.admits(presented) {
        return ApiError::Unauthorized("replica token required").into_response();
    }
    next.run(req).await
}

fn workspace(raw: &str) -> Result<WorkspaceId, ApiError> {
    WorkspaceId::parse(raw).map_err(|_| ApiError::bad_request("invalid workspace id"))
}

fn run_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::bad_request("invalid exec id"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeQuery {
    offset: Option<u64>,
    view: bool,
}

async fn resume(
    State(state): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
    Query(q): Query<ResumeQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let mode = if q.view { Mode::View } else { Mode::Write };
    let terminals = &state.services.terminal;
    let attaching = terminals.resume_here(workspace(&id)?, &sid, q.offset, mode)?;
    // The asking replica closes its client's socket if the client's token is revoked.
    Ok(upgrade.on_upgrade(move |socket| super::terminal::attach(attaching, socket, None)))
}

async fn list(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let here = state.services.terminal.list_here(workspace(&id)?);
    Ok(axum::Json(here).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputQuery {
    since: u64,
    follow: u8,
    offsets: u8,
}

async fn exec_output(
    State(state): State<AppState>,
    Path((id, exec_id)): Path<(String, String)>,
    Query(q): Query<OutputQuery>,
) -> Result<Response, ApiError> {
    let runs = &state.services.exec.runs;
    let (ws, exec_id) = (workspace(&id)?, run_id(&exec_id)?);
    let how = (q.follow == 1, q.offsets == 1);
    let lines = runs.output_here(ws, exec_id, q.since, how).await?;
    Ok(super::exec::ndjson(lines, ()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalBody {
    signal: RunSignal,
}

async fn exec_signal(
    State(state): State<AppState>,
    Path((id, exec_id)): Path<(String, String)>,
    Json(body): Json<SignalBody>,
) -> Result<Response, ApiError> {
    let (ws, exec_id) = (workspace(&id)?, run_id(&exec_id)?);
    let exec = &state.services.exec;
    exec.signal_here(ws, exec_id, body.signal).await?;
    Ok(
        axum::Json(serde_json::json!({ "exec_id": exec_id, "signal": body.signal }))
            .into_response(),
    )
}
