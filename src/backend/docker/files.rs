//! Files on the Docker path through the archive API (tar out for list and read, tar in for
//! writes). Writes land under temporary names and are renamed into place, so a reader never sees
//! half a file; names only ever travel as argv elements, never through a shell's parser.

use std::io::Read;

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::container_error;
use super::settings::CONFIGS_MOUNT;

/// Owner of written files and of the directories created for them (the agent user).
const FILE_OWNER: u64 = 1000;
use crate::backend::{BackendError, FileEntry, FilesRoot, PLUGINS_SUBDIR};
use crate::files::{
    EXIT_MISSING, LOCAL_ROOTS, RENAME_SCRIPT, RelPath, build_tar, temp_name, temp_tag,
};
use crate::plugins;

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

fn join(root: &str, path: Option<&RelPath>) -> String {
    match path {
        Some(p) => format!("{root}/{p}"),
        None => root.to_owned(),
    }
}

/// Maps an archive error: a missing path is `NotFound`, a missing container `NotRunning`.
fn archive_error(e: DockerError) -> BackendError {
    match &e {
        DockerError::DockerResponseServerError {
            status_code: 404,
            message,
        } if !message.contains("No such container") => BackendError::NotFound,
        _ => container_error(e),
    }
}

/// Streams the tar of `path` in `container` into `consume`, on a blocking thread.
async fn with_archive<T: Send + 'static>(
    docker: &Docker,
    container: &str,
    path: String,
    consume: impl FnOnce(&mut tar::Archive<Box<dyn Read + Send>>) -> Result<T, BackendError>
    + Send
    + 'static,
) -> Result<T, BackendError> {
    let mut stream =
        docker.download_from_container(container, Some(DownloadFromContainerOptions { path }));
    // The first chunk tells a missing path or container apart from a good archive.
    let first = match stream.next().await {
        Some(Ok(chunk)) => chunk,
        Some(Err(e)) => return Err(archive_error(e)),
        None => Bytes::new(),
    };
    let rest = stream.map_err(|e| std::io::Error::other(e.to_string()));
    let all = futures_util::stream::once(async { Ok(first) }).chain(rest);
    let reader = SyncIoBridge::new(StreamReader::new(Box::pin(all)));
    tokio::task::spawn_blocking(move || {
        let reader: Box<dyn Read + Send> = Box::new(reader);
        consume(&mut tar::Archive::new(reader))
    })
    .await
    .map_err(|e| BackendError::Failed(e.to_string()))?
}

fn tar_failed(e: std::io::Error) -> BackendError {
    BackendError::Failed(format!("reading the archive: {e}"))
}

/// Entries under `root/dir`, at most `depth` levels down, paths relative to `root`.
pub async fn list(
    docker: &Docker,
    container: &str,
    root: &str,
    dir: Option<&RelPath>,
    depth: u8,
) -> Result<Vec<FileEntry>, BackendError> {
    let prefix = dir.map(|d| format!("{d}/")).unwrap_or_default();
    with_archive(docker, container, join(root, dir), move |archive| {
        let mut out = Vec::new();
        for entry in archive.entries().map_err(tar_failed)? {
            let entry = entry.map_err(tar_failed)?;
            let path = entry
                .path()
                .map_err(tar_failed)?
                .to_string_lossy()
                .into_owned();
            // The archive's first component is the listed directory itself.
            let Some((_, below)) = path.trim_end_matches('/').split_once('/') else {
                if !entry.header().entry_type().is_dir() {
                    return Err(BackendError::Invalid("path is not a directory".into()));
                }
                continue;
            };
            if below.split('/').count() > usize::from(depth) {
                continue;
            }
            out.push(FileEntry {
                path: format!("{prefix}{below}"),
                size: entry.header().size().unwrap_or(0),
                dir: entry.header().entry_type().is_dir(),
            });
        }
        Ok(out)
    })
    .await
}

/// The bytes of `root/path`, refused past `max_bytes` before any content is read.
pub async fn read(
    docker: &Docker,
    container: &str,
    root: &str,
    path: &RelPath,
    max_bytes: u64,
) -> Result<Vec<u8>, BackendError> {
    with_archive(docker, container, join(root, Some(path)), move |archive| {
        let mut entries = archive.entries().map_err(tar_failed)?;
        let mut entry = entries
            .next()
            .ok_or(BackendError::NotFound)?
            .map_err(tar_failed)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            return Err(BackendError::Invalid("path is a directory".into()));
        }
        if !kind.is_file() {
            return Err(BackendError::Invalid("path is not a regular file".into()));
        }
        let size = entry.header().size().map_err(tar_failed)?;
        if size > max_bytes {
            return Err(BackendError::TooLarge(size));
        }
        let mut content = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut content).map_err(tar_failed)?;
        Ok(content)
    })
    .await
}

