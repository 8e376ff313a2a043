//! What the engine's errors mean to callers: a container that is not running, an engine that
//! cannot be reached, a refusal whose reason is safe to show, or a failure whose detail is logged.

use bollard::errors::Error as DockerError;

use crate::backend::BackendError;

/// The engine cannot be reached: the cause is logged, the answer names no detail.
pub(super) fn unavailable(e: DockerError) -> BackendError {
    tracing::warn!(error = %e, "Docker engine unreachable");
    BackendError::Unavailable("Docker not available")
}

/// Maps an engine error about a workspace's container to what callers branch on.
pub(crate) fn container_error(e: DockerError) -> BackendError {
    match &e {
        DockerError::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            404 if message.contains("No such container") => BackendError::NotRunning,
            409 if message.contains("not running") || message.contains("paused") => {
                BackendError::NotRunning
            }
            _ => BackendError::Failed(e.to_string()),
        },
        DockerError::HyperResponseError { .. }
        | DockerError::IOError { .. }
        | DockerError::RequestTimeoutError => unavailable(e),
        _ => BackendError::Failed(e.to_string()),
    }
}

pub(super) fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The engine refused to create or start a container: its reason is the workspace's `last_error`.
pub(super) fn engine_refused(e: DockerError) -> BackendError {
    match e {
        DockerError::DockerResponseServerError { message, .. } => BackendError::Invalid(message),
        DockerError::DockerStreamError { error } => BackendError::Invalid(error),
        other => container_error(other),
    }
}
