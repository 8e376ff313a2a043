//! The exec use case (SPEC §5.4, §14): the request checked, the tier gate, the run started on the
//! workspace's backend and owned by a task of its own (so it finishes, and is audited, even when
//! the client leaves). Its record stream goes to its log (`exec/log.rs`); the client that
//! started it is one reader of the log, and `GET …/exec/{exec_id}/output` is another. With an
//! `Idempotency-Key`, the run's record is claimed in the database before anything starts, so a
//! second request with that key attaches to the first run instead of starting one.

pub(crate) mod body;
mod elsewhere;
mod job;
mod live;
pub(crate) mod runs;

pub use self::body::{ExecBody, idempotency_key};
pub use self::runs::{RunView, Runs};

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use self::body::Request;
use self::job::Job;
use self::live::Live;
use super::{Ports, ServiceError, live};
use crate::audit::{self, Kind};
use crate::auth::Caller;
use crate::backend::{ExecSpec, RunSignal};
use crate::exec::log::Writer;
use crate::exec::{self, Controls};
use crate::metrics::Metrics;
use crate::store::{ExecRun, NewActivity, RunState};
use crate::workspace::{Workspace, WorkspaceId};

/// Lines of a run's record stream, as they are read from its log.
pub type Lines = mpsc::Receiver<io::Result<Bytes>>;

/// A started run (or, for a repeated `Idempotency-Key`, the first one): its id, and its record
/// stream from the start as `POST /exec` sends it.
pub struct Started {
    pub exec_id: Uuid,
    pub lines: Lines,
    /// Held by the client that started the run: dropping it (the client left) kills the run.
    /// None for a detached run or one with an `Idempotency-Key`: it outlives its client.
    pub held: Option<DropGuard>,
    /// Answer 202 at once.
    pub detached: bool,
}

/// A whole run in one answer: the final record's fields, and both streams whole.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
    /// The longest timeout of a detached run.
    detached_max: Duration,
    /// The runs this server is driving, for their signals.
    live: Arc<Live>,
}

impl Execs {
    pub fn new(
        ports: Ports,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        runs: Runs,
        detached_max: Duration,
    ) -> Self {
        Self {
            ports,
            metrics,
            shutdown,
            runs,
            detached_max,
            live: Arc::default(),
        }
    }

    /// Starts `body` in `ws`, or, when `key` names a run of `ws` still kept, attaches to that one.
    /// A refusal by the tier gate or of a removed or stopped workspace is audited too.
    pub async fn start(
        &self,
        caller: Caller,
        ws: Workspace,
        body: ExecBody,
        key: Option<String>,
    ) -> Result<Started, ServiceError> {
        let Request {
            spec,
            limit,
            detach,
        } = body.into_request(self.detached_max)?;
        let admitted = async {
            if !exec::tier_may_exec(ws.tier) {
                return Err(ServiceError::Forbidden(format!(
                    "exec is available on tier 3 and 4 workspaces; this one is tier {}",
                    ws.tier
                )));
            }
            live(&ws)?;
            Ok(self.ports.backends.for_workspace(&ws)?)
        };
        let backend = match admitted.await {
            Ok(backend) => backend,
            Err(e) => return Err(self.refused(&caller, &ws, &spec, e).await),
        };
        let keep = detach || key.is_some();
        let (exec_id, writer, lines) = match self.claim(&ws, &spec, key).await? {
            Claim::New(exec_id, writer, lines) => (exec_id, writer, lines),
            Claim::Taken(first) => return self.attach(first, detach).await,
        };
        let process = match backend.backend.exec(&backend.target, &spec).await {
            Ok(process) => process,
            Err(e) => {
                // Nothing ran: the claim goes, so a retry with the same key can start it.
                let e = ServiceError::from(e);
                // Whoever attached meanwhile reads that it never ran; the reason is the answer's.
                let error = "the run could not start";
                let last = json!({ "exec_id": exec_id, "exit_code": null, "error": error });
                let _ = writer.finish(last.to_string().as_bytes()).await;
                let _ = self.ports.store.remove_exec_run(exec_id).await;
                self.runs.logs.remove(exec_id).await;
                return Err(self.refused(&caller, &ws, &spec, e).await);
            }
        };
        let left = CancellationToken::new();
        let (signals, registered) = self.live.register(exec_id);
        let job = Job {
            exec_id,
            caller,
            ws,
            spec,
            limit,
            store: self.ports.store.clone(),
            metrics: self.metrics.clone(),
            _registered: registered,
        };
        let controls = Controls {
            stop: self.shutdown.child_token(),
            signals,
        };
        tokio::spawn(job.drive(process, writer, controls, left.clone()));
        Ok(Started {
            exec_id,
            lines,
            held: (!keep).then(|| left.drop_guard()),
            detached: detach,
        })
    }

