//! `workspace-server cp`: a file or a directory tree to or from a workspace, byte for byte (the
//! files API carries non-UTF-8 content as base64 both ways).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use super::Client;

/// Deepest listing the files API gives at once; deeper trees are listed again from there.
const LIST_DEPTH: u8 = 5;

/// One side of a copy.
#[derive(Debug, PartialEq, Eq)]
enum Side<'a> {
    Local(&'a str),
    Remote { workspace: &'a str, path: &'a str },
}

/// `<workspace>:<path>` is a workspace's; anything else (`./a:b` included) is local.
fn side(raw: &str) -> Side<'_> {
    match raw.split_once(':') {
        Some((ws, path)) if !ws.is_empty() && !ws.contains('/') && !ws.starts_with('.') => {
            Side::Remote {
                workspace: ws,
                path: path.trim_start_matches('/'),
            }
        }
        _ => Side::Local(raw),
    }
}

pub async fn run(client: &Client, from: &str, to: &str) -> anyhow::Result<()> {
    match (side(from), side(to)) {
        (Side::Remote { workspace, path }, Side::Local(local)) => {
            let id = client.workspace_id(workspace).await?;
            download(client, &id, path, Path::new(local)).await
        }
        (Side::Local(local), Side::Remote { workspace, path }) => {
            let id = client.workspace_id(workspace).await?;
            upload(client, &id, Path::new(local), path).await
        }
        _ => bail!("one side of cp must be <workspace>:<path> and the other a local path"),
    }
}

/// The files route of `path`, each segment percent-encoded by `url` (a name may hold any byte).
fn files_path(id: &str, path: &str) -> String {
    let mut url = reqwest::Url::parse("http://server/").expect("a fixed base parses");
    url.path_segments_mut()
        .expect("an http URL has segments")
        .extend(["workspaces", id, "files"])
        .extend(path.split('/'));
    url.path().to_owned()
}

/// A file's bytes, decoded from what the API answered.
async fn read(client: &Client, id: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    let body = client
        .json(client.request(Method::GET, &files_path(id, path)))
        .await
        .with_context(|| format!("reading {path}"))?;
    let content = body["content"].as_str().unwrap_or_default();
    Ok(match body["encoding"].as_str() {
        Some("base64") => base64::engine::general_purpose::STANDARD.decode(content)?,
        _ => content.as_bytes().to_vec(),
    })
}

/// Whether `path` is a directory, from its parent's listing (the root is one).
async fn is_dir(client: &Client, id: &str, path: &str) -> anyhow::Result<bool> {
    let Some(parent) = (!path.is_empty()).then(|| path.rsplit_once('/').map_or("", |(p, _)| p))
    else {
        return Ok(true);
    };
    let req = client
        .request(Method::GET, &format!("/workspaces/{id}/files"))
        .query(&[("path", parent), ("depth", "1")]);
    let listed: Value = client.json(req).await?;
    let entry = listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["path"].as_str().map(|p| p.trim_end_matches('/')) == Some(path));
    match entry {
        Some(e) => Ok(e["dir"] == true),
        None => bail!("{path}: no such file or directory in the workspace"),
    }
}

/// Entries (root-relative path, directory?) below `dir`, however deep.
async fn walk(client: &Client, id: &str, dir: &str) -> anyhow::Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let req = client
            .request(Method::GET, &format!("/workspaces/{id}/files"))
            .query(&[("path", dir.as_str()), ("depth", &LIST_DEPTH.to_string())]);
        let listed = client.json(req).await?;
        let base = dir.matches('/').count() + usize::from(!dir.is_empty());
        for entry in listed.as_array().into_iter().flatten() {
            let path = entry["path"].as_str().unwrap_or_default().to_owned();
            let is_dir = entry["dir"] == true;
            let depth = path.matches('/').count() + 1 - base;
            if is_dir && depth == usize::from(LIST_DEPTH) {
                pending.push(path.clone());
            }
            out.push((path, is_dir));
        }
    }
    Ok(out)
}

