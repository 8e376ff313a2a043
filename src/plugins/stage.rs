//! Staging: a plugin's tree copied (or fetched, or unpacked) into a private temporary directory,
//! never following a symlink out of the tree, within the entry and size caps.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::archive::{self, ArchiveError, MAX_ENTRIES, link_stays_inside};
use super::source::PluginSource;

/// What staging needs from the configuration.
#[derive(Clone, Debug)]
pub struct StageSettings {
    pub plugins_dir: PathBuf,
    pub github_base: String,
    pub fetch_timeout: Duration,
    pub max_dir_bytes: u64,
}

/// A staged tree; removed when dropped.
pub struct Staged {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    /// The commit a GitHub source's ref resolved to.
    pub commit: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("plugin source not found")]
    NotFound,
    #[error("fetching the plugin timed out")]
    Timeout,
    #[error("fetching the plugin failed: {0}")]
    Failed(String),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

impl From<std::io::Error> for StageError {
    fn from(e: std::io::Error) -> Self {
        Self::Failed(e.to_string())
    }
}

/// Stages `source`, bounded by the fetch timeout.
pub async fn stage(source: &PluginSource, s: &StageSettings) -> Result<Staged, StageError> {
    let dir = tempfile::Builder::new().prefix("wss-plugin-").tempdir()?;
    let root = dir.path().join("tree");
    let work = async {
        match source {
            PluginSource::Local { name } => stage_local(name, &root, s).await.map(|()| None),
            PluginSource::Github {
                owner,
                repo,
                reference,
            } => {
                let url = format!("{}/{owner}/{repo}.git", s.github_base.trim_end_matches('/'));
                let commit = fetch_git(&url, reference.as_deref(), &root).await?;
                let root = root.clone();
                let max = s.max_dir_bytes;
                tokio::task::spawn_blocking(move || sanitize(&root, max))
                    .await
                    .map_err(|e| StageError::Failed(e.to_string()))??;
                Ok(Some(commit))
            }
        }
    };
    let commit = tokio::time::timeout(s.fetch_timeout, work)
        .await
        .map_err(|_| StageError::Timeout)??;
    Ok(Staged {
        _dir: dir,
        root,
        commit,
    })
}

async fn stage_local(name: &str, root: &Path, s: &StageSettings) -> Result<(), StageError> {
    let dir = s.plugins_dir.join(name);
    let archive_path = s.plugins_dir.join(format!("{name}.tar.gz"));
    let (root, max) = (root.to_path_buf(), s.max_dir_bytes);
    tokio::task::spawn_blocking(move || {
        if dir.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            copy_tree(&dir, &root, max)
        } else if archive_path.is_file() {
            std::fs::create_dir(&root)?;
            archive::extract_tar_gz(std::fs::File::open(&archive_path)?, &root, max)?;
            sanitize(&root, max)
        } else {
            Err(StageError::NotFound)
        }
    })
    .await
    .map_err(|e| StageError::Failed(e.to_string()))?
}

/// Copies `from` to `to` without following symlinks; links leaving the tree are left out.
fn copy_tree(from: &Path, to: &Path, max_bytes: u64) -> Result<(), StageError> {
    let mut entries = 0usize;
    let mut bytes = 0u64;
    let mut stack = vec![PathBuf::new()];
    std::fs::create_dir(to)?;
    while let Some(rel) = stack.pop() {
        for child in std::fs::read_dir(from.join(&rel))? {
            let child = child?;
            let rel = rel.join(child.file_name());
            entries += 1;
            if entries > MAX_ENTRIES {
                return Err(ArchiveError::TooManyEntries.into());
            }
            let meta = child.path().symlink_metadata()?;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(child.path())?;
                if link_stays_inside(&rel, &target) {
                    std::os::unix::fs::symlink(&target, to.join(&rel))?;
                } else {
                    tracing::warn!(path = %rel.display(), "plugin symlink leaves the tree; left out");
                }
            } else if meta.is_dir() {
                std::fs::create_dir(to.join(&rel))?;
                stack.push(rel);
            } else if meta.is_file() {
                refuse_hard_link(&meta, &rel)?;
                bytes += meta.len();
                if bytes > max_bytes {
                    return Err(ArchiveError::TooLarge(max_bytes).into());
                }
                std::fs::copy(child.path(), to.join(&rel))?;
            }
        }
    }
    Ok(())
}

