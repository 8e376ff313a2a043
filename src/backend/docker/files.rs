//! Files on the Docker path: the shared symlink-safe scripts of [`crate::backend::fs`], run as
//! execs in the container with the content on stdin. Names only ever travel as argv elements,
//! never through a shell's parser.

use async_trait::async_trait;
use bollard::Docker;

use super::settings::CONFIGS_MOUNT;
use crate::backend::fs::Shell;
use crate::backend::{BackendError, ExecProcess, ExecSpec, FilesRoot, StdStream};

/// Roots a local listing or read may ask for with `?root=`.
pub const LOCAL_ROOTS: &[&str] = &["/configs", "/workspace", "/home", "/plugins"];

/// Most stdout a file script may send back, in bytes (a read is capped well below this; a listing
/// of a huge tree is cut here rather than held whole).
const MAX_SCRIPT_OUTPUT: usize = 64 * 1024 * 1024;

/// The root a local list or read is under: `/configs` unless the caller picked another allowed one.
pub fn local_root(root: FilesRoot<'_>) -> Result<&'static str, BackendError> {
    match root.0 {
        None => Ok(CONFIGS_MOUNT),
        Some(asked) => LOCAL_ROOTS
            .iter()
            .find(|r| **r == asked)
            .copied()
            .ok_or_else(|| {
                BackendError::Invalid(format!("root must be one of {}", LOCAL_ROOTS.join(", ")))
            }),
    }
}

/// Runs the file scripts as execs in one container.
pub struct ContainerShell<'a> {
    pub docker: &'a Docker,
    pub container: String,
}

#[async_trait]
impl Shell for ContainerShell<'_> {
    async fn run(
        &self,
        script: &str,
        args: &[&str],
        stdin: Vec<u8>,
    ) -> Result<(i32, Vec<u8>), BackendError> {
        let mut argv: Vec<String> = ["/bin/sh", "-c", script, "sh"].map(str::to_owned).into();
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let spec = ExecSpec {
            argv,
            stdin: Some(stdin),
            ..ExecSpec::default()
        };
        let mut process = super::exec::start(self.docker, &self.container, &spec).await?;
        let mut out = Vec::new();
        while let Some(chunk) = process.next_output().await {
            match chunk? {
                (StdStream::Stdout, bytes) if out.len() + bytes.len() <= MAX_SCRIPT_OUTPUT => {
                    out.extend_from_slice(&bytes)
                }
                (StdStream::Stdout, _) => {
                    process.kill().await;
                    return Err(BackendError::Invalid("the listing is too large".into()));
                }
                (StdStream::Stderr, bytes) => {
                    tracing::debug!(stderr = %String::from_utf8_lossy(&bytes).trim(), "file script");
                }
            }
        }
        let code = process.exit_code().await?.unwrap_or(-1);
        Ok((i32::try_from(code).unwrap_or(-1), out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_roots_may_be_asked_for() {
        assert_eq!(local_root(FilesRoot(None)).unwrap(), "/configs");
        assert_eq!(local_root(FilesRoot(Some("/home"))).unwrap(), "/home");
        assert!(local_root(FilesRoot(Some("/etc"))).is_err());
    }
}
