//! The open registry listing (`GET /plugins`): what the server's plugin directory offers. It is
//! unauthenticated, so it is cheap: at most `MAX_YAML_BYTES` of each `plugin.yaml` is read, and
//! the listing is kept until the directory changes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

use super::PluginSummary;
use super::source::valid_name;
use crate::sync::Locked;

/// Most of a `plugin.yaml` the listing reads, in bytes; a larger one is listed with an error.
pub const MAX_YAML_BYTES: u64 = 64 * 1024;

/// What the listing was made from: the modification time and size of the directory, of each
/// entry and of each `plugin.yaml`. When none of them changed, neither did the listing.
type Signature = Vec<(String, Option<SystemTime>, u64)>;

/// One plugin the registry offers: a directory with a `plugin.yaml` or a `.tar.gz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Offered {
    pub name: String,
    pub source: String,
    #[serde(flatten)]
    pub summary: PluginSummary,
    /// Why its `plugin.yaml` could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// The registry directory and its cached listing.
pub struct Registry {
    dir: PathBuf,
    cached: Mutex<Option<(Signature, Arc<Vec<Offered>>)>>,
}

impl Registry {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            cached: Mutex::new(None),
        }
    }

    /// The listing, sorted by name; read again only when the directory changed. Blocking.
    pub fn list(&self) -> Arc<Vec<Offered>> {
        let signature = signature(&self.dir);
        if let Some((seen, listing)) = &*self.cached.locked()
            && *seen == signature
        {
            return listing.clone();
        }
        let listing = Arc::new(read_listing(&self.dir));
        *self.cached.locked() = Some((signature, listing.clone()));
        listing
    }
}

fn stamp(path: &Path) -> (Option<SystemTime>, u64) {
    match std::fs::symlink_metadata(path) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    }
}

fn signature(dir: &Path) -> Signature {
    let (t, n) = stamp(dir);
    let mut out = vec![(String::new(), t, n)];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let (t, n) = stamp(&entry.path());
            let (yt, yn) = stamp(&entry.path().join("plugin.yaml"));
            out.push((name.clone(), t, n));
            out.push((name, yt, yn));
        }
    }
    out.sort();
    out
}

fn read_listing(dir: &Path) -> Vec<Offered> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let (name, read) = if path.is_dir() {
            let read = read_capped(&path.join("plugin.yaml")).map(|yaml| super::summary(&yaml));
            (file, read)
        } else if let Some(name) = file.strip_suffix(".tar.gz") {
            (name.to_owned(), Ok(PluginSummary::default()))
        } else {
            continue;
        };
        if valid_name(&name) {
            let (summary, error) = match read {
                Ok(summary) => (summary, None),
                Err(error) => (PluginSummary::default(), Some(error)),
            };
            out.push(Offered {
                source: format!("local://{name}"),
                name,
                summary,
                error,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A `plugin.yaml` of at most `MAX_YAML_BYTES`, or why it is not listed.
fn read_capped(path: &Path) -> Result<String, &'static str> {
    let file = std::fs::File::open(path).map_err(|_| "plugin.yaml is missing")?;
    let mut bytes = Vec::new();
    file.take(MAX_YAML_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|_| "plugin.yaml cannot be read")?;
    if bytes.len() as u64 > MAX_YAML_BYTES {
        return Err("plugin.yaml is larger than 64 KiB");
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_plugin_yaml_is_listed_with_an_error_and_not_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("big")).unwrap();
        let big = std::fs::File::create(dir.path().join("big/plugin.yaml")).unwrap();
        big.set_len(50 * 1024 * 1024).unwrap();
        std::fs::create_dir(dir.path().join("small")).unwrap();
        std::fs::write(dir.path().join("small/plugin.yaml"), "version: 2\n").unwrap();
        let listing = Registry::new(dir.path().into()).list();
        assert_eq!(
            serde_json::to_value(&*listing).unwrap(),
            serde_json::json!([
                {"name": "big", "source": "local://big", "error": "plugin.yaml is larger than 64 KiB"},
                {"name": "small", "source": "local://small", "version": "2"},
            ])
        );
    }

    #[test]
    fn the_listing_is_kept_until_the_directory_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/plugin.yaml"), "version: 1\n").unwrap();
        let registry = Registry::new(dir.path().into());
        let first = registry.list();
        assert!(
            Arc::ptr_eq(&first, &registry.list()),
            "read again unchanged"
        );
        std::fs::write(dir.path().join("a/plugin.yaml"), "version: 10\n").unwrap();
        assert_eq!(registry.list()[0].summary.version.as_deref(), Some("10"));
        std::fs::create_dir(dir.path().join("b")).unwrap();
        assert_eq!(registry.list().len(), 2);
    }
}
