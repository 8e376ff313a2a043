//! Files and plugin trees inside a workspace, the same on both paths: fixed POSIX `sh` scripts run
//! in the workspace (a Docker exec, or a command over SSH) through a [`Shell`], each walking its
//! path one component at a time so that a link the workspace planted never leads outside its root.
//!
//! The walk is checked after each step, not before: the script enters a component with `cd`,
//! then asks the kernel where it is (`pwd -P`); a file is opened first and its open descriptor is
//! then asked where it points (`/proc/self/fd`). What is checked is what is used, so a link
//! swapped in between cannot redirect the operation. Links that stay inside the root are
//! followed; a link as the last component of a write or delete is replaced or removed itself.

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream;

mod scripts;

use scripts::*;
pub use scripts::{LEAVES_ROOT_MESSAGE, deliver_script};

use super::content::{FileStream, Input};
use super::{BackendError, FileEntry};
use crate::files::{Etag, Precondition, RelPath};

/// A fixed script started in the workspace: its stdout as it comes, then its exit code.
#[async_trait]
pub trait Script: Send {
    /// The next piece of stdout; `None` once it has ended.
    async fn next_stdout(&mut self) -> Option<Result<Bytes, BackendError>>;
    /// The exit code, once stdout has ended.
    async fn exit_code(&mut self) -> Result<i32, BackendError>;
    /// Stops the script.
    async fn kill(&mut self);
}

/// Starts a fixed script in the workspace: `sh -c <script> sh <args…>`, reading `stdin`.
#[async_trait]
pub trait Shell: Send + Sync {
    async fn start(
        &self,
        script: &str,
        args: &[&str],
        stdin: Input,
    ) -> Result<Box<dyn Script>, BackendError>;
}

/// Most stdout a script run to its end may send back, in bytes (a listing of a huge tree is cut
/// here rather than held whole; file contents are streamed instead).
const MAX_SCRIPT_OUTPUT: usize = 64 * 1024 * 1024;

