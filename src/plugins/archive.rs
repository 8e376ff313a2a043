//! Plugin trees in and out of tar: a safe extractor (nothing absolute, no `..`, no link or device
//! leaving the tree, bounded entries and bytes) and a packer for delivery and download.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Most entries a plugin tree may hold.
pub const MAX_ENTRIES: usize = 10_000;

/// Why an archive or tree was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive entry {0:?} is not a plain relative path")]
    BadPath(String),
    #[error("archive entry {0:?} links outside the plugin")]
    LinkOutside(String),
    #[error("archive entry {0:?} is a device, fifo or other special file")]
    Special(String),
    #[error("{0:?} is a file with more than one hard link")]
    HardLink(String),
    #[error("the plugin holds more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    #[error("the plugin is larger than {0} bytes")]
    TooLarge(u64),
    #[error("reading the archive: {0}")]
    Io(#[from] std::io::Error),
}

/// A relative path made only of normal components, or `None`.
fn plain_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Whether a link at `at` (relative to the tree root) pointing to `target` stays in the tree.
pub fn link_stays_inside(at: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = at.parent().map_or(0, |p| p.components().count() as i64);
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// Refuses to write at or through a symlink that an earlier entry created.
fn no_symlink_on_the_way(root: &Path, rel: &Path) -> bool {
    let mut at = root.to_path_buf();
    for c in rel.components() {
        at.push(c);
        if at
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return false;
        }
    }
    true
}

/// Extracts a gzip-compressed tar into the empty directory `dest`; on error the caller discards
/// `dest` (nothing is written anywhere else).
pub fn extract_tar_gz(data: impl Read, dest: &Path, max_bytes: u64) -> Result<(), ArchiveError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(data));
    let mut entries = 0usize;
    let mut bytes = 0u64;
    for entry in archive.entries()? {
        let mut entry = entry?;
        entries += 1;
        if entries > MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries);
        }
        let raw = entry.path()?.into_owned();
        let shown = raw.display().to_string();
        let Some(rel) = plain_relative(&raw) else {
            return Err(ArchiveError::BadPath(shown));
        };
        if !no_symlink_on_the_way(dest, &rel) {
            return Err(ArchiveError::LinkOutside(shown));
        }
        let target = dest.join(&rel);
        let kind = entry.header().entry_type();
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match kind {
            tar::EntryType::Directory => std::fs::create_dir_all(&target)?,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                bytes += entry.header().size()?;
                if bytes > max_bytes {
                    return Err(ArchiveError::TooLarge(max_bytes));
                }
                let mode = entry.header().mode().unwrap_or(0o644) & 0o755;
                let mut file = std::fs::File::create(&target)?;
                std::io::copy(&mut (&mut entry).take(max_bytes), &mut file)?;
                set_mode(&target, mode | 0o600)?;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()?
                    .ok_or_else(|| ArchiveError::BadPath(shown.clone()))?;
                if !link_stays_inside(&rel, &link) {
                    return Err(ArchiveError::LinkOutside(shown));
                }
                std::os::unix::fs::symlink(&link, &target)?;
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name()?
                    .ok_or_else(|| ArchiveError::BadPath(shown.clone()))?;
                let Some(source) = plain_relative(&link) else {
                    return Err(ArchiveError::LinkOutside(shown));
                };
                if !no_symlink_on_the_way(dest, &source)
                    || !dest
                        .join(&source)
                        .symlink_metadata()
                        .is_ok_and(|m| m.is_file())
                {
                    return Err(ArchiveError::LinkOutside(shown));
                }
                std::fs::copy(dest.join(&source), &target)?;
            }
            tar::EntryType::XHeader
            | tar::EntryType::XGlobalHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {}
            _ => return Err(ArchiveError::Special(shown)),
        }
    }
    links_resolve_inside(dest, Path::new(""))
}

