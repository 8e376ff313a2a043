//! Exec and files over a pooled connection: every command is a fixed script or a quoted argv.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;
use tokio::sync::mpsc;

use super::args::{exec_command, script_command};
use super::pool::{Lease, Pool};
use crate::backend::marker::{KILL_BY_MARKER_SCRIPT, new_marker};
use crate::backend::{BackendError, ExecProcess, ExecSpec, FileEntry, PLUGINS_SUBDIR, StdStream};
use crate::files::{EXIT_MISSING, RENAME_SCRIPT, RelPath, build_tar, temp_name, temp_tag};
use crate::plugins::{self, PLUGIN_OWNER};

/// ssh's exit status when the connection itself failed.
const SSH_TRANSPORT_FAILURE: i32 = 255;
/// How long a kill of a remote tree may take.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Spawns `remote` on the lease's connection with piped stdio.
fn spawn(lease: &Lease, remote: &str) -> Result<Child, BackendError> {
    let mut cmd = lease.conn.lock().unwrap().client(remote);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
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
}

pub fn start_exec(lease: Lease, pool: Arc<Pool>, spec: &ExecSpec) -> Result<SshExec, BackendError> {
    let marker = new_marker();
    let remote = exec_command(&marker, &spec.env, spec.cwd.as_deref(), &spec.argv);
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
        if status.code() == Some(SSH_TRANSPORT_FAILURE)
            && !self.lease.conn.lock().unwrap().is_alive()
        {
            let instance = self.lease.conn.lock().unwrap().instance_id.clone();
            self.pool.poison(&instance).await;
            return Err(BackendError::Gateway(format!(
                "the connection to the instance was lost; see {}",
                super::DOCS
            )));
        }
        Ok(status.code().map(i64::from))
    }

    async fn kill(&mut self) {
        // The remote tree first (found by its marker), then the local client.
        let remote = script_command(KILL_BY_MARKER_SCRIPT, &[&self.marker]);
        if let Ok(mut killer) = spawn(&self.lease, &remote) {
            drop(killer.stdin.take());
            let _ = tokio::time::timeout(KILL_TIMEOUT, killer.wait()).await;
        }
        let _ = self.child.kill().await;
    }
}

/// Runs a fixed script with positional `args` and `stdin`; returns (exit code, stdout).
async fn run(
    lease: &Lease,
    script: &str,
    args: &[&str],
    stdin: &[u8],
) -> Result<(i32, Vec<u8>), BackendError> {
    let mut child = spawn(lease, &script_command(script, args))?;
    let mut pipe = child.stdin.take();
    let input = stdin.to_vec();
    let writer = async move {
        if let Some(p) = pipe.as_mut() {
            let _ = p.write_all(&input).await;
            let _ = p.shutdown().await;
        }
        drop(pipe);
    };
    let (out, ()) = tokio::join!(child.wait_with_output(), writer);
    let out = out.map_err(|e| BackendError::Failed(format!("waiting for ssh: {e}")))?;
    let code = out.status.code().unwrap_or(-1);
    if code == SSH_TRANSPORT_FAILURE {
        tracing::warn!(stderr = %String::from_utf8_lossy(&out.stderr).trim(), "remote command failed");
        return Err(BackendError::Gateway(format!(
            "the connection to the instance failed; see {}",
            super::DOCS
        )));
    }
    Ok((code, out.stdout))
}

/// Exit codes the file scripts use to say what happened (besides `EXIT_MISSING`, 3).
const TOO_LARGE: i32 = 4;
const IS_DIR: i32 = 5;
const NOT_DIR: i32 = 6;

const LIST_SCRIPT: &str = r#"cd -- "$1" 2>/dev/null || { [ "$2" = . ] && exit 0; exit 3; }
[ -e "$2" ] || exit 3
[ -d "$2" ] || exit 6
exec find "$2" -mindepth 1 -maxdepth "$3" -printf '%y %s %p\0'"#;

const READ_SCRIPT: &str = r#"cd -- "$1" 2>/dev/null || exit 3
[ -d "$2" ] && exit 5
[ -f "$2" ] || exit 3
size=$(wc -c < "$2") || exit 3
[ "$size" -gt "$3" ] && { echo "$size"; exit 4; }
exec cat -- "$2""#;

const DELETE_SCRIPT: &str = r#"cd -- "$1" 2>/dev/null || exit 3
[ -e "$2" ] || [ -L "$2" ] || exit 3
exec rm -rf -- "$2""#;

/// Unpacks a tar of temporaries from stdin under the base, then renames each into place.
const WRITE_SCRIPT: &str = r#"mkdir -p -- "$1" && cd -- "$1" || exit 7
tar -x -f - --no-same-owner || exit 7
shift
"#;

fn failed(what: &str, code: i32) -> BackendError {
    BackendError::Failed(format!("remote {what} exited {code}"))
}

