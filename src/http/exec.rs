//! `POST /workspaces/{id}/exec` (SPEC §5.4): streamed NDJSON, or one JSON object when asked.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use super::auth::{WorkspaceCaller, live};
use super::error::ApiError;
use super::extract::Json;
use crate::app::AppState;
use crate::audit;
use crate::auth::Caller;
use crate::backend::ExecSpec;
use crate::exec::{self, Argv, ArgvError, Event, Outcome, Summary};
use crate::store::NewActivity;
use crate::workspace::{Placement, Workspace};

/// Output lines buffered between the process and a slow client.
const LINE_QUEUE: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecBody {
    argv: Value,
    timeout_s: Option<f64>,
    stdin: Option<String>,
    env: Option<BTreeMap<String, String>>,
    cwd: Option<String>,
}

impl ExecBody {
    fn into_spec(self) -> Result<(ExecSpec, Option<i64>), ApiError> {
        let argv = Argv::parse(&self.argv).map_err(|e| match e {
            ArgvError::Invalid(msg) => ApiError::BadRequest(msg),
            ArgvError::TooLarge(msg) => ApiError::PayloadTooLarge(msg),
        })?;
        let env = self.env.unwrap_or_default();
        if let Some(bad) = env.keys().find(|k| k.is_empty() || k.contains(['=', '\0'])) {
            return Err(ApiError::bad_request(format!("invalid env name {bad:?}")));
        }
        if env.values().any(|v| v.contains('\0')) {
            return Err(ApiError::bad_request("env values must not contain NUL"));
        }
        if let Some(cwd) = &self.cwd
            && (cwd.is_empty() || cwd.contains('\0'))
        {
            return Err(ApiError::bad_request("cwd must be a non-empty path"));
        }
        let timeout = self.timeout_s.map(|t| t.ceil() as i64);
        let spec = ExecSpec {
            argv: argv.into_vec(),
            env: env.into_iter().collect(),
            cwd: self.cwd,
            stdin: self.stdin.map(String::into_bytes),
        };
        Ok((spec, timeout))
    }
}

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
    let (spec, timeout_s) = body.into_spec()?;
    let limit = exec::timeout(timeout_s);
    let started = async {
        if !exec::tier_may_exec(workspace.tier) {
            return Err(ApiError::Forbidden(format!(
                "exec is available on tier 3 and 4 workspaces; this one is tier {}",
                workspace.tier
            )));
        }
        live(&workspace)?;
        let backend = state.backends.for_placement(&Placement::of(&workspace))?;
        Ok(backend.exec(&workspace, &spec).await?)
    };
    let process = match started.await {
        Ok(process) => process,
        Err(e) => {
            // Refusals by the tier gate or a stopped workspace are audited too.
            if matches!(e.status(), StatusCode::FORBIDDEN | StatusCode::CONFLICT) {
                audit::record(&*state.store, refusal_row(&caller, &workspace, &spec, &e)).await;
            }
            return Err(e);
        }
    };

    let (lines, receiver) = mpsc::channel::<Event>(LINE_QUEUE);
    let (done, summary) = oneshot::channel::<Summary>();
    // The run owns the process and the audit row, so both finish even if the client leaves. The
    // row is written before the final line goes out (a client that reads its activity next finds
    // it), unless the database is down: then the final line goes out and the row follows.
    let stop = state.shutdown.child_token();
    tokio::spawn(async move {
        let outcome = exec::run(process, limit, lines, stop).await;
        state.metrics.exec_run(outcome.label());
        audit::record_or_defer(
            state.store.clone(),
            audit_row(&caller, &workspace, &spec, limit.as_secs(), &outcome),
        )
        .await;
        let _ = done.send(outcome.summary);
    });

    if wants_buffered(&headers) {
        return Ok(buffered(receiver, summary).await);
    }
    let events = ReceiverStream::new(receiver).map(|event| ndjson_line(&event));
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

/// Collects the whole run into one JSON object; 504 when it timed out.
async fn buffered(
    mut receiver: mpsc::Receiver<Event>,
    summary: oneshot::Receiver<Summary>,
) -> Response {
    let (mut stdout, mut stderr) = (String::new(), String::new());
    while let Some(event) = receiver.recv().await {
        if let Event::Data { stream, data } = event {
            match stream {
                "stdout" => stdout.push_str(&data),
                _ => stderr.push_str(&data),
            }
        }
    }
    let Ok(summary) = summary.await else {
        return ApiError::Internal(anyhow::anyhow!("exec run ended without a summary"))
            .into_response();
    };
    let status = if summary.timed_out {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::OK
    };
    let mut body = serde_json::to_value(&summary).unwrap_or_default();
    body["stdout"] = json!(stdout);
    body["stderr"] = json!(stderr);
    (status, axum::Json(body)).into_response()
}

/// The audit row of an exec refused before it started: who asked for what, and why.
fn refusal_row(
    caller: &Caller,
    ws: &Workspace,
    spec: &ExecSpec,
    refusal: &ApiError,
) -> NewActivity {
    NewActivity {
        workspace_id: ws.id,
        activity_type: "exec".into(),
        actor: caller.actor(),
        method: "POST".into(),
        summary: format!("exec {} refused", spec.argv[0]),
        request_body: Some(json!({ "argv": spec.argv, "http_status": refusal.status().as_u16() })),
        duration_ms: None,
        status: "refused".into(),
        error_detail: Some(refusal.to_string()),
        created_at: Utc::now(),
    }
}

/// The audit row: who ran what and how it ended; never output, stdin or env values.
fn audit_row(
    caller: &Caller,
    ws: &Workspace,
    spec: &ExecSpec,
    timeout_s: u64,
    outcome: &Outcome,
) -> NewActivity {
    let s = &outcome.summary;
    NewActivity {
        workspace_id: ws.id,
        activity_type: "exec".into(),
        actor: caller.actor(),
        method: "POST".into(),
        summary: format!("exec {}", spec.argv[0]),
        request_body: Some(json!({
            "argv": spec.argv,
            "cwd": spec.cwd,
            "env_keys": spec.env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            "stdin_bytes": spec.stdin.as_ref().map_or(0, Vec::len),
            "timeout_s": timeout_s,
            "exit_code": s.exit_code,
            "timed_out": s.timed_out,
            "stdout_bytes": s.stdout_bytes,
            "stderr_bytes": s.stderr_bytes,
        })),
        duration_ms: Some(s.duration_ms as i64),
        status: outcome.label().into(),
        error_detail: match outcome {
            o if o.error.is_some() => Some("backend failure".to_owned()),
            o if o.interrupted => Some("server shutting down".to_owned()),
            _ => None,
        },
        created_at: Utc::now() - chrono::Duration::milliseconds(s.duration_ms as i64),
    }
}
