//! Exec runs across replicas (SPEC §16): a run's output is kept by the replica that drove it, so
//! a read reaching another replica is passed to that one; a run whose replica is gone settles as
//! `"state":"lost"`, whose output is its final record alone.

use std::io;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::mpsc;

use super::runs::{Runs, now_ms};
use crate::exec::log::with_offset;
use crate::services::ServiceError;
use crate::services::replicas::Place;
use crate::services::replicas::peer::PeerError;
use crate::store::{ExecRun, RunState};

/// A failure to reach the replica that keeps a run's output, as an answer.
pub(super) fn unreached(e: PeerError) -> ServiceError {
    match e {
        PeerError::Refused | PeerError::Unreachable => ServiceError::Unavailable(
            "the replica running this exec run cannot be reached; try again".into(),
        ),
        PeerError::Answered(e) => e,
    }
}

impl Runs {
    /// `run` as it stands: one recorded as running whose replica is gone is lost, and recorded
    /// so (whoever notices first writes it; the stored record wins).
    pub(super) async fn settled(&self, run: ExecRun) -> Result<ExecRun, ServiceError> {
        if run.state != RunState::Running {
            return Ok(run);
        }
        if self.replicas.place_of(run.replica_id.as_deref()).await? != Place::Gone {
            return Ok(run);
        }
        let now = now_ms();
        let last = json!({
            "exec_id": run.exec_id,
            "exit_code": null,
            "timed_out": false,
            "duration_ms": now.saturating_sub(run.started_at_ms).max(0),
            "lost": true,
        });
        self.store
            .finish_exec_run(run.exec_id, RunState::Lost, now, &last)
            .await?;
        tracing::warn!(exec_id = %run.exec_id, "exec run lost with the replica that drove it");
        let again = self.store.exec_run(run.workspace_id, run.exec_id).await?;
        again.ok_or_else(super::runs::not_found)
    }

    /// The lines of `run` from `since`: from its log here, from the live replica that keeps
    /// it, or, its replica gone, its final record alone.
    pub(super) async fn lines(
        &self,
        run: ExecRun,
        since: u64,
        follow: bool,
        offsets: bool,
    ) -> Result<mpsc::Receiver<io::Result<Bytes>>, ServiceError> {
        if let Some(lines) = self.logs.read(run.exec_id, since, follow, offsets).await {
            return Ok(lines);
        }
        let place = self.replicas.place_of(run.replica_id.as_deref()).await?;
        if let Place::There(url) = place {
            let whose = (run.workspace_id, run.exec_id);
            let peer = &self.replicas.peer;
            return peer
                .output(&url, whose, since, (follow, offsets))
                .await
                .map_err(unreached);
        }
        let run = self.settled(run).await?;
        let last = run
            .final_record
            .ok_or_else(super::runs::not_found)?
            .to_string();
        let line = match offsets {
            true => with_offset(since, last.as_bytes()),
            false => Bytes::from(format!("{last}\n")),
        };
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(Ok(line));
        Ok(rx)
    }

    /// The address of the live replica driving `run`, when another one does.
    pub(super) async fn driven_elsewhere(
        &self,
        run: &ExecRun,
    ) -> Result<Option<String>, ServiceError> {
        match self.replicas.place_of(run.replica_id.as_deref()).await? {
            Place::There(url) => Ok(Some(url)),
            Place::Here | Place::Gone => Ok(None),
        }
    }
}