/// Runs a script to its end: its exit code and its stdout.
pub async fn run(
    sh: &dyn Shell,
    script: &str,
    args: &[&str],
    stdin: Input,
) -> Result<(i32, Vec<u8>), BackendError> {
    let mut running = sh.start(script, args, stdin).await?;
    let mut out = Vec::new();
    while let Some(chunk) = running.next_stdout().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > MAX_SCRIPT_OUTPUT {
            running.kill().await;
            return Err(BackendError::Invalid("the listing is too large".into()));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((running.exit_code().await?, out))
}

/// A fresh tag for temporary names (`wss-` and 12 hex digits).
fn temp_tag() -> String {
    format!("wss-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// The name a plugin tree is delivered under before the swap.
fn incoming_name(name: &str, tag: &str) -> String {
    format!(".{name}.new-{tag}")
}

/// Owner of written files, created directories and delivered plugins (the agent user), applied
/// when the scripts run as root.
pub const AGENT_OWNER: u32 = 1000;

/// Maps the exit codes every script shares; `None` for success.
fn outcome(code: i32, what: &str) -> Result<(), BackendError> {
    match code {
        0 => Ok(()),
        MISSING => Err(BackendError::NotFound),
        IS_DIR => Err(BackendError::Invalid("path is a directory".into())),
        NOT_DIR => Err(BackendError::Invalid("path is not a directory".into())),
        LEAVES_ROOT => Err(BackendError::Invalid(LEAVES_ROOT_MESSAGE.into())),
        PRECONDITION => Err(BackendError::PreconditionFailed),
        BUSY => Err(BackendError::Busy),
        c => Err(BackendError::Failed(format!("{what} exited {c}"))),
    }
}

/// The outcome of a conditional change: a missing file (or parent) fails a condition that needs
/// the file.
fn conditional_outcome(code: i32, cond: &Precondition, what: &str) -> Result<(), BackendError> {
    match code {
        MISSING if cond.needs_the_file() => Err(BackendError::PreconditionFailed),
        c => outcome(c, what),
    }
}

fn split(path: &RelPath) -> (&str, &str) {
    (path.parent().unwrap_or("."), path.file_name())
}

/// Entries under `dir` (the root when `None`), `depth` levels down, paths relative to the root.
/// A missing root lists as empty. Only names, kinds and sizes are read, never contents.
pub async fn list(
    sh: &dyn Shell,
    root: &str,
    dir: Option<&RelPath>,
    depth: u8,
) -> Result<Vec<FileEntry>, BackendError> {
    let target = dir.map_or(".", RelPath::as_str);
    let depth = depth.to_string();
    let (code, out) = run(sh, &script(LIST), &[root, target, &depth], Input::empty()).await?;
    match outcome(code, "list") {
        Err(BackendError::NotFound) if dir.is_none() => return Ok(Vec::new()),
        other => other?,
    }
    let prefix = dir.map(|d| format!("{d}/")).unwrap_or_default();
    let mut entries: Vec<FileEntry> = out
        .split(|&b| b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|record| {
            let text = String::from_utf8_lossy(record);
            let mut parts = text.splitn(3, ' ');
            let (kind, size, path) = (parts.next()?, parts.next()?, parts.next()?);
            let path = path.strip_prefix("./").unwrap_or(path);
            let dir = kind == "d";
            Some(FileEntry {
                path: format!("{prefix}{path}"),
                size: if kind == "f" {
                    size.parse().unwrap_or(0)
                } else {
                    0
                },
                dir,
            })
        })
        .collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Longest first line of a read (`<size> <sha256>`), in bytes.
const MAX_READ_HEADER: usize = 128;

/// `path` as a stream, with its size and tag; `TooLarge` past `max` before any content is sent.
pub async fn read(
    sh: &dyn Shell,
    root: &str,
    path: &RelPath,
    max: u64,
) -> Result<FileStream, BackendError> {
    let (dir, name) = split(path);
    let max_s = max.to_string();
    let args = [root, dir, name, max_s.as_str()];
    let mut running = sh.start(&script(READ), &args, Input::empty()).await?;
    let mut head = Vec::new();
    let newline = loop {
        if let Some(at) = head.iter().position(|&b| b == b'\n') {
            break at;
        }
        if head.len() > MAX_READ_HEADER {
            running.kill().await;
            return Err(BackendError::Failed("read sent no header".into()));
        }
        match running.next_stdout().await {
            Some(chunk) => head.extend_from_slice(&chunk?),
            None => break head.len(),
        }
    };
    let line = String::from_utf8_lossy(&head[..newline]).into_owned();
    let header = line
        .split_once(' ')
        .and_then(|(size, hex)| Some((size.parse::<u64>().ok()?, Etag::from_hex(hex)?)));
    let Some((size, etag)) = header else {
        while running.next_stdout().await.is_some() {}
        let code = running.exit_code().await?;
        if code == TOO_LARGE {
            return Err(BackendError::TooLarge(
                line.trim().parse().unwrap_or(max + 1),
            ));
        }
        outcome(code, "read")?;
        return Err(BackendError::Failed("read sent no header".into()));
    };
    let rest = Bytes::from(head).slice(newline + 1..);
    Ok(FileStream {
        size,
        etag,
        body: body_of(running, rest, size),
    })
}

/// The bytes of a read after its header: `first`, then the rest of stdout, `size` bytes at most
/// (a file that grew while it was read is cut at the size announced); a script that fails before
/// then ends the stream with an error, so a cut file never looks whole.
fn body_of(running: Box<dyn Script>, first: Bytes, size: u64) -> super::ByteStream {
    struct Reading {
        running: Box<dyn Script>,
        first: Option<Bytes>,
        left: u64,
    }
    let first = (!first.is_empty()).then_some(first);
    let state = Reading {
        running,
        first,
        left: size,
    };
    Box::pin(stream::unfold(Some(state), |state| async move {
        let mut r = state?;
        if r.left == 0 {
            // Everything announced has come: a script still sending is stopped, one that
            // failed is an error.
            return match r.running.next_stdout().await {
                Some(Ok(_)) => {
                    r.running.kill().await;
                    None
                }
                Some(Err(e)) => Some((Err(e), None)),
                None => match r.running.exit_code().await.and_then(|c| outcome(c, "read")) {
                    Ok(()) => None,
                    Err(e) => Some((Err(e), None)),
                },
            };
        }
        let next = match r.first.take() {
            Some(first) => Some(Ok(first)),
            None => r.running.next_stdout().await,
        };
        match next {
            Some(Ok(mut chunk)) => {
                let take = usize::try_from(r.left)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len());
                chunk.truncate(take);
                r.left -= take as u64;
                Some((Ok(chunk), Some(r)))
            }
            Some(Err(e)) => Some((Err(e), None)),
            None => {
                let failed = r.running.exit_code().await.and_then(|c| outcome(c, "read"));
                let short = Err(BackendError::Failed("the file ended early".into()));
                Some((failed.and(short), None))
            }
        }
    }))
}

/// Writes one file of `size` bytes from `content`, atomically, creating parent directories, if
/// `cond` holds of the file then; a content shorter than `size` changes nothing.
pub async fn write_one(
    sh: &dyn Shell,
    root: &str,
    path: &RelPath,
    size: u64,
    content: Input,
    cond: &Precondition,
) -> Result<(), BackendError> {
    let stage = format!(".{}.stage", temp_tag());
    let (dir, name) = split(path);
    let (mode, tags) = cond.script_args();
    let size = size.to_string();
    let args = [root, &stage, dir, name, &size, mode, &tags];
    let body = format!("{CONDITION}{WRITE_ONE}");
    let (code, _) = run(sh, &writing_script(&body), &args, content).await?;
    match code {
        TRUNCATED => Err(BackendError::Invalid(
            "the content ended before its announced length".into(),
        )),
        MISSING if !cond.needs_the_file() => Err(BackendError::Invalid(
            "a parent of the path is missing".into(),
        )),
        c => conditional_outcome(c, cond, "write"),
    }
}

/// Writes every file atomically, creating parent directories: all are checked first, so a
/// refused batch writes nothing.
pub async fn write(
    sh: &dyn Shell,
    root: &str,
    files: &[(RelPath, Vec<u8>)],
) -> Result<(), BackendError> {
    let stage = format!(".{}.stage", temp_tag());
    let archive =
        flat_tar(files).map_err(|e| BackendError::Failed(format!("building the archive: {e}")))?;
    let mut args = vec![root, stage.as_str()];
    for (path, _) in files {
        let (dir, name) = split(path);
        args.extend([dir, name]);
    }
    let (code, _) = run(sh, &writing_script(WRITE), &args, Input::Bytes(archive)).await?;
    match code {
        MISSING => Err(BackendError::Invalid(
            "a parent of the path is missing".into(),
        )),
        c => outcome(c, "write"),
    }
}

/// A tar holding each file's content under its index (`0`, `1`, …), mode 0644.
fn flat_tar(files: &[(RelPath, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let now = chrono::Utc::now().timestamp() as u64;
    for (i, (_, content)) in files.iter().enumerate() {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(u64::from(AGENT_OWNER));
        h.set_gid(u64::from(AGENT_OWNER));
        h.set_size(content.len() as u64);
        h.set_mtime(now);
        builder.append_data(&mut h, i.to_string(), content.as_slice())?;
    }
    builder.into_inner()
}

/// Deletes a file or a whole tree if `cond` holds of it; `NotFound` when missing.
pub async fn delete(
    sh: &dyn Shell,
    root: &str,
    path: &RelPath,
    cond: &Precondition,
) -> Result<(), BackendError> {
    let (dir, name) = split(path);
    let (mode, tags) = cond.script_args();
    let body = format!("{CONDITION}{DELETE}");
    let args = [root, dir, name, mode, &tags];
    let (code, _) = run(sh, &script(&body), &args, Input::empty()).await?;
    conditional_outcome(code, cond, "delete")
}

/// Puts the staged tree in place as `<root>/plugins/<name>`, replacing a previous version
/// atomically.
pub async fn deliver_plugin(
    sh: &dyn Shell,
    root: &str,
    name: &str,
    staged: &std::path::Path,
) -> Result<(), BackendError> {
    let incoming = incoming_name(name, &temp_tag());
    let tree = staged.to_path_buf();
    let archive =
        tokio::task::spawn_blocking(move || super::tar::pack(&tree, "", u64::from(AGENT_OWNER)))
            .await
            .map_err(|e| BackendError::Failed(e.to_string()))?
            .map_err(|e| BackendError::Failed(format!("packing the plugin: {e}")))?;
    let args = [root, incoming.as_str(), name];
    let (code, _) = run(sh, &deliver_script(), &args, Input::Bytes(archive)).await?;
    outcome(code, "plugin delivery")
}

/// Removes `<root>/plugins/<name>`; `NotFound` when it is not installed.
pub async fn remove_plugin(sh: &dyn Shell, root: &str, name: &str) -> Result<(), BackendError> {
    let (code, _) = run(sh, &script(REMOVE_PLUGIN), &[root, name], Input::empty()).await?;
    outcome(code, "plugin removal")
}

#[cfg(test)]
mod tests;
