//! What the store keeps of exec runs (SPEC §14) and of who holds sessions and runs when several
//! replicas share one database (SPEC §16).

use crate::workspace::WorkspaceId;
use uuid::Uuid;

/// Where an exec run is (SPEC §14).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Running,
    Exited,
    /// Killed by the server's shutdown, or cut off by its end.
    Interrupted,
    /// Its replica went away while it ran (SPEC §16): how it ended is not known.
    Lost,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Exited => "exited",
            RunState::Interrupted => "interrupted",
            RunState::Lost => "lost",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            RunState::Running,
            RunState::Exited,
            RunState::Interrupted,
            RunState::Lost,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// An exec run as the store keeps it; its output is a file beside the database.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecRun {
    pub exec_id: Uuid,
    pub workspace_id: WorkspaceId,
    pub argv: Vec<String>,
    pub state: RunState,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    /// The final record, once the run has ended.
    pub final_record: Option<serde_json::Value>,
    pub idempotency_key: Option<String>,
    /// The replica driving it, which keeps its output.
    pub replica_id: Option<String>,
}

/// A replica as another one sees it (SPEC §16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub replica_id: String,
    /// The address the other replicas reach it at, when it advertises one.
    pub url: Option<String>,
    /// Whether its lease still ran when it was read.
    pub live: bool,
}

/// A resumable terminal session as the store keeps it: who holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub replica_id: String,
    pub created_at_ms: i64,
    /// The replica holding it, as of the read (`None` when writing).
    pub holder: Option<Holder>,
    pub killed: bool,
}
