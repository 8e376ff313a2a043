//! `GET /workspaces/{id}/terminal/sessions` and `DELETE …/sessions/{sid}` (SPEC §12).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::http::auth::WorkspaceCaller;
use crate::http::error::ApiError;

pub async fn list(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
) -> Response {
    axum::Json(state.services.terminal.list_sessions(&workspace).await).into_response()
}

pub async fn kill(
    State(state): State<AppState>,
    WorkspaceCaller { workspace, .. }: WorkspaceCaller,
    Path((_, sid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let killed = state
        .services
        .terminal
        .kill_session(&workspace, &sid)
        .await?;
    Ok(axum::Json(killed).into_response())
}
