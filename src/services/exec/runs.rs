//! Exec runs as durable resources (SPEC §14): the record of a run and its output, read while it
//! runs or after it ended (a restart included) until `EXEC_RETENTION` has passed.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::super::ServiceError;
use crate::exec::log::RunLogs;
use crate::services::replicas::Replicas;
use crate::store::{ExecRun, RunState, Store};
use crate::workspace::WorkspaceId;

/// The answer of `GET /workspaces/{id}/exec/{exec_id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub exec_id: Uuid,
    pub argv: Vec<String>,
    pub state: RunState,
    pub started_at: DateTime<Utc>,
    /// The final record's fields, once the run has ended.
    #[serde(flatten)]
    pub ended: Map<String, Value>,
}

/// Records and logs of runs, and how long they are kept.
pub struct Runs {
    pub store: Arc<dyn Store>,
    pub logs: Arc<RunLogs>,
    pub retention: Duration,
    /// This replica, and the way to the ones driving other runs (SPEC §16).
    pub replicas: Arc<Replicas>,
    /// When expired runs were last purged (ms): at most once per `PURGE_EVERY` (or retention).
    purged_at_ms: AtomicI64,
}

/// How often a new run purges the expired ones, at most.
const PURGE_EVERY: Duration = Duration::from_secs(60);

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(super) fn not_found() -> ServiceError {
    ServiceError::NotFound("exec run not found".into())
}

impl Runs {
    pub fn new(
        store: Arc<dyn Store>,
        logs: Arc<RunLogs>,
        retention: Duration,
        replicas: Arc<Replicas>,
    ) -> Self {
        Self {
            store,
            logs,
            retention,
            replicas,
            purged_at_ms: AtomicI64::new(0),
        }
    }

    /// Whether `run` is past its retention (404 from now on, purged soon).
    fn expired(&self, run: &ExecRun) -> bool {
        run.ended_at_ms
            .is_some_and(|ended| ended.saturating_add(self.retention_ms()) < now_ms())
    }

    fn retention_ms(&self) -> i64 {
        i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX)
    }

    /// A run of `ws` still kept: unknown, another workspace's and expired ones are all 404.
    pub(super) async fn kept(&self, ws: WorkspaceId, id: Uuid) -> Result<ExecRun, ServiceError> {
        let run = self.store.exec_run(ws, id).await?.ok_or_else(not_found)?;
        match self.expired(&run) {
            true => Err(not_found()),
            false => Ok(run),
        }
    }

    pub async fn view(&self, ws: WorkspaceId, id: Uuid) -> Result<RunView, ServiceError> {
        let run = self.settled(self.kept(ws, id).await?).await?;
        let ended = match run.final_record {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let mut ended = ended;
        ended.remove("exec_id");
        Ok(RunView {
            exec_id: run.exec_id,
            argv: run.argv,
            state: run.state,
            started_at: DateTime::from_timestamp_millis(run.started_at_ms).unwrap_or_default(),
            ended,
        })
    }

    /// The run's record stream from byte `since`, each line with its offset: from its log here,
    /// or from the replica that keeps it (SPEC §16).
    pub async fn output(
        &self,
        ws: WorkspaceId,
        id: Uuid,
        since: u64,
        follow: bool,
    ) -> Result<mpsc::Receiver<io::Result<Bytes>>, ServiceError> {
        let run = self.kept(ws, id).await?;
        self.lines(run, since, follow, true).await
    }

    /// The output of a run of `ws` whose log this replica keeps.
    pub async fn output_here(
        &self,
        ws: WorkspaceId,
        id: Uuid,
        since: u64,
        (follow, offsets): (bool, bool),
    ) -> Result<mpsc::Receiver<io::Result<Bytes>>, ServiceError> {
        self.kept(ws, id).await?;
        let lines = self.logs.read(id, since, follow, offsets).await;
        lines.ok_or_else(not_found)
    }

    /// Purges as `purge` does, unless that was done within the last minute (or retention): the
    /// expired are 404 meanwhile all the same, so a run need not pay for a purge each time.
    pub async fn purge_now_and_then(&self) -> Result<(), ServiceError> {
        let every = i64::try_from(PURGE_EVERY.min(self.retention).as_millis()).unwrap_or(0);
        let (now, last) = (now_ms(), self.purged_at_ms.load(Ordering::Relaxed));
        if now.saturating_sub(last) < every {
            return Ok(());
        }
        self.purged_at_ms.store(now, Ordering::Relaxed);
        self.purge().await
    }

    /// Forgets the runs that ended more than the retention ago, records and output.
    pub async fn purge(&self) -> Result<(), ServiceError> {
        let cutoff = now_ms().saturating_sub(self.retention_ms());
        for id in self.store.purge_exec_runs(cutoff).await? {
            self.logs.remove(id).await;
        }
        Ok(())
    }

    /// At start-up: a run the store still has as running was cut off by the end of an earlier
    /// server (a crash: a clean shutdown records its runs itself). Its stream gets a final record
    /// and it is recorded as interrupted.
    pub async fn recover(&self) -> Result<usize, ServiceError> {
        // Only those whose output is here: other replicas' runs are theirs (SPEC §16).
        let mut cut = self.store.running_exec_runs().await?;
        cut.retain(|run| self.logs.has(run.exec_id));
        let now = now_ms();
        for run in &cut {
            let last = json!({
                "exec_id": run.exec_id,
                "exit_code": null,
                "timed_out": false,
                "duration_ms": now.saturating_sub(run.started_at_ms).max(0),
                "interrupted": true,
            });
            if let Err(e) = self
                .logs
                .close_unfinished(run.exec_id, last.to_string().as_bytes())
                .await
            {
                tracing::warn!(exec_id = %run.exec_id, error = %e, "closing an interrupted run's output");
            }
            self.store
                .finish_exec_run(run.exec_id, RunState::Interrupted, now, &last)
                .await?;
        }
        self.purge().await?;
        Ok(cut.len())
    }
}
