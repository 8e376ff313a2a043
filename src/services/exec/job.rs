//! A run driven to its end: its output into its log, then the audit row, the record and the
//! final line.

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::live::Registered;
use super::runs;
use crate::audit::{self, Kind};
use crate::auth::Caller;
use crate::backend::{ExecProcess, ExecSpec, RunSignal};
use crate::exec::log::Writer;
use crate::exec::{self, Controls, Event, Outcome, Summary};
use crate::metrics::Metrics;
use crate::store::{NewActivity, RunState, Store};
use crate::workspace::Workspace;

/// Output lines buffered between the process and the log.
const LINE_QUEUE: usize = 64;

/// The final record of a run: §5.4's summary, with the run's id.
#[derive(Serialize)]
pub struct Final<'a> {
    #[serde(flatten)]
    pub summary: &'a Summary,
    pub exec_id: Uuid,
    /// Only when the server's shutdown killed the run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// The last signal `POST …/signal` sent it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<RunSignal>,
}

/// A run being driven to its end.
pub struct Job {
    pub exec_id: Uuid,
    pub caller: Caller,
    pub ws: Workspace,
    pub spec: ExecSpec,
    pub limit: std::time::Duration,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    /// Its entry among the live runs, held until the job is done.
    pub _registered: Registered,
}

impl Job {
    /// Runs the process, its output into the log, until it ends, its timeout, the server's
    /// shutdown or a `KILL` (`controls`) or its client leaving (`left`); then the audit row, the
    /// record, and last the final line, so a client that has read it finds both.
    pub async fn drive(
        self,
        process: Box<dyn ExecProcess>,
        mut writer: Writer,
        controls: Controls,
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
        let (outcome, ()) = tokio::join!(exec::run(process, self.limit, events, controls), pump);
        let took = std::time::Duration::from_millis(outcome.summary.duration_ms);
        self.metrics.exec_run(outcome.label(), took);
        let last = Final {
            summary: &outcome.summary,
            exec_id: self.exec_id,
            interrupted: outcome.interrupted,
            signal: outcome.signal,
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
        "signal": outcome.signal,
    }))
    .with_duration(std::time::Duration::from_millis(s.duration_ms))
    .with_outcome(outcome.label(), error)
}
