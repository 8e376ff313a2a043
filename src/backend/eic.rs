//! The remote EIC path (SPEC §7): EC2 instances reached with `aws ec2-instance-connect` and the
//! system `ssh`, over a pool of authenticated master connections.

pub mod args;
mod cli;
mod conn;
mod isolate;
mod ops;
mod pool;
mod pty;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::instrument;

pub use self::cli::{MIN_AWS_CLI, parse_aws_version};
use self::conn::Conn;
use self::pool::{Leased, Pool};
use super::{
    Backend, BackendError, ExecProcess, ExecSpec, FileEntry, FilesRoot, Target, TermSize,
    TerminalSession, fs,
};
use crate::backend::content::{FileStream, Input};
use crate::files::{Precondition, RelPath};
use crate::metrics::Metrics;
use crate::store::Store;

/// Where users are sent for EIC set-up and error explanations.
pub const DOCS: &str = "docs/infra/workspace-terminal.md";
/// Instances with a pooled connection at once.
const MAX_POOL_ENTRIES: usize = 256;
/// A pooled connection nobody has used for this long is closed.
const POOL_IDLE: Duration = Duration::from_secs(300);

/// How the EIC path reaches instances.
#[derive(Clone, Debug)]
pub struct EicConfig {
    pub aws: String,
    pub ssh: String,
    pub region: String,
    pub os_user: String,
    /// Shell command that restarts the workspace's agent on the instance.
    pub restart_command: Option<String>,
}

/// What can go wrong on the EIC path. Texts shown to clients are fixed; stderr is only logged.
#[derive(Debug, thiserror::Error)]
pub enum EicError {
    #[error("the `{0}` binary was not found")]
    Missing(&'static str),
    #[error("local failure: {0}")]
    Local(String),
    #[error("EC2 Instance Connect denied the key push")]
    Denied(String),
    #[error("the key push failed")]
    PushFailed(String),
    #[error("the tunnel did not come up in time")]
    TunnelTimeout,
    #[error("the tunnel to the instance failed")]
    TunnelFailed,
    #[error("the instance refused the pushed key")]
    AuthFailed,
    #[error("the instance's SSH host key does not match the pinned key")]
    HostKeyMismatch,
    #[error("too many EIC connections are open")]
    PoolFull,
}

impl EicError {
    fn spawn(binary: &'static str, e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::NotFound {
            Self::Missing(binary)
        } else {
            Self::Local(format!("starting {binary}: {e}"))
        }
    }
}

impl From<EicError> for BackendError {
    fn from(e: EicError) -> Self {
        let see = format!("see {DOCS}");
        match e {
            EicError::Missing(bin) => BackendError::Unconfigured(format!(
                "EIC not available: the `{bin}` binary was not found on this server; {see}"
            )),
            EicError::PoolFull => BackendError::Unconfigured(format!("{e}; try again shortly")),
            EicError::Local(detail) => BackendError::Failed(detail),
            EicError::Denied(ref detail) | EicError::PushFailed(ref detail) => {
                tracing::warn!(detail = %detail.trim(), "EIC key push failed");
                BackendError::Gateway(format!(
                    "{e} (check IAM permissions and the instance id); {see}"
                ))
            }
            other => BackendError::Gateway(format!("{other}; {see}")),
        }
    }
}

