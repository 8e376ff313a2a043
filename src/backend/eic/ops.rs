//! Exec and files over a pooled connection: every command is a fixed script or a quoted argv.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdout};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::args::{exec_command, script_command};
use super::isolate;
use super::pool::{Lease, Pool};
use crate::backend::content::{Input, feed};
use crate::backend::fs::{Script, Shell};
use crate::backend::marker::{SIGNAL_BY_MARKER_SCRIPT, new_marker};
use crate::backend::{BackendError, ExecProcess, ExecSpec, RunSignal, StdStream};
use crate::sync::Locked;

/// ssh's exit status when the connection itself failed.
const SSH_TRANSPORT_FAILURE: i32 = 255;
/// How long a kill of a remote tree may take.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Spawns `remote` on the lease's connection with piped stdio.
fn spawn(lease: &Lease, remote: &str) -> Result<Child, BackendError> {
    spawn_client(lease, remote, false)
}

/// The same, the client killed when its `Child` is dropped where `kill_on_drop` says so.
fn spawn_client(lease: &Lease, remote: &str, kill_on_drop: bool) -> Result<Child, BackendError> {
    let mut cmd = lease.conn.locked().client(remote);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(kill_on_drop);
    cmd.spawn()
        .map_err(|e| BackendError::Failed(format!("starting ssh: {e}")))
}

/// A running remote exec.
pub struct SshExec {
    lease: Lease,
    pool: Arc<Pool>,
    child: Child,
    marker: String,
    output: mpsc::Receiver<(StdStream, Bytes)>,
    /// The last signal sent: ssh reports a remote death by signal as 255.
    signalled: Option<RunSignal>,
}

pub fn start_exec(lease: Lease, pool: Arc<Pool>, spec: &ExecSpec) -> Result<SshExec, BackendError> {
    let marker = new_marker();
    let remote = format!(
        "{}; {}",
        isolate::join_command(isolate::tag_of(&marker)),
        exec_command(&marker, &spec.env, spec.cwd.as_deref(), &spec.argv)
    );
    let mut child = spawn(&lease, &remote)?;
    let (tx, output) = mpsc::channel(32);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump(out, StdStream::Stdout, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(err, StdStream::Stderr, tx));
    }
    let stdin = child.stdin.take();
    let input = spec.stdin.clone();
    tokio::spawn(async move {
        if let Some(mut pipe) = stdin {
            if let Some(bytes) = input {
                let _ = pipe.write_all(&bytes).await;
            }
            let _ = pipe.shutdown().await;
        }
    });
    Ok(SshExec {
        lease,
        pool,
        child,
        marker,
        output,
        signalled: None,
    })
}

async fn pump(
    mut from: impl AsyncRead + Unpin,
    stream: StdStream,
    to: mpsc::Sender<(StdStream, Bytes)>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0
            || to
                .send((stream, Bytes::copy_from_slice(&buf[..n])))
                .await
                .is_err()
        {
            break;
        }
    }
}

#[async_trait]
impl ExecProcess for SshExec {
    async fn next_output(&mut self) -> Option<Result<(StdStream, Bytes), BackendError>> {
        self.output.recv().await.map(Ok)
    }

    async fn exit_code(&mut self) -> Result<Option<i64>, BackendError> {
        let status = self
            .child
            .wait()
            .await
            .map_err(|e| BackendError::Failed(format!("waiting for ssh: {e}")))?;
        if status.code() == Some(SSH_TRANSPORT_FAILURE) && !self.lease.conn.locked().is_alive() {
            let instance = self.lease.conn.locked().instance_id.clone();
            self.pool.poison(&instance).await;
            return Err(BackendError::Gateway(format!(
                "the connection to the instance was lost; see {}",
                super::DOCS
            )));
        }
        // Killed by the signal it was sent, as a shell reports it (and Docker does).
        if let (Some(SSH_TRANSPORT_FAILURE), Some(signal)) = (status.code(), self.signalled) {
            return Ok(Some(128 + i64::from(signal.number())));
        }
        Ok(status.code().map(i64::from))
    }

    async fn kill(&mut self) {
        // The remote tree first (its cgroup, then what carries its marker), then the local client.
        let remote = format!(
            "{}; {}",
            isolate::kill_command(isolate::tag_of(&self.marker)),
            script_command(SIGNAL_BY_MARKER_SCRIPT, &[&self.marker, "9"])
        );
        let _ = run_remote(&self.lease, &remote).await;
        let _ = self.child.kill().await;
    }

    async fn signal(&mut self, signal: RunSignal) -> Result<(), BackendError> {
        self.signalled = Some(signal);
        if signal == RunSignal::Kill {
            self.kill().await;
            return Ok(());
        }
        // Its cgroup where it has one, else what carries its marker.
        let number = signal.number().to_string();
        let remote = format!(
            "{} || {}",
            isolate::signal_command(isolate::tag_of(&self.marker), signal.number()),
            script_command(SIGNAL_BY_MARKER_SCRIPT, &[&self.marker, &number])
        );
        match run_remote(&self.lease, &remote).await? {
            true => Ok(()),
            false => Err(BackendError::Failed("signalling the run failed".into())),
        }
    }
}