/// Each link was checked on its own as it came; once the tree is whole, no link's target may pass
/// through another link either (`x -> d/y/..` with `d/y -> ..` climbs out although every part
/// looked inside). Only the last component of a target may be a link, itself checked.
fn links_resolve_inside(dest: &Path, dir: &Path) -> Result<(), ArchiveError> {
    for entry in std::fs::read_dir(dest.join(dir))? {
        let entry = entry?;
        let rel = dir.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            links_resolve_inside(dest, &rel)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(dest.join(&rel))?;
            let mut at = dir.to_path_buf();
            let mut parts = target.components().peekable();
            while let Some(c) = parts.next() {
                match c {
                    Component::ParentDir => {
                        at.pop();
                    }
                    Component::Normal(p) => {
                        at.push(p);
                        let is_link = dest
                            .join(&at)
                            .symlink_metadata()
                            .is_ok_and(|m| m.file_type().is_symlink());
                        if is_link && parts.peek().is_some() {
                            return Err(ArchiveError::LinkOutside(rel.display().to_string()));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar.gz with one entry of `kind` at `path` (and `link` for links), written raw so that
    /// hostile names are not cleaned up by the builder.
    fn hostile(path: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
        let mut h = tar::Header::new_old();
        {
            let old = h.as_old_mut();
            old.name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(l) = link {
                old.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_entry_type(kind);
        h.set_size(if kind == tar::EntryType::Regular {
            1
        } else {
            0
        });
        h.set_mode(0o644);
        h.set_cksum();
        let mut raw = h.as_bytes().to_vec();
        if kind == tar::EntryType::Regular {
            let mut block = [0u8; 512];
            block[0] = b'x';
            raw.extend_from_slice(&block);
        }
        raw.extend_from_slice(&[0u8; 1024]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn hostile_entries_are_refused_and_nothing_lands_outside() {
        let outer = tempfile::tempdir().unwrap();
        let cases = [
            hostile("/etc/evil", tar::EntryType::Regular, None),
            hostile("../evil", tar::EntryType::Regular, None),
            hostile("a/../../evil", tar::EntryType::Regular, None),
            hostile("link", tar::EntryType::Symlink, Some("/etc/passwd")),
            hostile("link", tar::EntryType::Symlink, Some("../../outside")),
            hostile("hard", tar::EntryType::Link, Some("/etc/passwd")),
            hostile("dev", tar::EntryType::Char, None),
            hostile("blk", tar::EntryType::Block, None),
            hostile("fifo", tar::EntryType::Fifo, None),
        ];
        for (i, data) in cases.iter().enumerate() {
            let dest = outer.path().join(format!("d{i}"));
            std::fs::create_dir(&dest).unwrap();
            assert!(
                extract_tar_gz(data.as_slice(), &dest, 1 << 20).is_err(),
                "case {i} accepted"
            );
        }
        assert!(!outer.path().join("evil").exists());
    }

    #[test]
    fn links_inside_the_tree_are_kept_and_sizes_are_capped() {
        assert!(link_stays_inside(Path::new("a/b/link"), Path::new("../c")));
        assert!(!link_stays_inside(
            Path::new("a/link"),
            Path::new("../../c")
        ));
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("plugin.yaml"), "version: 1\n").unwrap();
        std::fs::create_dir(src.path().join("skills")).unwrap();
        std::fs::write(src.path().join("skills/run.sh"), vec![b'x'; 4000]).unwrap();
        std::os::unix::fs::symlink("skills/run.sh", src.path().join("alias")).unwrap();
        let gz = crate::backend::tar::pack_gz(src.path(), "p", 1000).unwrap();
        let dest = tempfile::tempdir().unwrap();
        extract_tar_gz(gz.as_slice(), dest.path(), 1 << 20).unwrap();
        assert_eq!(
            std::fs::read(dest.path().join("p/plugin.yaml")).unwrap(),
            b"version: 1\n"
        );
        assert_eq!(
            std::fs::read_link(dest.path().join("p/alias")).unwrap(),
            Path::new("skills/run.sh")
        );
        let small = tempfile::tempdir().unwrap();
        assert!(matches!(
            extract_tar_gz(gz.as_slice(), small.path(), 1000),
            Err(ArchiveError::TooLarge(_))
        ));
    }
}