    /// Sends `signal` to the whole tree of a running run of `ws`, and returns once it was sent;
    /// through the replica driving it, when another one does (SPEC §16). A run that has ended
    /// is a conflict; one unknown, of another workspace or expired, 404.
    pub async fn signal(
        &self,
        ws: WorkspaceId,
        exec_id: Uuid,
        signal: RunSignal,
    ) -> Result<(), ServiceError> {
        let run = self.runs.kept(ws, exec_id).await?;
        if let Some(url) = self.runs.driven_elsewhere(&run).await? {
            let peer = &self.runs.replicas.peer;
            return peer
                .signal(&url, (ws, exec_id), signal)
                .await
                .map_err(elsewhere::unreached);
        }
        self.signal_here(ws, exec_id, signal).await
    }

    /// Sends `signal` to a running run of `ws` that this replica drives.
    pub async fn signal_here(
        &self,
        ws: WorkspaceId,
        exec_id: Uuid,
        signal: RunSignal,
    ) -> Result<(), ServiceError> {
        let ended = || ServiceError::Conflict("the exec run has already ended".into());
        if self.runs.view(ws, exec_id).await?.state != RunState::Running {
            return Err(ended());
        }
        match self.live.signal(exec_id, signal).await {
            Some(Ok(())) => {
                tracing::info!(%exec_id, ?signal, "exec run signalled");
                Ok(())
            }
            Some(Err(e)) => Err(e.into()),
            None => Err(ended()),
        }
    }

    /// `e`, after auditing it when it is a refusal worth a row (the tier gate, a removed or
    /// stopped workspace).
    async fn refused(
        &self,
        caller: &Caller,
        ws: &Workspace,
        spec: &ExecSpec,
        e: ServiceError,
    ) -> ServiceError {
        if let Some(http_status) = refusal_status(&e) {
            let row = refusal_row(caller, ws, spec, &e, http_status);
            audit::record(&*self.ports.store, row).await;
        }
        e
    }

    /// The run a repeated key names, from its start, wherever it runs.
    async fn attach(&self, first: ExecRun, detached: bool) -> Result<Started, ServiceError> {
        let exec_id = first.exec_id;
        let lines = self.runs.lines(first, 0, true, false).await?;
        Ok(Started {
            exec_id,
            lines,
            held: None,
            detached,
        })
    }

    /// Claims a run: its record (under `key`, which the database keeps unique per workspace),
    /// its log and the log's first reader.
    async fn claim(
        &self,
        ws: &Workspace,
        spec: &ExecSpec,
        key: Option<String>,
    ) -> Result<Claim, ServiceError> {
        // A key whose run has expired is free again, so a keyed claim purges first; others
        // purge now and then.
        let purged = match key {
            Some(_) => self.runs.purge().await,
            None => self.runs.purge_now_and_then().await,
        };
        if let Err(e) = purged {
            tracing::warn!(error = %e, "forgetting expired exec runs");
        }
        // The log first, so that a record another request can find always has its log.
        let exec_id = Uuid::new_v4();
        let opened = async {
            let writer = self.runs.logs.create(exec_id).await?;
            let lines = self.runs.logs.read(exec_id, 0, true, false).await;
            let lines = lines.ok_or_else(|| io::Error::other("exec run log missing"))?;
            Ok::<_, io::Error>((writer, lines))
        };
        let (writer, lines) = opened.await.map_err(|e| ServiceError::Internal(e.into()))?;
        let run = ExecRun {
            exec_id,
            workspace_id: ws.id,
            argv: spec.argv.clone(),
            state: RunState::Running,
            started_at_ms: runs::now_ms(),
            ended_at_ms: None,
            final_record: None,
            idempotency_key: key.clone(),
            replica_id: Some(self.runs.replicas.id().to_owned()),
        };
        match self.ports.store.insert_exec_run(&run).await {
            Ok(true) => return Ok(Claim::New(exec_id, writer, lines)),
            inserted => {
                // Not ours (or not recorded): the log goes, unread.
                drop((writer, lines));
                self.runs.logs.remove(exec_id).await;
                inserted?;
            }
        }
        // The key is taken: the first run's.
        let key = key.as_deref().unwrap_or_default();
        let first = self.ports.store.exec_run_by_key(ws.id, key).await?;
        // Purged between the two statements: the caller may retry.
        let first = first.ok_or_else(|| {
            ServiceError::Conflict("the run of this Idempotency-Key just expired".into())
        })?;
        Ok(Claim::Taken(first))
    }
}

/// What claiming a run found.
enum Claim {
    /// A new run, not started yet.
    New(Uuid, Writer, Lines),
    /// The key's first run.
    Taken(ExecRun),
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
