//! The ports to where workspaces run: the `Backend` trait, what it trades in, and the registry by
//! placement.

pub mod content;
pub mod docker;
pub mod eic;
pub mod fs;
pub mod marker;
pub mod tar;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use tokio::io::AsyncWrite;

use self::content::{FileStream, Input};
use crate::files::{Precondition, RelPath};
use crate::workspace::{Placement, Workspace, WorkspaceId};

/// What can go wrong reaching a workspace.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No backend is configured (or reachable) for this kind of placement.
    #[error("{0}")]
    Unavailable(&'static str),
    /// The workspace's container or instance is not running.
    #[error("workspace not running")]
    NotRunning,
    /// A file or directory the request named does not exist.
    #[error("not found")]
    NotFound,
    /// A file is larger than the caller's cap, in bytes.
    #[error("file is {0} bytes, over the limit")]
    TooLarge(u64),
    /// The file is not as the request's condition (`If-Match`, `If-None-Match`) required.
    #[error("the file does not match the request's condition")]
    PreconditionFailed,
    /// Another conditional change to the same directory held its lock for too long.
    #[error("another conditional change to this directory is in progress; try again")]
    Busy,
    /// The request cannot be carried out as asked; the message is safe to show.
    #[error("{0}")]
    Invalid(String),
    /// The backend does not offer this operation for this workspace.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The path to the workspace is not set up on this server; the message says what to fix.
    #[error("{0}")]
    Unconfigured(String),
    /// The way to the workspace failed; the message is fixed text, safe to show.
    #[error("{0}")]
    Gateway(String),
    /// The engine or transport failed; the detail is logged, never shown to clients.
    #[error("backend failure: {0}")]
    Failed(String),
}

impl BackendError {
    /// What clients are told of a [`BackendError::Failed`]; the detail goes to the log.
    pub const FAILED_MESSAGE: &'static str = "workspace backend failed";

    /// The error in words safe to show a client or store in `last_error`: the detail of an
    /// engine or transport failure is left out.
    pub fn public_message(&self) -> String {
        match self {
            BackendError::Failed(_) => Self::FAILED_MESSAGE.to_owned(),
            other => other.to_string(),
        }
    }
}

/// A terminal size in character cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TermSize {
    pub cols: u16,
    pub rows: u16,
}

impl Default for TermSize {
    fn default() -> Self {
        Self { cols: 80, rows: 24 }
    }
}

/// Output of a terminal: raw bytes as the PTY gives them.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BackendError>> + Send>>;

/// An open interactive shell under a PTY.
pub struct TerminalSession {
    pub output: ByteStream,
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
    pub control: Arc<dyn TerminalControl>,
}

/// Resize, exit status and cancellation of a terminal session.
#[async_trait]
pub trait TerminalControl: Send + Sync {
    async fn resize(&self, size: TermSize) -> Result<(), BackendError>;
    /// The shell's exit code, once its output has ended.
    async fn exit_code(&self) -> Result<Option<i64>, BackendError>;
    /// Ends the shell and everything it started.
    async fn kill(&self);
}

/// One command to run to completion (SPEC §5.4).
#[derive(Clone, Debug, Default)]
pub struct ExecSpec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    pub stdin: Option<Vec<u8>>,
}

/// Which output stream a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdStream {
    Stdout,
    Stderr,
}

/// A running command.
#[async_trait]
pub trait ExecProcess: Send {
    /// The next output chunk; `None` once both streams have ended.
    async fn next_output(&mut self) -> Option<Result<(StdStream, Bytes), BackendError>>;
    /// The exit code after the output has ended (`None` when it was killed by a signal).
    async fn exit_code(&mut self) -> Result<Option<i64>, BackendError>;
    /// Kills the command and every process it started; waits until they are gone.
    async fn kill(&mut self);
    /// Sends `signal` to the command and every process it started (`KILL` is `kill`).
    async fn signal(&mut self, signal: RunSignal) -> Result<(), BackendError>;
}

/// A signal a run may be sent (SPEC §14).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunSignal {
    Int,
    Term,
    Kill,
    Hup,
}

impl RunSignal {
    /// Its number, the same on every Linux.
    pub fn number(self) -> i32 {
        match self {
            Self::Int => 2,
            Self::Term => 15,
            Self::Kill => 9,
            Self::Hup => 1,
        }
    }
}

/// One entry of a directory listing, its path relative to the listed directory's root.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub dir: bool,
}

/// Where a files request is rooted: the backend's default, or one the caller asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct FilesRoot<'a>(pub Option<&'a str>);

/// What the engine says of a workspace's container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    Running,
    /// There, but not running: its state (`exited`, `created`, `paused`, …).
    Stopped(String),
    /// Not there at all.
    Missing,
}

