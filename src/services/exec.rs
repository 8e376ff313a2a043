//! The exec use case (SPEC §5.4, §14): the request checked, the tier gate, the run started on the
//! workspace's backend and owned by a task of its own (so it finishes, and is audited, even when
//! the client leaves). Its record stream goes to its log (`exec/log.rs`); the client that
//! started it is one reader of the log, and `GET …/exec/{exec_id}/output` is another.

mod runs;

pub use self::runs::{RunView, Runs};

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use super::{Ports, ServiceError, live};
use crate::audit::{self, Kind};
use crate::auth::Caller;
use crate::backend::{ExecProcess, ExecSpec};
use crate::exec::log::Writer;
use crate::exec::{self, Argv, ArgvError, Event, Outcome, Summary};
use crate::metrics::Metrics;
use crate::store::{ExecRun, NewActivity, RunState, Store};
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

/// Lines of a run's record stream, as they are read from its log.
pub type Lines = mpsc::Receiver<io::Result<Bytes>>;

/// A started run: its id, and its record stream as `POST /exec` sends it.
pub struct Started {
    pub exec_id: Uuid,
    pub lines: Lines,
    /// Held by the client that started the run: dropping it (the client left) kills the run.
    pub held: DropGuard,
}

/// The final record of a run: §5.4's summary, with the run's id.
#[derive(Serialize)]
struct Final<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    exec_id: Uuid,
    /// Only when the server's shutdown killed the run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    interrupted: bool,
}

/// A whole run in one answer: the final record's fields, and both streams whole.
#[derive(Debug, Serialize)]
pub struct Collected {
    #[serde(flatten)]
    pub record: Map<String, Value>,
    pub stdout: String,
    pub stderr: String,
}

impl Collected {
    pub fn timed_out(&self) -> bool {
        self.record.get("timed_out") == Some(&Value::Bool(true))
    }
}