/// `entry` relative to the listed directory `root`, when it is a plain path below it: nothing
/// the listing says can make the copy write outside its local target.
fn below<'a>(root: &str, entry: &'a str) -> Option<&'a str> {
    let rel = match root {
        "" => entry,
        root => entry.strip_prefix(root)?.strip_prefix('/')?,
    };
    let plain = |c: std::path::Component<'_>| matches!(c, std::path::Component::Normal(_));
    (!rel.is_empty() && Path::new(rel).components().all(plain)).then_some(rel)
}

async fn download(client: &Client, id: &str, path: &str, local: &Path) -> anyhow::Result<()> {
    let path = path.trim_end_matches('/');
    let name = path.rsplit('/').next().unwrap_or(path);
    let target = if local.is_dir() {
        local.join(name)
    } else {
        local.to_owned()
    };
    if !is_dir(client, id, path).await? {
        let bytes = read(client, id, path).await?;
        return std::fs::write(&target, bytes).with_context(|| format!("writing {target:?}"));
    }
    let entries = walk(client, id, path).await?;
    std::fs::create_dir_all(&target)?;
    for (entry, is_dir) in entries {
        let rel = below(path, &entry)
            .with_context(|| format!("the server listed {entry:?}, which is not below {path:?}"))?;
        let dest = target.join(rel);
        if is_dir {
            std::fs::create_dir_all(&dest)?;
        } else {
            let bytes = read(client, id, &entry).await?;
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&dest, bytes).with_context(|| format!("writing {dest:?}"))?;
        }
    }
    Ok(())
}

/// Local files under `root` (itself when it is a file), with their paths relative to it.
fn local_files(root: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    if root.is_file() {
        return Ok(vec![(root.to_owned(), String::new())]);
    }
    let mut out = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir:?}"))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let rel = entry
                    .path()
                    .strip_prefix(root)?
                    .to_string_lossy()
                    .into_owned();
                out.push((entry.path(), rel));
            }
        }
    }
    Ok(out)
}

async fn upload(client: &Client, id: &str, local: &Path, path: &str) -> anyhow::Result<()> {
    let name = local.file_name().map(|n| n.to_string_lossy().into_owned());
    let base = match (path.is_empty() || path.ends_with('/'), name) {
        (true, Some(name)) => format!("{}{name}", path),
        _ => path.to_owned(),
    };
    for (file, rel) in local_files(local)? {
        let bytes = std::fs::read(&file).with_context(|| format!("reading {file:?}"))?;
        let dest = if rel.is_empty() {
            base.clone()
        } else {
            format!("{base}/{rel}")
        };
        let content = base64::engine::general_purpose::STANDARD.encode(bytes);
        let req = client
            .request(Method::PUT, &files_path(id, &dest))
            .json(&json!({ "content": content, "encoding": "base64" }));
        client
            .send(req)
            .await
            .with_context(|| format!("writing {dest}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_side_is_name_colon_path_and_anything_else_is_local() {
        assert_eq!(
            side("dev:notes/a.txt"),
            Side::Remote {
                workspace: "dev",
                path: "notes/a.txt"
            }
        );
        assert_eq!(
            side("dev:/configs"),
            Side::Remote {
                workspace: "dev",
                path: "configs"
            }
        );
        assert_eq!(side("./dev:a"), Side::Local("./dev:a"));
        assert_eq!(side("/tmp/a:b"), Side::Local("/tmp/a:b"));
        assert_eq!(side("plain"), Side::Local("plain"));
        assert_eq!(files_path("w", "a b/c%"), "/workspaces/w/files/a%20b/c%25");
        assert_eq!(files_path("w", "é?#"), "/workspaces/w/files/%C3%A9%3F%23");
    }

    #[test]
    fn only_plain_paths_below_the_copied_directory_are_written() {
        assert_eq!(below("notes", "notes/a/b.txt"), Some("a/b.txt"));
        assert_eq!(below("", "a/b.txt"), Some("a/b.txt"));
        for bad in [
            "notesx/a",
            "other/a",
            "notes/../x",
            "notes/a/../../x",
            "notes/",
            "notes//x",
            "notes//etc/passwd",
        ] {
            assert_eq!(below("notes", bad), None, "{bad}");
        }
        assert_eq!(below("", "/etc/passwd"), None);
    }
}
