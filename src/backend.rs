//! The ports to where workspaces run: the `Backend` trait and the registry by placement.

use std::sync::Arc;

use async_trait::async_trait;

use crate::workspace::{Placement, Workspace};

/// What can go wrong reaching a workspace.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No backend is configured for this kind of placement.
    #[error("{0}")]
    Unavailable(&'static str),
    /// The workspace's container or instance is not running.
    #[error("workspace not running")]
    NotRunning,
    /// The engine or transport failed; the detail is logged, never shown to clients.
    #[error("backend failure: {0}")]
    Failed(String),
}

/// What every path to a workspace must do.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs and readiness output.
    fn name(&self) -> &'static str;
    /// Answers when the backend's engine is reachable.
    async fn ping(&self) -> Result<(), BackendError>;
    /// Restarts the workspace's container or agent.
    async fn restart(&self, ws: &Workspace) -> Result<(), BackendError>;
}

/// The backends configured for each placement.
#[derive(Clone, Default)]
pub struct Backends {
    pub local: Option<Arc<dyn Backend>>,
    pub remote: Option<Arc<dyn Backend>>,
}

impl Backends {
    /// The backend serving a placement, or why there is none.
    pub fn for_placement(&self, placement: &Placement) -> Result<Arc<dyn Backend>, BackendError> {
        match placement {
            Placement::Local { .. } => self
                .local
                .clone()
                .ok_or(BackendError::Unavailable("Docker not available")),
            Placement::Remote { .. } => self
                .remote
                .clone()
                .ok_or(BackendError::Unavailable("EIC not available")),
        }
    }
}