/// Writes every file atomically under `/configs`: one upload, then one rename exec.
pub async fn write(
    docker: &Docker,
    container: &str,
    files: &[(RelPath, Vec<u8>)],
) -> Result<(), BackendError> {
    let tag = temp_tag();
    let archive = build_tar(files, &tag, Some(FILE_OWNER))
        .map_err(|e| BackendError::Failed(format!("building the archive: {e}")))?;
    let options = UploadToContainerOptions {
        path: CONFIGS_MOUNT.to_owned(),
        ..Default::default()
    };
    docker
        .upload_to_container(container, Some(options), bollard::body_full(archive.into()))
        .await
        .map_err(container_error)?;
    let mut argv: Vec<String> = ["/bin/sh", "-c", RENAME_SCRIPT, "rename"]
        .map(str::to_owned)
        .into();
    for (path, _) in files {
        argv.push(format!("{CONFIGS_MOUNT}/{}", temp_name(path, &tag)));
        argv.push(format!("{CONFIGS_MOUNT}/{path}"));
    }
    run_ok(docker, container, argv, "rename into place").await
}

/// Deletes `/configs/path` (a file or a whole directory); `NotFound` when it does not exist.
pub async fn delete(docker: &Docker, container: &str, path: &RelPath) -> Result<(), BackendError> {
    let full = format!("{CONFIGS_MOUNT}/{path}");
    // Existence first: `rm -f` would succeed on a missing path too.
    with_archive(docker, container, full.clone(), |_| Ok(())).await?;
    let argv = ["rm", "-rf", "--", &full].map(str::to_owned).into();
    run_ok(docker, container, argv, "rm").await
}

/// Uploads the staged plugin under a temporary name in `/configs/plugins`, owned 1000:1000, then
/// swaps it into place with one exec.
pub async fn deliver_plugin(
    docker: &Docker,
    container: &str,
    name: &str,
    staged: &std::path::Path,
) -> Result<(), BackendError> {
    let (incoming, archive) = plugins::pack_incoming(staged, name, PLUGINS_SUBDIR)
        .await
        .map_err(|e| BackendError::Failed(format!("packing the plugin: {e}")))?;
    let options = UploadToContainerOptions {
        path: CONFIGS_MOUNT.to_owned(),
        ..Default::default()
    };
    docker
        .upload_to_container(container, Some(options), bollard::body_full(archive.into()))
        .await
        .map_err(container_error)?;
    let dir = format!("{CONFIGS_MOUNT}/{PLUGINS_SUBDIR}");
    let argv = [
        "/bin/sh",
        "-c",
        plugins::SWAP_SCRIPT,
        "swap",
        &dir,
        &incoming,
        name,
    ]
    .map(str::to_owned)
    .into();
    run_ok(docker, container, argv, "plugin swap").await
}

/// Removes `/configs/plugins/<name>`; `NotFound` when it is not there.
pub async fn remove_plugin(
    docker: &Docker,
    container: &str,
    name: &str,
) -> Result<(), BackendError> {
    let dir = format!("{CONFIGS_MOUNT}/{PLUGINS_SUBDIR}");
    let argv = [
        "/bin/sh",
        "-c",
        plugins::REMOVE_SCRIPT,
        "remove",
        &dir,
        name,
    ]
    .map(str::to_owned)
    .into();
    run_ok(docker, container, argv, "plugin removal").await
}

/// Runs a helper command: exit 0 is success, `EXIT_MISSING` is `NotFound`, anything else a
/// failure naming `what`.
async fn run_ok(
    docker: &Docker,
    container: &str,
    argv: Vec<String>,
    what: &str,
) -> Result<(), BackendError> {
    match run(docker, container, argv).await? {
        0 => Ok(()),
        code if code == i64::from(EXIT_MISSING) => Err(BackendError::NotFound),
        code => Err(BackendError::Failed(format!("{what} exited {code}"))),
    }
}

/// Runs a helper command to completion, discarding its output; returns its exit code.
async fn run(docker: &Docker, container: &str, argv: Vec<String>) -> Result<i64, BackendError> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(argv),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(container_error)?;
    if let StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&exec.id, Some(StartExecOptions::default()))
        .await
        .map_err(container_error)?
    {
        while output.next().await.is_some() {}
    }
    let inspect = docker
        .inspect_exec(&exec.id)
        .await
        .map_err(container_error)?;
    Ok(inspect.exit_code.unwrap_or(-1))
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