/// Finds `binary` as given (a path) or on `PATH`.
fn find_binary(binary: &str) -> bool {
    if binary.contains('/') {
        return Path::new(binary).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
}

/// The EIC backend.
pub struct EicBackend {
    cfg: EicConfig,
    pool: Arc<Pool>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    missing: Option<&'static str>,
    /// The version of an `aws` CLI found too old at start-up.
    too_old: Arc<std::sync::OnceLock<String>>,
}

impl EicBackend {
    /// Checks the binaries (reporting a missing one now, and on every request) and starts the
    /// pool's idle reaper.
    pub fn new(cfg: EicConfig, store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        let missing = [("aws", &cfg.aws), ("ssh", &cfg.ssh)]
            .into_iter()
            .find(|(_, path)| !find_binary(path))
            .map(|(name, _)| name);
        if let Some(name) = missing {
            tracing::warn!(
                binary = name,
                "EIC path unavailable: binary not found; see {DOCS}"
            );
        }
        let too_old = Arc::new(std::sync::OnceLock::new());
        if missing != Some("aws") {
            tokio::spawn(cli::check_aws_version(cfg.aws.clone(), too_old.clone()));
        }
        let pool = Arc::new(Pool::new(MAX_POOL_ENTRIES, POOL_IDLE, metrics.clone()));
        let reaper = Arc::downgrade(&pool);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                let Some(pool) = reaper.upgrade() else { break };
                let n = pool.expire_idle();
                if n > 0 {
                    tracing::debug!(closed = n, "idle EIC connections closed");
                }
            }
        });
        Self {
            cfg,
            pool,
            store,
            metrics,
            missing,
            too_old,
        }
    }

    /// The workspace's instance, when this server can reach instances at all.
    fn instance_of<'w>(&self, ws: &'w Target) -> Result<&'w str, BackendError> {
        if let Some(name) = self.missing {
            return Err(EicError::Missing(name).into());
        }
        if let Some(version) = self.too_old.get() {
            return Err(BackendError::Unconfigured(format!(
                "EIC not available: the aws CLI on this server is {version}; \
                 `ec2-instance-connect open-tunnel` needs 2.12.0 or later; see {DOCS}"
            )));
        }
        ws.instance_id()
    }

    /// A pooled connection to the workspace's instance, pinning its host key on first contact.
    async fn lease(&self, ws: &Target) -> Result<pool::Lease, BackendError> {
        let instance = self.instance_of(ws)?;
        let Leased {
            lease,
            recorded_host_key,
        } = self
            .pool
            .lease(&self.cfg, instance, ws.host_key.as_deref())
            .await?;
        self.pin(ws, recorded_host_key).await;
        Ok(lease)
    }

    /// Stores a host key recorded by a first connection: pinned from now on. A failure to store
    /// it only delays the pinning.
    async fn pin(&self, ws: &Target, recorded: Option<String>) {
        if let Some(key) = recorded
            && let Err(e) = self.store.set_host_key(ws.id, &key).await
        {
            tracing::error!(workspace_id = %ws.id, error = %e, "could not pin the host key");
        }
    }
}

/// The files base of a runtime on an instance (SPEC §5.5).
pub fn runtime_base(runtime: &str) -> &'static str {
    match runtime {
        "hermes" => "/home/ubuntu/.hermes",
        "claude-code" => "/configs",
        _ => "/opt/configs",
    }
}

