//! The exec use case (SPEC §5.4): the request checked, the tier gate, the run started on the
//! workspace's backend and owned by a task of its own (so it finishes, and is audited, even when
//! the client leaves), and its output handed out as events and one final summary.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{Ports, ServiceError, live};
use crate::audit::{self, Kind};
use crate::auth::Caller;
use crate::backend::ExecSpec;
use crate::exec::{self, Argv, ArgvError, Event, Outcome, Summary};
use crate::metrics::Metrics;
use crate::store::NewActivity;
use crate::workspace::Workspace;

/// Output lines buffered between the process and a slow client.
const LINE_QUEUE: usize = 64;

/// The body of `POST /workspaces/{id}/exec`.
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
    /// The command to run and the timeout asked for, checked.
    fn into_spec(self) -> Result<(ExecSpec, Option<i64>), ServiceError> {
        let argv = Argv::parse(&self.argv).map_err(|e| match e {
            ArgvError::Invalid(msg) => ServiceError::Invalid(msg),
            ArgvError::TooLarge(msg) => ServiceError::TooLarge(msg),
        })?;
        let env = self.env.unwrap_or_default();
        if let Some(bad) = env.keys().find(|k| k.is_empty() || k.contains(['=', '\0'])) {
            return Err(ServiceError::invalid(format!("invalid env name {bad:?}")));
        }
        if env.values().any(|v| v.contains('\0')) {
            return Err(ServiceError::invalid("env values must not contain NUL"));
        }
        if let Some(cwd) = &self.cwd
            && (cwd.is_empty() || cwd.contains('\0'))
        {
            return Err(ServiceError::invalid("cwd must be a non-empty path"));
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

/// A started run: its output events as they come, then its summary.
pub struct Run {
    pub events: mpsc::Receiver<Event>,
    pub summary: oneshot::Receiver<Summary>,
}

/// A whole run in one answer.
#[derive(Debug, Serialize)]
pub struct Collected {
    #[serde(flatten)]
    pub summary: Summary,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Waits for the end of the run and gathers its output.
    pub async fn collect(mut self) -> Result<Collected, ServiceError> {
        let (mut stdout, mut stderr) = (String::new(), String::new());
        while let Some(event) = self.events.recv().await {
            if let Event::Data { stream, data } = event {
                match stream {
                    "stdout" => stdout.push_str(&data),
                    _ => stderr.push_str(&data),
                }
            }
        }
        let summary = self.summary.await.map_err(|_| {
            ServiceError::Internal(anyhow::anyhow!("exec run ended without a summary"))
        })?;
        Ok(Collected {
            summary,
            stdout,
            stderr,
        })
    }
}

pub struct Execs {
    ports: Ports,
    metrics: Arc<Metrics>,
    /// Cancelled when the server shuts down: runs are killed and audited.
    shutdown: CancellationToken,
}

impl Execs {
    pub fn new(ports: Ports, metrics: Arc<Metrics>, shutdown: CancellationToken) -> Self {
        Self {
            ports,
            metrics,
            shutdown,
        }
    }

    /// Starts `body` in `ws`. A refusal by the tier gate or of a removed or stopped workspace
    /// is audited too.
    pub async fn start(
        &self,
        caller: Caller,
        ws: Workspace,
        body: ExecBody,
    ) -> Result<Run, ServiceError> {
        let (spec, timeout_s) = body.into_spec()?;
        let limit = exec::timeout(timeout_s);
        let started = async {
            if !exec::tier_may_exec(ws.tier) {
                return Err(ServiceError::Forbidden(format!(
                    "exec is available on tier 3 and 4 workspaces; this one is tier {}",
                    ws.tier
                )));
            }
            live(&ws)?;
            let b = self.ports.backends.for_workspace(&ws)?;
            Ok(b.backend.exec(&b.target, &spec).await?)
        };
        let process = match started.await {
            Ok(process) => process,
            Err(e) => {
                if let Some(http_status) = refusal_status(&e) {
                    let row = refusal_row(&caller, &ws, &spec, &e, http_status);
                    audit::record(&*self.ports.store, row).await;
                }
                return Err(e);
            }
        };
        let (events, receiver) = mpsc::channel::<Event>(LINE_QUEUE);
        let (done, summary) = oneshot::channel::<Summary>();
        // The row is written before the summary goes out (a client that reads its activity next
        // finds it), unless the database is down: then the summary goes out and the row follows.
        let (store, metrics) = (self.ports.store.clone(), self.metrics.clone());
        let stop = self.shutdown.child_token();
        tokio::spawn(async move {
            let outcome = exec::run(process, limit, events, stop).await;
            metrics.exec_run(outcome.label());
            let row = audit_row(&caller, &ws, &spec, limit.as_secs(), &outcome);
            audit::record_or_defer(store, row).await;
            let _ = done.send(outcome.summary);
        });
        Ok(Run {
            events: receiver,
            summary,
        })
    }
}

/// The status a refusal worth auditing is answered with (the tier gate, a removed or stopped
/// workspace); `None` for other failures.
fn refusal_status(e: &ServiceError) -> Option<u16> {
    match e {
        ServiceError::Forbidden(_) => Some(403),
        ServiceError::Conflict(_) => Some(409),
        _ => None,
    }
}

/// The audit row of an exec refused before it started: who asked for what, and why.
fn refusal_row(
    caller: &Caller,
    ws: &Workspace,
    spec: &ExecSpec,
    refusal: &ServiceError,
    http_status: u16,
) -> NewActivity {
    let summary = format!("exec {} refused", spec.argv[0]);
    audit::row(ws.id, Kind::Exec, caller, "POST", summary)
        .with_details(json!({ "argv": spec.argv, "http_status": http_status }))
        .with_outcome("refused", Some(refusal.to_string()))
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
    let error = match outcome {
        o if o.error.is_some() => Some("backend failure".to_owned()),
        o if o.interrupted => Some("server shutting down".to_owned()),
        _ => None,
    };
    audit::row(
        ws.id,
        Kind::Exec,
        caller,
        "POST",
        format!("exec {}", spec.argv[0]),
    )
    .with_details(json!({
        "argv": spec.argv,
        "cwd": spec.cwd,
        "env_keys": spec.env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "stdin_bytes": spec.stdin.as_ref().map_or(0, Vec::len),
        "timeout_s": timeout_s,
        "exit_code": s.exit_code,
        "timed_out": s.timed_out,
        "stdout_bytes": s.stdout_bytes,
        "stderr_bytes": s.stderr_bytes,
    }))
    .with_duration(std::time::Duration::from_millis(s.duration_ms))
    .with_outcome(outcome.label(), error)
}