pub async fn list(
    lease: &Lease,
    base: &str,
    dir: Option<&RelPath>,
    depth: u8,
) -> Result<Vec<FileEntry>, BackendError> {
    let target = dir.map_or(".", RelPath::as_str);
    let depth = depth.to_string();
    let (code, out) = run(lease, LIST_SCRIPT, &[base, target, &depth], b"").await?;
    match code {
        0 => {}
        EXIT_MISSING => return Err(BackendError::NotFound),
        NOT_DIR => return Err(BackendError::Invalid("path is not a directory".into())),
        c => return Err(failed("list", c)),
    }
    let mut entries = Vec::new();
    for record in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let text = String::from_utf8_lossy(record);
        let mut parts = text.splitn(3, ' ');
        let (Some(kind), Some(size), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let dir = kind == "d";
        entries.push(FileEntry {
            path: path.strip_prefix("./").unwrap_or(path).to_owned(),
            size: if dir { 0 } else { size.parse().unwrap_or(0) },
            dir,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

pub async fn read(
    lease: &Lease,
    base: &str,
    path: &RelPath,
    max: u64,
) -> Result<Vec<u8>, BackendError> {
    let max_s = max.to_string();
    let (code, out) = run(lease, READ_SCRIPT, &[base, path.as_str(), &max_s], b"").await?;
    match code {
        0 => Ok(out),
        EXIT_MISSING => Err(BackendError::NotFound),
        IS_DIR => Err(BackendError::Invalid("path is a directory".into())),
        TOO_LARGE => Err(BackendError::TooLarge(
            String::from_utf8_lossy(&out)
                .trim()
                .parse()
                .unwrap_or(max + 1),
        )),
        c => Err(failed("read", c)),
    }
}

/// Writes all files in one session: a tar of temporaries over stdin, then one rename pass.
pub async fn write(
    lease: &Lease,
    base: &str,
    files: &[(RelPath, Vec<u8>)],
) -> Result<(), BackendError> {
    let tag = temp_tag();
    let archive = build_tar(files, &tag, None)
        .map_err(|e| BackendError::Failed(format!("building the archive: {e}")))?;
    let script = format!("{WRITE_SCRIPT}{RENAME_SCRIPT}");
    let pairs: Vec<String> = files
        .iter()
        .flat_map(|(p, _)| [temp_name(p, &tag), p.as_str().to_owned()])
        .collect();
    let mut args = vec![base];
    args.extend(pairs.iter().map(String::as_str));
    match run(lease, &script, &args, &archive).await?.0 {
        0 => Ok(()),
        c => Err(failed("write", c)),
    }
}

pub async fn delete(lease: &Lease, base: &str, path: &RelPath) -> Result<(), BackendError> {
    match run(lease, DELETE_SCRIPT, &[base, path.as_str()], b"")
        .await?
        .0
    {
        0 => Ok(()),
        EXIT_MISSING => Err(BackendError::NotFound),
        c => Err(failed("delete", c)),
    }
}

/// Streams the staged plugin as a tar into `<base>/plugins` under a temporary name, gives it to
/// the agent user, and swaps it into place: one session.
pub async fn deliver_plugin(
    lease: &Lease,
    base: &str,
    name: &str,
    staged: &std::path::Path,
) -> Result<(), BackendError> {
    let (incoming, archive) = plugins::pack_incoming(staged, name, "")
        .await
        .map_err(|e| BackendError::Failed(format!("packing the plugin: {e}")))?;
    let dir = format!("{base}/{PLUGINS_SUBDIR}");
    let script = format!(
        "mkdir -p -- \"$1\" && tar -x -f - --no-same-owner -C \"$1\" || exit 1\n\
         chown -R {PLUGIN_OWNER}:{PLUGIN_OWNER} -- \"$1/$2\" 2>/dev/null || sudo -n chown -R {PLUGIN_OWNER}:{PLUGIN_OWNER} -- \"$1/$2\" || {{ rm -rf -- \"$1/$2\"; exit 1; }}\n{}",
        plugins::SWAP_SCRIPT
    );
    match run(lease, &script, &[&dir, &incoming, name], &archive)
        .await?
        .0
    {
        0 => Ok(()),
        c => Err(failed("plugin delivery", c)),
    }
}

pub async fn remove_plugin(lease: &Lease, base: &str, name: &str) -> Result<(), BackendError> {
    let dir = format!("{base}/{PLUGINS_SUBDIR}");
    match run(lease, plugins::REMOVE_SCRIPT, &[&dir, name], b"")
        .await?
        .0
    {
        0 => Ok(()),
        EXIT_MISSING => Err(BackendError::NotFound),
        c => Err(failed("plugin removal", c)),
    }
}

/// Runs the configured restart command on the instance.
pub async fn restart(lease: &Lease, command: &str) -> Result<(), BackendError> {
    match run(lease, "eval \"$1\"", &[command], b"").await?.0 {
        0 => Ok(()),
        c => Err(BackendError::Gateway(format!(
            "the restart command on the instance exited {c}; see {}",
            super::DOCS
        ))),
    }
}