/// What every path to a workspace must do.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs and readiness output.
    fn name(&self) -> &'static str;
    /// Answers when the backend's engine is reachable.
    async fn ping(&self) -> Result<(), BackendError>;
    /// The engine's view of the containers of `workspaces` (those this backend runs), in one
    /// call; a path without containers answers nothing.
    async fn observe(
        &self,
        _workspaces: &[Target],
    ) -> Result<std::collections::HashMap<WorkspaceId, Observed>, BackendError> {
        Ok(std::collections::HashMap::new())
    }
    /// What a start-up check found wrong with this path, in a few words for `/readyz`.
    fn readiness_problem(&self) -> Option<&'static str> {
        None
    }
    /// Creates and starts the workspace's container (local path).
    async fn provision(&self, ws: &Target) -> Result<(), BackendError>;
    /// Stops and removes what `provision` made. Missing parts are not an error.
    async fn remove(&self, ws: &Target) -> Result<(), BackendError>;
    /// Restarts the workspace's container or agent.
    async fn restart(&self, ws: &Target) -> Result<(), BackendError>;
    /// Opens a login shell under a PTY of `size`.
    async fn open_terminal(
        &self,
        ws: &Target,
        size: TermSize,
    ) -> Result<TerminalSession, BackendError>;
    /// Starts `spec`; the caller reads its output and enforces the timeout.
    async fn exec(
        &self,
        ws: &Target,
        spec: &ExecSpec,
    ) -> Result<Box<dyn ExecProcess>, BackendError>;
    /// Entries under `dir` (the root when `None`), `depth` levels deep.
    async fn list_files(
        &self,
        ws: &Target,
        root: FilesRoot<'_>,
        dir: Option<&RelPath>,
        depth: u8,
    ) -> Result<Vec<FileEntry>, BackendError>;
    /// A file as a stream, with its size and tag; `TooLarge` past `max_bytes`, `NotFound` when
    /// missing or a directory.
    async fn read_file(
        &self,
        ws: &Target,
        root: FilesRoot<'_>,
        path: &RelPath,
        max_bytes: u64,
    ) -> Result<FileStream, BackendError>;
    /// Writes one file of `size` bytes from `content`, atomically, creating parent directories,
    /// if `cond` holds of it; `PreconditionFailed` (and no change) when it does not.
    async fn write_file(
        &self,
        ws: &Target,
        path: &RelPath,
        size: u64,
        content: Input,
        cond: &Precondition,
    ) -> Result<(), BackendError>;
    /// Writes each file atomically, creating parent directories (a bulk replace).
    async fn write_files(
        &self,
        ws: &Target,
        files: &[(RelPath, Vec<u8>)],
    ) -> Result<(), BackendError>;
    /// Deletes a file or directory tree if `cond` holds of it; `NotFound` when missing.
    async fn delete_file(
        &self,
        ws: &Target,
        path: &RelPath,
        cond: &Precondition,
    ) -> Result<(), BackendError>;
    /// Puts the staged tree at `staged` in place as plugin `name`, owned by the agent user,
    /// replacing any previous version atomically (a failure leaves the old one).
    async fn deliver_plugin(
        &self,
        ws: &Target,
        name: &str,
        staged: &std::path::Path,
    ) -> Result<(), BackendError>;
    /// Removes plugin `name`; `NotFound` when it is not installed.
    async fn remove_plugin(&self, ws: &Target, name: &str) -> Result<(), BackendError>;
}

/// The directory plugins live in, relative to a workspace's files root.
pub const PLUGINS_SUBDIR: &str = "plugins";

/// How long a backend waits for its engine to answer a ping.
pub const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// A workspace as handed to its backend: the record, and where it runs, worked out once by
/// [`Placement::of`]. Backends read the container name or instance id from here.
#[derive(Clone, Debug)]
pub struct Target {
    pub workspace: Workspace,
    pub placement: Placement,
}

impl Target {
    pub fn of(workspace: Workspace) -> Self {
        let placement = Placement::of(&workspace);
        Self {
            workspace,
            placement,
        }
    }

    /// The container of a local workspace.
    pub fn container(&self) -> Result<&str, BackendError> {
        match &self.placement {
            Placement::Local { container } => Ok(container),
            Placement::Remote { .. } => Err(BackendError::Unsupported("not a local workspace")),
        }
    }

    /// The instance of an EC2 workspace.
    pub fn instance_id(&self) -> Result<&str, BackendError> {
        match &self.placement {
            Placement::Remote { instance_id } => Ok(instance_id),
            Placement::Local { .. } => Err(BackendError::Unsupported("not an EC2 workspace")),
        }
    }
}

impl std::ops::Deref for Target {
    type Target = Workspace;

    fn deref(&self) -> &Workspace {
        &self.workspace
    }
}

/// The backends of each placement: Docker when the server has an engine, and the EC2 path,
/// which is always there (its start-up checks say when it cannot work).
#[derive(Clone)]
pub struct Backends {
    pub local: Option<Arc<dyn Backend>>,
    pub remote: Arc<dyn Backend>,
}

/// A workspace's backend, and the workspace as it is handed to it.
pub struct Bound {
    pub backend: Arc<dyn Backend>,
    pub target: Target,
}

impl Backends {
    /// The one door to a backend: the backend serving `ws`'s placement, with its target.
    pub fn for_workspace(&self, ws: &Workspace) -> Result<Bound, BackendError> {
        let target = Target::of(ws.clone());
        let backend = match target.placement {
            Placement::Local { .. } => self.local()?,
            Placement::Remote { .. } => self.remote.clone(),
        };
        Ok(Bound { backend, target })
    }

    /// The local engine, needed before a workspace exists (to provision it).
    pub fn local(&self) -> Result<Arc<dyn Backend>, BackendError> {
        self.local
            .clone()
            .ok_or(BackendError::Unavailable("Docker not available"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_failure_is_shown_without_its_detail() {
        let failed = BackendError::Failed("dial unix /var/run/docker.sock: secret".into());
        assert_eq!(failed.public_message(), BackendError::FAILED_MESSAGE);
        let refused = BackendError::Gateway("the instance refused the connection".into());
        assert_eq!(refused.public_message(), refused.to_string());
    }

    #[test]
    fn a_target_answers_only_its_own_kind_of_address() {
        let local = Target::of(Workspace::sample(None));
        assert!(local.container().unwrap().starts_with("ws-"));
        assert!(local.instance_id().is_err());
        let remote = Target::of(Workspace::sample(Some("i-0123456789abcdef0")));
        assert_eq!(remote.instance_id().unwrap(), "i-0123456789abcdef0");
        assert!(remote.container().is_err());
    }
}
