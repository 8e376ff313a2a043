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

use super::{BackendError, FileEntry};
use crate::files::RelPath;

/// Runs a fixed script in the workspace: `sh -c <script> sh <args…>`, with `stdin`; answers the
/// exit code and stdout.
#[async_trait]
pub trait Shell: Send + Sync {
    async fn run(
        &self,
        script: &str,
        args: &[&str],
        stdin: Vec<u8>,
    ) -> Result<(i32, Vec<u8>), BackendError>;
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

/// Exit codes of the scripts.
const MISSING: i32 = 3;
const TOO_LARGE: i32 = 4;
const IS_DIR: i32 = 5;
const NOT_DIR: i32 = 6;
const LEAVES_ROOT: i32 = 8;

/// What a refused walk answers (SPEC §11).
pub const LEAVES_ROOT_MESSAGE: &str = "path leaves the workspace root";

/// Shared by every script: `$1` is the root, which must exist and must not itself be a link;
/// `enter DIR [create]` walks into the relative `DIR`, creating missing directories when asked,
/// and exits `LEAVES_ROOT` as soon as it stands outside the root.
const PRELUDE: &str = r#"unset CDPATH
cd -P -- "$1" 2>/dev/null || exit 3
root=$(pwd -P)
[ "$root" = "$1" ] || exit 8
shift
own() { [ "$(id -u)" = 0 ] && chown -h 1000:1000 -- "$@"; return 0; }
inside() { case $(pwd -P) in "$root"|"$root"/*) return 0;; esac; exit 8; }
to_root() { cd -P -- "$root" 2>/dev/null || exit 7; inside; }
enter() {
  [ "$1" = . ] && return 0
  _mk=${2-}
  set -f; _ifs=$IFS; IFS=/
  # shellcheck disable=SC2086
  set -- $1
  IFS=$_ifs; set +f
  for _c do
    if [ -n "$_mk" ] && [ ! -e "./$_c" ] && [ ! -L "./$_c" ]; then
      mkdir -- "./$_c" 2>/dev/null && own "./$_c"
    fi
    if ! cd -- "./$_c" 2>/dev/null; then
      if [ -L "./$_c" ] && [ ! -e "./$_c" ]; then exit 3; fi
      [ -e "./$_c" ] && exit 6
      exit 3
    fi
    inside
  done
}
"#;

/// `$1` dir, `$2` depth: `<kind> <size> <path>\0` per entry below the dir, paths relative to it.
const LIST: &str = r#"enter "$1"
if find . -maxdepth 0 -printf '' >/dev/null 2>&1; then
  exec find . -mindepth 1 -maxdepth "$2" -printf '%y %s %P\0'
fi
exec find . -mindepth 1 -maxdepth "$2" -exec sh -c 'for f do
  if [ -L "$f" ]; then printf "l 0 %s\0" "$f"
  elif [ -d "$f" ]; then printf "d 0 %s\0" "$f"
  elif [ -f "$f" ]; then printf "f %s %s\0" "$(stat -c %s -- "$f")" "$f"
  else printf "o 0 %s\0" "$f"; fi
done' sh {} +"#;

/// `$1` dir, `$2` name, `$3` cap in bytes: the file's bytes, or its size and `TOO_LARGE`.
const READ: &str = r#"enter "$1"
[ -d "./$2" ] && exit 5
[ -f "./$2" ] || exit 3
exec 3< "./$2" || exit 3
case $(readlink /proc/self/fd/3) in "$root"/*) ;; *) exit 8;; esac
[ -f /proc/self/fd/3 ] || exit 3
size=$(wc -c < /proc/self/fd/3) || exit 3
[ "$size" -gt "$3" ] && { echo "$size"; exit 4; }
exec cat <&3"#;

/// `$1` dir, `$2` name: removes the file or tree (a link is removed itself).
const DELETE: &str = r#"enter "$1"
[ -e "./$2" ] || [ -L "./$2" ] || exit 3
exec rm -rf -- "./$2""#;

/// `$1` a fresh staging name, then `dir name` pairs; stdin is a tar of the files named `0`, `1`, …
/// in pair order. Every pair is checked before anything is written, then each file is renamed
/// from the staging directory into place (one atomic rename each).
const WRITE: &str = r#"stage=$1; shift
check() (
  set -f; _ifs=$IFS; IFS=/
  # shellcheck disable=SC2086
  set -- $1 "$2"
  IFS=$_ifs; set +f
  while [ $# -gt 1 ]; do
    [ -e "./$1" ] || [ -L "./$1" ] || exit 0
    cd -- "./$1" 2>/dev/null || exit 6
    inside
    shift
  done
  if [ -d "./$1" ] && [ ! -L "./$1" ]; then exit 5; fi
  exit 0
)
check_all() {
  while [ $# -gt 1 ]; do
    check "$1" "$2" || exit $?
    shift 2
  done
}
check_all "$@"
mkdir -m 700 -- "./$stage" || exit 7
cleanup() { to_root; rm -rf -- "./$stage"; }
( cd -- "./$stage" && inside && tar -x -f - ) || { cleanup; exit 7; }
i=0
while [ $# -gt 1 ]; do
  to_root
  ( enter "$1" create && mv -f -T -- "$root/$stage/$i" "./$2" && own "./$2" ) || { rc=$?; cleanup; exit $rc; }
  i=$((i + 1)); shift 2
done
cleanup
exit 0"#;

/// `$1` incoming name, `$2` plugin name; stdin is a tar of the tree at its top level. The tree is
/// unpacked into a fresh directory inside `plugins/`, given to the agent user, then swapped into
/// place; the old version is kept aside until the new one is in and put back if that fails.
/// Trees owned by the agent user are changed with `sudo -n` when the login user is another one.
const DELIVER: &str = r#"enter plugins create
[ -L "./$2" ] && exit 8
new=$1 name=$2 old=".$2.old-$$"
mkdir -- "./$new" || exit 1
del() { rm -rf -- "$1" 2>/dev/null || sudo -n rm -rf -- "$1" 2>/dev/null; }
( cd -- "./$new" && inside && tar -x -f - ) || { del "./$new"; exit 1; }
chown -R -h 1000:1000 -- "./$new" 2>/dev/null || sudo -n chown -R -h 1000:1000 -- "./$new" || { del "./$new"; exit 1; }
if [ -e "./$name" ] || [ -L "./$name" ]; then mv -f -T -- "./$name" "./$old" || { del "./$new"; exit 1; }; fi
if mv -T -- "./$new" "./$name"; then del "./$old"; exit 0; fi
del "./$new"
if [ -e "./$old" ]; then mv -T -- "./$old" "./$name"; fi
exit 1"#;

/// `$1` plugin name: removes `plugins/<name>`, and nothing else.
const REMOVE_PLUGIN: &str = r#"enter plugins
[ -L "./$1" ] && exit 8
[ -e "./$1" ] || exit 3
rm -rf -- "./$1" 2>/dev/null || exec sudo -n rm -rf -- "./$1""#;

/// Put before the prelude of the scripts that write: creates a missing root, but only when its
/// parent is a real directory (never through a link).
const MAKE_ROOT: &str = r#"if [ ! -e "$1" ] && [ ! -L "$1" ]; then
  _up=${1%/*}; [ -n "$_up" ] || _up=/
  ( cd -P -- "$_up" 2>/dev/null && [ "$(pwd -P)" = "$_up" ] && mkdir -- "./${1##*/}" \
    && { [ "$(id -u)" != 0 ] || chown 1000:1000 -- "./${1##*/}"; } )
fi
"#;

fn script(body: &str) -> String {
    format!("{PRELUDE}{body}")
}

/// A script that may create its missing root first.
fn writing_script(body: &str) -> String {
    format!("{MAKE_ROOT}{PRELUDE}{body}")
}

/// The whole plugin delivery script, for tests that run it by hand.
pub fn deliver_script() -> String {
    writing_script(DELIVER)
}

/// Maps the exit codes every script shares; `None` for success.
fn outcome(code: i32, what: &str) -> Result<(), BackendError> {
    match code {
        0 => Ok(()),
        MISSING => Err(BackendError::NotFound),
        IS_DIR => Err(BackendError::Invalid("path is a directory".into())),
        NOT_DIR => Err(BackendError::Invalid("path is not a directory".into())),
        LEAVES_ROOT => Err(BackendError::Invalid(LEAVES_ROOT_MESSAGE.into())),
        c => Err(BackendError::Failed(format!("{what} exited {c}"))),
    }
}

fn split(path: &RelPath) -> (&str, &str) {
    (path.parent().unwrap_or("."), path.file_name())
}

/// Entries under `dir` (the root when `None`), `depth` levels down, paths relative to the root.
/// A missing root lists as empty.
pub async fn list(
    sh: &dyn Shell,
    root: &str,
    dir: Option<&RelPath>,
    depth: u8,
) -> Result<Vec<FileEntry>, BackendError> {
    let target = dir.map_or(".", RelPath::as_str);
    let depth = depth.to_string();
    let (code, out) = sh
        .run(&script(LIST), &[root, target, &depth], Vec::new())
        .await?;
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

/// The bytes of `path`; `TooLarge` past `max` before any content is sent.
pub async fn read(
    sh: &dyn Shell,
    root: &str,
    path: &RelPath,
    max: u64,
) -> Result<Vec<u8>, BackendError> {
    let (dir, name) = split(path);
    let max_s = max.to_string();
    let (code, out) = sh
        .run(&script(READ), &[root, dir, name, &max_s], Vec::new())
        .await?;
    if code == TOO_LARGE {
        let size = String::from_utf8_lossy(&out)
            .trim()
            .parse()
            .unwrap_or(max + 1);
        return Err(BackendError::TooLarge(size));
    }
    outcome(code, "read").map(|()| out)
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
    let (code, _) = sh.run(&writing_script(WRITE), &args, archive).await?;
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

/// Deletes a file or a whole tree; `NotFound` when missing.
pub async fn delete(sh: &dyn Shell, root: &str, path: &RelPath) -> Result<(), BackendError> {
    let (dir, name) = split(path);
    let (code, _) = sh
        .run(&script(DELETE), &[root, dir, name], Vec::new())
        .await?;
    outcome(code, "delete")
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
    let (code, _) = sh
        .run(&writing_script(DELIVER), &[root, &incoming, name], archive)
        .await?;
    outcome(code, "plugin delivery")
}

/// Removes `<root>/plugins/<name>`; `NotFound` when it is not installed.
pub async fn remove_plugin(sh: &dyn Shell, root: &str, name: &str) -> Result<(), BackendError> {
    let (code, _) = sh
        .run(&script(REMOVE_PLUGIN), &[root, name], Vec::new())
        .await?;
    outcome(code, "plugin removal")
}

#[cfg(test)]
mod tests;
