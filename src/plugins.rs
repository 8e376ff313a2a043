//! Plugins (SPEC §5.6): sources, staging, integrity checks, and what the backends need to deliver
//! and remove a plugin tree atomically.

pub mod archive;
pub mod registry;
pub mod source;
pub mod stage;

use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Owner of delivered plugin trees (the agent user).
pub const PLUGIN_OWNER: u64 = 1000;

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the staged tree's integrity: the caller's `sha256` of `plugin.yaml`, and every digest
/// listed in `manifest.json` (`{"files": {"<path>": "<sha256>"}}`; a manifest without such a map
/// is not checked). The error is safe to show.
pub fn verify(root: &Path, caller_sha256: Option<&str>) -> Result<(), String> {
    if let Some(expected) = caller_sha256 {
        let yaml = std::fs::read(root.join("plugin.yaml")).map_err(|_| "plugin.yaml is missing")?;
        if !sha256_hex(&yaml).eq_ignore_ascii_case(expected.trim()) {
            return Err("sha256 of plugin.yaml does not match the one given".into());
        }
    }
    let manifest = match std::fs::read(root.join("manifest.json")) {
        Ok(bytes) => bytes,
        Err(_) => return Ok(()),
    };
    let manifest: Value =
        serde_json::from_slice(&manifest).map_err(|_| "manifest.json is not valid JSON")?;
    // The Go server's manifests (`{"sha256": …}`, or no `files` at all) name no per-file digests:
    // only a manifest that does is checked file by file.
    let Some(files) = manifest.get("files").and_then(Value::as_object) else {
        return Ok(());
    };
    for (path, digest) in files {
        let rel = crate::files::RelPath::parse(path)
            .map_err(|_| format!("manifest.json lists a bad path {path:?}"))?;
        let full = root.join(rel.as_str());
        if full
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(format!("manifest.json lists a symlink {path:?}"));
        }
        let bytes = std::fs::read(&full)
            .map_err(|_| format!("{path} is listed in manifest.json but missing"))?;
        if digest
            .as_str()
            .is_none_or(|d| !sha256_hex(&bytes).eq_ignore_ascii_case(d))
        {
            return Err(format!("{path} does not match its digest in manifest.json"));
        }
    }
    Ok(())
}

/// The top-level scalar fields of a `plugin.yaml` that listings show; anything more complex is
/// left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PluginSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// Reads the [`PluginSummary`] of a `plugin.yaml`.
pub fn summary(yaml: &str) -> PluginSummary {
    let mut out = PluginSummary::default();
    for line in yaml.lines() {
        if line.starts_with([' ', '\t', '#', '-']) {
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            let value = value.trim().trim_matches(['"', '\'']);
            let field = match key.trim() {
                "version" => &mut out.version,
                "description" => &mut out.description,
                "author" => &mut out.author,
                _ => continue,
            };
            if !value.is_empty() {
                *field = Some(value.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_checked_against_the_caller_and_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plugin.yaml"), "version: 1\n").unwrap();
        std::fs::write(dir.path().join("a.txt"), "A").unwrap();
        let yaml_sha = sha256_hex(b"version: 1\n");
        assert!(verify(dir.path(), Some(&yaml_sha)).is_ok());
        assert!(verify(dir.path(), Some(&"0".repeat(64))).is_err());
        let good = serde_json::json!({ "files": { "a.txt": sha256_hex(b"A") } });
        std::fs::write(dir.path().join("manifest.json"), good.to_string()).unwrap();
        assert!(verify(dir.path(), None).is_ok());
        let bad = serde_json::json!({ "files": { "a.txt": sha256_hex(b"B") } });
        std::fs::write(dir.path().join("manifest.json"), bad.to_string()).unwrap();
        assert!(verify(dir.path(), None).is_err());
        let escape = serde_json::json!({ "files": { "../x": "00" } });
        std::fs::write(dir.path().join("manifest.json"), escape.to_string()).unwrap();
        assert!(verify(dir.path(), None).is_err());
    }

    #[test]
    fn the_summary_takes_top_level_scalars_only() {
        let yaml =
            "version: 1.2.0\ndescription: \"Does things\"\nauthor: me\ntags:\n  - a\nskills: []\n";
        let s = summary(yaml);
        assert_eq!(s.version.as_deref(), Some("1.2.0"));
        assert_eq!(s.description.as_deref(), Some("Does things"));
        assert_eq!(s.author.as_deref(), Some("me"));
    }
}