impl Started {
    /// Waits for the end of the run and gathers its output.
    pub async fn collect(mut self) -> Result<Collected, ServiceError> {
        let (mut stdout, mut stderr) = (String::new(), String::new());
        let mut record = None;
        while let Some(line) = self.lines.recv().await {
            let line = line.map_err(|e| ServiceError::Internal(e.into()))?;
            let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            match (object.remove("stream"), object.remove("data")) {
                (Some(Value::String(stream)), Some(Value::String(data))) => match stream.as_str() {
                    "stdout" => stdout.push_str(&data),
                    _ => stderr.push_str(&data),
                },
                (None, _) => record = Some(object),
                _ => {}
            }
        }
        let record = record.ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("exec run ended without a final record"))
        })?;
        drop(self.held);
        Ok(Collected {
            record,
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
    pub runs: Runs,
}

impl Execs {
    pub fn new(
        ports: Ports,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        runs: Runs,
    ) -> Self {
        Self {
            ports,
            metrics,
            shutdown,
            runs,
        }
    }

    /// Starts `body` in `ws`. A refusal by the tier gate or of a removed or stopped workspace
    /// is audited too.
    pub async fn start(
        &self,
        caller: Caller,
        ws: Workspace,
        body: ExecBody,
    ) -> Result<Started, ServiceError> {
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
        let (exec_id, process, writer, lines) = self.record(&ws, &spec, process).await?;
        let left = CancellationToken::new();
        let job = Job {
            exec_id,
            caller,
            ws,
            spec,
            limit,
            store: self.ports.store.clone(),
            metrics: self.metrics.clone(),
        };
        let stop = self.shutdown.child_token();
        tokio::spawn(job.drive(process, writer, stop, left.clone()));
        Ok(Started {
            exec_id,
            lines,
            held: left.drop_guard(),
        })
    }

    /// Gives a started process its record, its log and the log's first reader; on a failure
    /// the process is killed.
    async fn record(
        &self,
        ws: &Workspace,
        spec: &ExecSpec,
        mut process: Box<dyn ExecProcess>,
    ) -> Result<(Uuid, Box<dyn ExecProcess>, Writer, Lines), ServiceError> {
        if let Err(e) = self.runs.purge().await {
            tracing::warn!(error = %e, "forgetting expired exec runs");
        }
        let exec_id = Uuid::new_v4();
        let run = ExecRun {
            exec_id,
            workspace_id: ws.id,
            argv: spec.argv.clone(),
            state: RunState::Running,
            started_at_ms: runs::now_ms(),
            ended_at_ms: None,
            final_record: None,
            idempotency_key: None,
        };
        let kept = async {
            self.ports.store.insert_exec_run(&run).await?;
            let writer = self.runs.logs.create(exec_id).await;
            let writer = writer.map_err(|e| ServiceError::Internal(e.into()))?;
            let lines = self.runs.logs.read(exec_id, 0, true, false).await;
            let lines = lines.ok_or_else(|| anyhow::anyhow!("exec run log missing"));
            Ok::<_, ServiceError>((writer, lines.map_err(ServiceError::Internal)?))
        };
        match kept.await {
            Ok((writer, lines)) => Ok((exec_id, process, writer, lines)),
            Err(e) => {
                process.kill().await;
                Err(e)
            }
        }
    }
}

/// A run being driven to its end.
struct Job {
    exec_id: Uuid,
    caller: Caller,
    ws: Workspace,
    spec: ExecSpec,
    limit: std::time::Duration,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl Job {
    /// Runs the process, its output into the log, until it ends, its timeout, the server's
    /// shutdown (`stop`) or its client leaving (`left`); then the audit row, the record, and last
    /// the final line, so a client that has read it finds both.
    async fn drive(
        self,
        process: Box<dyn ExecProcess>,
        mut writer: Writer,
        stop: CancellationToken,
        left: CancellationToken,
    ) {
        let (events, mut received) = mpsc::channel::<Event>(LINE_QUEUE);
        let log = &mut writer;
        let pump = async move {
            loop {
                tokio::select! {
                    event = received.recv() => match event {
                        Some(event) => {
                            let line = serde_json::to_vec(&event).unwrap_or_default();
                            if let Err(e) = log.append(&line).await {
                                tracing::warn!(error = %e, "writing an exec run's output");
                            }
                        }
                        None => break,
                    },
                    // The run sees its output closed: as a departed client, it is killed.
                    () = left.cancelled() => break,
                }
            }
        };
        let (outcome, ()) = tokio::join!(exec::run(process, self.limit, events, stop), pump);
        self.metrics.exec_run(outcome.label());
        let last = Final {
            summary: &outcome.summary,
            exec_id: self.exec_id,
            interrupted: outcome.interrupted,
        };
        let record = serde_json::to_value(&last).unwrap_or_default();
        let row = audit_row(&self, &outcome);
        audit::record_or_defer(self.store.clone(), row).await;
        let state = match outcome.interrupted {
            true => RunState::Interrupted,
            false => RunState::Exited,
        };
        let finished = self
            .store
            .finish_exec_run(self.exec_id, state, runs::now_ms(), &record);
        if let Err(e) = finished.await {
            tracing::warn!(exec_id = %self.exec_id, error = %e, "recording an exec run's end");
        }
        let line = serde_json::to_vec(&last).unwrap_or_default();
        if let Err(e) = writer.finish(&line).await {
            tracing::warn!(exec_id = %self.exec_id, error = %e, "writing an exec run's final record");
        }
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
fn audit_row(job: &Job, outcome: &Outcome) -> NewActivity {
    let (spec, s) = (&job.spec, &outcome.summary);
    let error = match outcome {
        o if o.error.is_some() => Some("backend failure".to_owned()),
        o if o.interrupted => Some("server shutting down".to_owned()),
        _ => None,
    };
    audit::row(
        job.ws.id,
        Kind::Exec,
        &job.caller,
        "POST",
        format!("exec {}", spec.argv[0]),
    )
    .with_details(json!({
        "exec_id": job.exec_id,
        "argv": spec.argv,
        "cwd": spec.cwd,
        "env_keys": spec.env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "stdin_bytes": spec.stdin.as_ref().map_or(0, Vec::len),
        "timeout_s": job.limit.as_secs(),
        "exit_code": s.exit_code,
        "timed_out": s.timed_out,
        "stdout_bytes": s.stdout_bytes,
        "stderr_bytes": s.stderr_bytes,
    }))
    .with_duration(std::time::Duration::from_millis(s.duration_ms))
    .with_outcome(outcome.label(), error)
}