/// Runs `remote` (a kill or a signal) with no input, for `KILL_TIMEOUT` at most; whether it
/// succeeded.
async fn run_remote(lease: &Lease, remote: &str) -> Result<bool, BackendError> {
    let mut child = spawn(lease, remote)?;
    drop(child.stdin.take());
    match tokio::time::timeout(KILL_TIMEOUT, child.wait()).await {
        Ok(status) => Ok(status.is_ok_and(|s| s.success())),
        Err(_) => {
            let _ = child.kill().await;
            Err(BackendError::Failed("signalling the run timed out".into()))
        }
    }
}

/// A fixed script running over the connection: stdout read as it comes, the start of stderr kept
/// for the log.
struct SshScript {
    child: Child,
    stdout: ChildStdout,
    buf: Vec<u8>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

/// Most stderr of a script kept for the log, in bytes.
const STDERR_KEPT: usize = 4096;

/// Starts `remote` with `stdin` written to it as it reads; the client is killed if the script is
/// dropped before it ends (a download the caller stopped reading).
fn start_script(lease: &Lease, remote: &str, stdin: Input) -> Result<SshScript, BackendError> {
    let mut child = spawn_client(lease, remote, true)?;
    if let Some(pipe) = child.stdin.take() {
        tokio::spawn(feed(pipe, stdin));
    }
    let stderr = child.stderr.take().map(|mut from| {
        tokio::spawn(async move {
            let (mut kept, mut buf) = (Vec::new(), [0u8; 1024]);
            while let Ok(n @ 1..) = from.read(&mut buf).await {
                let room = STDERR_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            kept
        })
    });
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| BackendError::Failed("ssh has no stdout".into()))?;
    Ok(SshScript {
        child,
        stdout,
        buf: vec![0u8; 64 * 1024],
        stderr,
    })
}

#[async_trait]
impl Script for SshScript {
    async fn next_stdout(&mut self) -> Option<Result<Bytes, BackendError>> {
        match self.stdout.read(&mut self.buf).await {
            Ok(0) => None,
            Ok(n) => Some(Ok(Bytes::copy_from_slice(&self.buf[..n]))),
            Err(e) => Some(Err(BackendError::Failed(format!("reading ssh: {e}")))),
        }
    }

    async fn exit_code(&mut self) -> Result<i32, BackendError> {
        let status = self
            .child
            .wait()
            .await
            .map_err(|e| BackendError::Failed(format!("waiting for ssh: {e}")))?;
        let code = status.code().unwrap_or(-1);
        if code == SSH_TRANSPORT_FAILURE {
            let stderr = match self.stderr.take() {
                Some(task) => task.await.unwrap_or_default(),
                None => Vec::new(),
            };
            tracing::warn!(stderr = %String::from_utf8_lossy(&stderr).trim(), "remote command failed");
            return Err(BackendError::Gateway(format!(
                "the connection to the instance failed; see {}",
                super::DOCS
            )));
        }
        Ok(code)
    }

    async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// Runs the script `$1` with the arguments after it (the first of which is the files base): as the
/// OS user where the base (or, while it is missing, its parent) is writable by it, else under
/// `sudo -n`, as on workspace instances whose `/opt/configs` and `/configs` belong to root. The
/// scripts walk their paths without following links out of the base either way, and give what
/// they write to 1000:1000 when they run as root.
pub const AS_BASE_OWNER: &str = r#"s=$1; shift
b=$1
[ -e "$b" ] || b=${b%/*}
[ -n "$b" ] || b=/
if [ "$(id -u)" = 0 ] || { [ -w "$b" ] && [ -x "$b" ]; }; then exec sh -c "$s" sh "$@"; fi
exec sudo -n sh -c "$s" sh "$@""#;

/// The file scripts run over the lease's connection, under `sudo -n` where the base needs it.
pub struct LeaseShell<'a>(pub &'a Lease);

#[async_trait]
impl Shell for LeaseShell<'_> {
    async fn start(
        &self,
        script: &str,
        args: &[&str],
        stdin: Input,
    ) -> Result<Box<dyn Script>, BackendError> {
        let mut wrapped = vec![script];
        wrapped.extend_from_slice(args);
        let remote = script_command(AS_BASE_OWNER, &wrapped);
        Ok(Box::new(start_script(self.0, &remote, stdin)?))
    }
}

/// Runs the configured restart command on the instance.
pub async fn restart(lease: &Lease, command: &str) -> Result<(), BackendError> {
    let mut script = start_script(
        lease,
        &script_command("eval \"$1\"", &[command]),
        Input::empty(),
    )?;
    while script.next_stdout().await.is_some() {}
    match script.exit_code().await? {
        0 => Ok(()),
        c => Err(BackendError::Gateway(format!(
            "the restart command on the instance exited {c}; see {}",
            super::DOCS
        ))),
    }
}
