//! The one domain error of the services: what went wrong, in words safe to show a client. The
//! HTTP layer maps each case to a status; causes that must not be shown are only logged.

use crate::backend::BackendError;
use crate::store::StoreError;

/// Why a use case did not happen. Every message is safe to show to the caller.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed or names something impossible.
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The workspace's state does not allow it (removed, not running).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// A condition of the request (`If-Match`, `If-None-Match`) does not hold.
    #[error("{0}")]
    PreconditionFailed(String),
    /// Understood, but refused as asked (an unpinned source, a checksum that does not match).
    #[error("{0}")]
    Unprocessable(String),
    /// A quota is used up.
    #[error("{0}")]
    Quota(String),
    /// A dependency is not there now; the request may succeed later.
    #[error("{0}")]
    Unavailable(String),
    /// A system beyond this server (engine, instance, control plane, GitHub) failed.
    #[error("{0}")]
    Upstream(String),
    /// A system beyond this server did not answer in time.
    #[error("{0}")]
    UpstreamTimeout(String),
    /// A plugin source of a scheme this server does not know; the answer lists the known ones.
    #[error("{0}")]
    UnknownScheme(String),
    /// A fault of this server; the cause is logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ServiceError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }

    pub fn workspace_not_found() -> Self {
        Self::NotFound("workspace not found".into())
    }

    /// A blocking task that panicked or was cancelled.
    pub fn join(e: tokio::task::JoinError) -> Self {
        Self::Internal(e.into())
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Cycle = e {
            return Self::Invalid(e.to_string());
        }
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            return Self::Unavailable("database unavailable".into());
        }
        Self::Internal(e.into())
    }
}

impl From<BackendError> for ServiceError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Unavailable(what) => Self::Unavailable(what.to_owned()),
            BackendError::NotRunning => Self::Conflict("workspace not running".into()),
            BackendError::NotFound => Self::NotFound("file not found".into()),
            BackendError::TooLarge(size) => {
                Self::TooLarge(format!("file is {size} bytes, over the limit"))
            }
            e @ BackendError::PreconditionFailed => Self::PreconditionFailed(e.to_string()),
            e @ BackendError::Busy => Self::Conflict(e.to_string()),
            BackendError::Invalid(msg) => Self::Invalid(msg),
            BackendError::Unconfigured(msg) => Self::Unavailable(msg),
            BackendError::Gateway(msg) => Self::Upstream(msg),
            BackendError::Unsupported(what) => Self::Unprocessable(what.to_owned()),
            BackendError::Failed(detail) => {
                tracing::warn!(%detail, "backend failure");
                Self::Upstream(BackendError::FAILED_MESSAGE.into())
            }
        }
    }
}
