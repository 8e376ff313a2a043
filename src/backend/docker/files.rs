//! Files on the Docker path: the shared symlink-safe scripts of [`crate::backend::fs`], run as
//! execs in the container with the content on stdin. Names only ever travel as argv elements,
//! never through a shell's parser.

use async_trait::async_trait;
use bollard::Docker;

use super::settings::CONFIGS_MOUNT;
use bytes::Bytes;

use super::exec::DockerExec;
use crate::backend::content::Input;
use crate::backend::fs::{Script, Shell};
use crate::backend::{BackendError, ExecProcess, ExecSpec, FilesRoot, StdStream};

/// Roots a local listing or read may ask for with `?root=`.
pub const LOCAL_ROOTS: &[&str] = &["/configs", "/workspace", "/home", "/plugins"];

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
    async fn start(
        &self,
        script: &str,
        args: &[&str],
        stdin: Input,
    ) -> Result<Box<dyn Script>, BackendError> {
        let mut argv: Vec<String> = ["/bin/sh", "-c", script, "sh"].map(str::to_owned).into();
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let spec = ExecSpec {
            argv,
            ..ExecSpec::default()
        };
        let process =
            super::exec::start_with(self.docker, &self.container, &spec, Some(stdin), false);
        Ok(Box::new(ContainerScript(process.await?)))
    }
}

/// A file script running as an exec; its stderr goes to the debug log.
struct ContainerScript(DockerExec);

#[async_trait]
impl Script for ContainerScript {
    async fn next_stdout(&mut self) -> Option<Result<Bytes, BackendError>> {
        loop {
            match self.0.next_output().await? {
                Ok((StdStream::Stdout, bytes)) => return Some(Ok(bytes)),
                Ok((StdStream::Stderr, bytes)) => {
                    tracing::debug!(stderr = %String::from_utf8_lossy(&bytes).trim(), "file script");
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }

    async fn exit_code(&mut self) -> Result<i32, BackendError> {
        let code = self.0.exit_code().await?.unwrap_or(-1);
        Ok(i32::try_from(code).unwrap_or(-1))
    }

    async fn kill(&mut self) {
        self.0.kill().await;
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
