//! Execs and the TTY terminal on the Docker path (SPEC §6): create, start attached, demultiplex,
//! read the exit code after the output ends, and kill the whole tree on demand.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::InspectContainerOptions;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use nix::sys::signal::Signal;
use tokio::io::AsyncWriteExt;

use super::cgroup::{ExecCgroup, GO_SCRIPT, WAIT_SCRIPT};
use super::errors::container_error;
use super::kill::{kill_host_tree, signal_host_tree, signal_in_container};
use crate::backend::content::{Input, feed};
use crate::backend::{
    BackendError, ExecProcess, ExecSpec, RunSignal, StdStream, TermSize, TerminalControl,
    TerminalSession,
};

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// How long to wait for the engine to record an exit code after the output ended.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The shell of a terminal: bash when the image has it, else sh.
const SHELL_PROBE: &str = "if [ -x /bin/bash ]; then exec /bin/bash; else exec /bin/sh; fi";

/// An exec that has been started, and how to find its processes again.
#[derive(Clone)]
struct Handle {
    docker: Docker,
    container: String,
    exec_id: String,
    marker: String,
    /// The exec's own cgroup, where the server can make one.
    cgroup: Option<Arc<ExecCgroup>>,
}

impl Handle {
    /// Creates and starts an exec; `own_cgroup` gives it a cgroup of its own where the server
    /// can make one.
    async fn create(
        docker: &Docker,
        container: &str,
        mut options: CreateExecOptions<String>,
        own_cgroup: bool,
    ) -> Result<(Self, Output, Pin<Box<dyn tokio::io::AsyncWrite + Send>>), BackendError> {
        let marker = crate::backend::marker::new_marker();
        options
            .env
            .get_or_insert_with(Vec::new)
            .push(marker.clone());
        let tty = options.tty.unwrap_or(false);
        let wants_stdin = options.attach_stdin.unwrap_or(false);
        // A cgroup of its own, and the wrapper that waits to be moved into it: told on stdin
        // without a TTY (no polling), by watching its own cgroup with one.
        let cgroup = match own_cgroup {
            true => exec_cgroup(docker, container, &marker).await,
            false => None,
        };
        if let (Some(cgroup), Some(cmd)) = (&cgroup, options.cmd.as_mut()) {
            let mut wrapped: Vec<String> = if tty {
                ["/bin/sh", "-c", WAIT_SCRIPT, "wss-wait", &cgroup.tag]
                    .map(str::to_owned)
                    .into()
            } else {
                options.attach_stdin = Some(true);
                ["/bin/sh", "-c", GO_SCRIPT, "wss-wait"]
                    .map(str::to_owned)
                    .into()
            };
            wrapped.append(cmd);
            *cmd = wrapped;
        }
        let exec = docker
            .create_exec(container, options)
            .await
            .map_err(container_error)?;
        let started = docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    tty,
                    ..Default::default()
                }),
            )
            .await
            .map_err(container_error)?;
        let StartExecResults::Attached { output, mut input } = started else {
            return Err(BackendError::Failed("exec started detached".into()));
        };
        if let Some(cgroup) = &cgroup {
            adopt(docker, &exec.id, cgroup).await;
            if !tty {
                // The go-ahead, whether or not the move worked: the wrapper never hangs.
                let _ = input.write_all(b"\n").await;
                if !wants_stdin {
                    let _ = input.shutdown().await;
                }
            }
        }
        let handle = Self {
            docker: docker.clone(),
            container: container.to_owned(),
            exec_id: exec.id,
            marker,
            cgroup: cgroup.map(Arc::new),
        };
        Ok((handle, output, input))
    }

    /// The exit code once the engine has recorded it: right after the output ends, the engine may
    /// still say the exec is running for a moment, so ask again for up to `EXIT_WAIT`.
    async fn exit_code(&self) -> Result<Option<i64>, BackendError> {
        let deadline = tokio::time::Instant::now() + EXIT_WAIT;
        loop {
            let inspect = self
                .docker
                .inspect_exec(&self.exec_id)
                .await
                .map_err(container_error)?;
            if inspect.running != Some(true) {
                return Ok(inspect.exit_code);
            }
            if tokio::time::Instant::now() > deadline {
                return Ok(None);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Kills the exec's process tree: its cgroup where it has one (nothing in it can leave), then
    /// its session and marker, from the host when its PIDs are visible, else from inside.
    async fn kill(&self) {
        if let Some(cgroup) = &self.cgroup {
            cgroup.kill().await;
            // Moved in before it could fork: nothing it started is anywhere else.
            if cgroup.holds_the_exec() {
                return;
            }
        }
        let Some(pid) = self.leader().await else {
            return;
        };
        if !kill_host_tree(pid, &self.marker).await {
            self.signal_from_inside(RunSignal::Kill).await;
        }
    }

    /// Sends `signal` to the exec's process tree, found as `kill` finds it; a `KILL` is `kill`.
    async fn signal(&self, signal: RunSignal) {
        if signal == RunSignal::Kill {
            return self.kill().await;
        }
        let Ok(sig) = Signal::try_from(signal.number()) else {
            return;
        };
        if let Some(cgroup) = self.cgroup.as_ref().filter(|c| c.holds_the_exec()) {
            return cgroup.signal(sig);
        }
        let Some(pid) = self.leader().await else {
            return;
        };
        if !signal_host_tree(pid, &self.marker, sig).await {
            self.signal_from_inside(signal).await;
        }
    }

    /// The host PID of the exec's first process (0 when unknown); `None` once it has ended.
    async fn leader(&self) -> Option<i64> {
        match self.docker.inspect_exec(&self.exec_id).await {
            Ok(i) if i.running == Some(false) && i.pid.unwrap_or(0) == 0 => None,
            Ok(i) => Some(i.pid.unwrap_or(0)),
            Err(_) => Some(0),
        }
    }

    /// The fallback, from inside the container: by the exec's marker.
    async fn signal_from_inside(&self, signal: RunSignal) {
        signal_in_container(&self.docker, &self.container, &self.marker, signal.number()).await;
    }
}

/// Moves a just-started exec into its cgroup. The engine reports the exec's PID a moment after
/// the start call returns: ask until it does (the wrapper waits meanwhile), backing off so that
/// many execs starting at once do not flood the engine with inspects.
async fn adopt(docker: &Docker, exec_id: &str, cgroup: &ExecCgroup) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match docker.inspect_exec(exec_id).await {
            Ok(i) if i.pid.unwrap_or(0) > 0 => {
                if let Err(e) = cgroup.adopt(i.pid.unwrap_or(0)) {
                    tracing::warn!(error = %e, "could not move an exec into its cgroup");
                }
                return;
            }
            Ok(i) if i.running == Some(false) && i.exit_code.is_some() => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not find an exec to move into its cgroup");
                return;
            }
            Ok(_) if tokio::time::Instant::now() > deadline => {
                tracing::warn!("an exec never reported its PID; it runs outside its cgroup");
                return;
            }
            Ok(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
        }
    }
}