fn remote_root(ws: &Target, root: FilesRoot<'_>) -> Result<&'static str, BackendError> {
    let base = runtime_base(&ws.runtime);
    match root.0 {
        None => Ok(base),
        Some(r) if r == base => Ok(base),
        Some(_) => Err(BackendError::Invalid(format!(
            "an EC2 workspace's files live under {base}; root cannot be chosen"
        ))),
    }
}

#[async_trait]
impl Backend for EicBackend {
    fn name(&self) -> &'static str {
        "eic"
    }

    async fn ping(&self) -> Result<(), BackendError> {
        match self.missing {
            Some(name) => Err(EicError::Missing(name).into()),
            None => Ok(()),
        }
    }

    fn readiness_problem(&self) -> Option<&'static str> {
        match self.missing {
            Some("aws") => Some("aws not found"),
            Some(_) => Some("ssh not found"),
            None => self.too_old.get().map(|_| "aws cli too old"),
        }
    }

    async fn provision(&self, _ws: &Target) -> Result<(), BackendError> {
        Err(BackendError::Unsupported(
            "EC2 workspaces are provisioned by the control plane",
        ))
    }

    async fn remove(&self, ws: &Target) -> Result<(), BackendError> {
        if let Ok(instance) = ws.instance_id() {
            self.pool.poison(instance).await;
        }
        Ok(())
    }

    /// Runs `WORKSPACE_EC2_RESTART_COMMAND` on the instance; without one, restart is not offered.
    async fn restart(&self, ws: &Target) -> Result<(), BackendError> {
        self.ping().await?;
        let Some(command) = self.cfg.restart_command.clone() else {
            return Err(BackendError::Unsupported(
                "no restart command is configured for EC2 workspaces (WORKSPACE_EC2_RESTART_COMMAND)",
            ));
        };
        let lease = self.lease(ws).await?;
        ops::restart(&lease, &command).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn open_terminal(
        &self,
        ws: &Target,
        size: TermSize,
    ) -> Result<TerminalSession, BackendError> {
        // The terminal has a connection of its own (not the pool's), so that closing the
        // socket ends its ssh and its tunnel too.
        let instance = self.instance_of(ws)?;
        let pinned = ws.host_key.as_deref();
        let (conn, recorded) = Conn::open(&self.cfg, instance, pinned, &self.metrics).await?;
        self.pin(ws, recorded).await;
        pty::open(conn, size)
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn exec(
        &self,
        ws: &Target,
        spec: &ExecSpec,
    ) -> Result<Box<dyn ExecProcess>, BackendError> {
        let lease = self.lease(ws).await?;
        Ok(Box::new(ops::start_exec(lease, self.pool.clone(), spec)?))
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn list_files(
        &self,
        ws: &Target,
        root: FilesRoot<'_>,
        dir: Option<&RelPath>,
        depth: u8,
    ) -> Result<Vec<FileEntry>, BackendError> {
        let base = remote_root(ws, root)?;
        let lease = self.lease(ws).await?;
        fs::list(&ops::LeaseShell(&lease), base, dir, depth).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn read_file(
        &self,
        ws: &Target,
        root: FilesRoot<'_>,
        path: &RelPath,
        max_bytes: u64,
    ) -> Result<FileStream, BackendError> {
        let base = remote_root(ws, root)?;
        let lease = self.lease(ws).await?;
        let file = fs::read(&ops::LeaseShell(&lease), base, path, max_bytes).await?;
        // The connection stays leased while the bytes come through it.
        Ok(file.holding(lease))
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn write_file(
        &self,
        ws: &Target,
        path: &RelPath,
        size: u64,
        content: Input,
        cond: &Precondition,
    ) -> Result<(), BackendError> {
        let base = runtime_base(&ws.runtime);
        let lease = self.lease(ws).await?;
        fs::write_one(&ops::LeaseShell(&lease), base, path, size, content, cond).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn write_files(
        &self,
        ws: &Target,
        files: &[(RelPath, Vec<u8>)],
    ) -> Result<(), BackendError> {
        let base = runtime_base(&ws.runtime);
        let lease = self.lease(ws).await?;
        fs::write(&ops::LeaseShell(&lease), base, files).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn delete_file(
        &self,
        ws: &Target,
        path: &RelPath,
        cond: &Precondition,
    ) -> Result<(), BackendError> {
        let base = runtime_base(&ws.runtime);
        let lease = self.lease(ws).await?;
        fs::delete(&ops::LeaseShell(&lease), base, path, cond).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id, plugin = name))]
    async fn deliver_plugin(
        &self,
        ws: &Target,
        name: &str,
        staged: &Path,
    ) -> Result<(), BackendError> {
        let base = runtime_base(&ws.runtime);
        let lease = self.lease(ws).await?;
        fs::deliver_plugin(&ops::LeaseShell(&lease), base, name, staged).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id, plugin = name))]
    async fn remove_plugin(&self, ws: &Target, name: &str) -> Result<(), BackendError> {
        let base = runtime_base(&ws.runtime);
        let lease = self.lease(ws).await?;
        fs::remove_plugin(&ops::LeaseShell(&lease), base, name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_runtime_has_its_files_base() {
        assert_eq!(runtime_base("hermes"), "/home/ubuntu/.hermes");
        assert_eq!(runtime_base("claude-code"), "/configs");
        assert_eq!(runtime_base("langgraph"), "/opt/configs");
    }

    #[test]
    fn client_facing_errors_carry_no_stderr_and_point_at_the_docs() {
        let e: BackendError = EicError::PushFailed("secret stderr".into()).into();
        let shown = e.to_string();
        assert!(
            !shown.contains("secret stderr") && shown.contains(DOCS),
            "{shown}"
        );
        let e: BackendError = EicError::Missing("aws").into();
        assert!(matches!(&e, BackendError::Unconfigured(m) if m.contains("`aws`")));
    }
}