/// A regular file with more than one link may be another name for a file anywhere on the host
/// (a hard link cannot be told from the original): it is refused, not copied.
fn refuse_hard_link(meta: &std::fs::Metadata, rel: &Path) -> Result<(), StageError> {
    use std::os::unix::fs::MetadataExt;
    if meta.nlink() > 1 {
        return Err(ArchiveError::HardLink(rel.display().to_string()).into());
    }
    Ok(())
}

/// Checks a fetched tree in place: removes `.git` and links leaving the tree, applies the caps,
/// and removes anything that is not a file, a directory or an inside link.
fn sanitize(root: &Path, max_bytes: u64) -> Result<(), StageError> {
    let _ = std::fs::remove_dir_all(root.join(".git"));
    let mut entries = 0usize;
    let mut bytes = 0u64;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for child in std::fs::read_dir(root.join(&rel))? {
            let child = child?;
            let rel = rel.join(child.file_name());
            entries += 1;
            if entries > MAX_ENTRIES {
                return Err(ArchiveError::TooManyEntries.into());
            }
            let meta = child.path().symlink_metadata()?;
            if meta.file_type().is_symlink() {
                if !link_stays_inside(&rel, &std::fs::read_link(child.path())?) {
                    std::fs::remove_file(child.path())?;
                }
            } else if meta.is_dir() {
                stack.push(rel);
            } else if meta.is_file() {
                refuse_hard_link(&meta, &rel)?;
                bytes += meta.len();
                if bytes > max_bytes {
                    return Err(ArchiveError::TooLarge(max_bytes).into());
                }
            } else {
                std::fs::remove_file(child.path())?;
            }
        }
    }
    Ok(())
}

/// A shallow fetch of one ref (default branch when `None`) into `dest`, checked out; answers the
/// commit it resolved to.
async fn fetch_git(url: &str, reference: Option<&str>, dest: &Path) -> Result<String, StageError> {
    let git = |args: &[&str]| {
        let mut cmd = Command::new("git");
        cmd.args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    };
    let dest_s = dest.display().to_string();
    for args in [
        vec!["init", "-q", dest_s.as_str()],
        vec![
            "-C",
            &dest_s,
            "fetch",
            "-q",
            "--depth",
            "1",
            "--no-tags",
            url,
            reference.unwrap_or("HEAD"),
        ],
        vec!["-C", &dest_s, "checkout", "-q", "FETCH_HEAD"],
    ] {
        let out = git(&args)
            .spawn()
            .map_err(|e| StageError::Failed(format!("running git: {e}")))?
            .wait_with_output()
            .await?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            tracing::warn!(stderr = %stderr.trim(), "git fetch of a plugin failed");
            let missing = [
                "not found",
                "does not appear to be a git repository",
                "couldn't find remote ref",
                "not our ref",
                "unadvertised object",
            ];
            return Err(if missing.iter().any(|m| stderr.contains(m)) {
                StageError::NotFound
            } else {
                StageError::Failed("git fetch failed".into())
            });
        }
    }
    let out = git(&["-C", &dest_s, "rev-parse", "HEAD"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| StageError::Failed(format!("running git: {e}")))?
        .wait_with_output()
        .await?;
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || commit.is_empty() {
        return Err(StageError::Failed("git rev-parse failed".into()));
    }
    Ok(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_registry_plugin_holding_a_hard_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("registry");
        std::fs::create_dir_all(registry.join("linked")).unwrap();
        std::fs::write(registry.join("linked/plugin.yaml"), "version: 1\n").unwrap();
        // A file of the host that a plugin author (or a compromised registry) points at.
        std::fs::write(dir.path().join("host-secret"), "SECRET").unwrap();
        std::fs::hard_link(dir.path().join("host-secret"), registry.join("linked/copy")).unwrap();
        let settings = StageSettings {
            plugins_dir: registry,
            github_base: String::new(),
            fetch_timeout: Duration::from_secs(10),
            max_dir_bytes: 1 << 20,
        };
        let source = PluginSource::Local {
            name: "linked".into(),
        };
        match stage(&source, &settings).await {
            Err(StageError::Archive(ArchiveError::HardLink(path))) => assert_eq!(path, "copy"),
            Err(e) => panic!("unexpected: {e}"),
            Ok(_) => panic!("a hard link was staged"),
        }
    }
}