/// A cgroup for a new exec of `container`, named after the random part of its marker.
async fn exec_cgroup(docker: &Docker, container: &str, marker: &str) -> Option<ExecCgroup> {
    let pid = docker
        .inspect_container(container, None::<InspectContainerOptions>)
        .await
        .ok()?
        .state?
        .pid?;
    let tag = marker.rsplit('=').next().unwrap_or(marker);
    ExecCgroup::create(pid, tag)
}

/// A running non-TTY exec.
pub struct DockerExec {
    handle: Handle,
    output: Output,
}

/// Starts `spec` in `container`, writing its stdin (if any) and closing it.
pub async fn start(
    docker: &Docker,
    container: &str,
    spec: &ExecSpec,
) -> Result<DockerExec, BackendError> {
    let input = spec.stdin.clone().map(Input::Bytes);
    start_with(docker, container, spec, input, true).await
}

/// Starts `spec` in `container` with `input` (if any) on its stdin, written as the command reads
/// it (a streamed input is never held whole), then closed. `own_cgroup` is for commands whose
/// every process must be found again (user commands); the server's own file scripts skip it,
/// and the two Engine calls and the wrapper it costs.
pub async fn start_with(
    docker: &Docker,
    container: &str,
    spec: &ExecSpec,
    input: Option<Input>,
    own_cgroup: bool,
) -> Result<DockerExec, BackendError> {
    let options = CreateExecOptions {
        cmd: Some(spec.argv.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: spec.cwd.clone(),
        attach_stdin: Some(input.is_some()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        ..Default::default()
    };
    let (handle, output, writer) = Handle::create(docker, container, options, own_cgroup).await?;
    if let Some(input) = input {
        // Written concurrently: a command may print before it has read all of its input.
        tokio::spawn(feed(writer, input));
    }
    Ok(DockerExec { handle, output })
}

#[cfg(test)]
impl DockerExec {
    /// The fallback kill alone, as when the engine's PIDs are not visible to the server.
    pub(crate) async fn kill_from_inside(&self) {
        self.handle.signal_from_inside(RunSignal::Kill).await;
    }
}

#[async_trait]
impl ExecProcess for DockerExec {
    async fn next_output(&mut self) -> Option<Result<(StdStream, Bytes), BackendError>> {
        loop {
            return match self.output.next().await? {
                Ok(LogOutput::StdOut { message }) => Some(Ok((StdStream::Stdout, message))),
                Ok(LogOutput::StdErr { message }) => Some(Ok((StdStream::Stderr, message))),
                Ok(_) => continue,
                Err(e) => Some(Err(container_error(e))),
            };
        }
    }

    async fn exit_code(&mut self) -> Result<Option<i64>, BackendError> {
        self.handle.exit_code().await
    }

    async fn kill(&mut self) {
        self.handle.kill().await;
    }

    async fn signal(&mut self, signal: RunSignal) -> Result<(), BackendError> {
        self.handle.signal(signal).await;
        Ok(())
    }
}

/// Resize, exit status and kill of a terminal exec.
struct DockerTerminal {
    handle: Arc<Handle>,
}

#[async_trait]
impl TerminalControl for DockerTerminal {
    async fn resize(&self, size: TermSize) -> Result<(), BackendError> {
        self.handle
            .docker
            .resize_exec(
                &self.handle.exec_id,
                ResizeExecOptions {
                    height: size.rows,
                    width: size.cols,
                },
            )
            .await
            .map_err(container_error)
    }

    async fn exit_code(&self) -> Result<Option<i64>, BackendError> {
        self.handle.exit_code().await
    }

    async fn kill(&self) {
        self.handle.kill().await;
    }
}

/// Opens bash-else-sh under a TTY of `size` in `container`.
pub async fn open_terminal(
    docker: &Docker,
    container: &str,
    size: TermSize,
) -> Result<TerminalSession, BackendError> {
    let options = CreateExecOptions {
        cmd: Some(vec!["/bin/sh".into(), "-c".into(), SHELL_PROBE.into()]),
        env: Some(vec!["TERM=xterm-256color".into()]),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(true),
        ..Default::default()
    };
    let (handle, output, input) = Handle::create(docker, container, options, true).await?;
    let control = DockerTerminal {
        handle: Arc::new(handle),
    };
    control.resize(size).await?;
    let output = output.filter_map(|item| async move {
        match item {
            Ok(LogOutput::Console { message } | LogOutput::StdOut { message }) => Some(Ok(message)),
            Ok(LogOutput::StdErr { message }) => Some(Ok(message)),
            Ok(_) => None,
            Err(e) => Some(Err(container_error(e))),
        }
    });
    Ok(TerminalSession {
        output: Box::pin(output),
        input,
        control: Arc::new(control),
    })
}
