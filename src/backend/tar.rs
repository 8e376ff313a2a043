//! Building the tar a tree is delivered as: entries in a fixed order, owned by the agent user,
//! symlinks kept as links. The backends deliver plugin trees with it; the download route packs a
//! registry plugin with it.

use std::path::{Path, PathBuf};

/// Tars the tree at `root` under `prefix/` (at the top level when `prefix` is empty), every entry
/// owned by `owner`; symlinks stay links.
pub fn pack(root: &Path, prefix: &str, owner: u64) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut stack = vec![PathBuf::new()];
    let dir_header = |size: u64, kind: tar::EntryType, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(owner);
        h.set_gid(owner);
        h.set_mtime(0);
        h
    };
    // A directory entry for the prefix and each of its ancestors, so they get the same owner.
    let mut ancestor = String::new();
    for part in prefix.split('/').filter(|p| !p.is_empty()) {
        ancestor = if ancestor.is_empty() {
            part.to_owned()
        } else {
            format!("{ancestor}/{part}")
        };
        let mut h = dir_header(0, tar::EntryType::Directory, 0o755);
        builder.append_data(&mut h, format!("{ancestor}/"), std::io::empty())?;
    }
    while let Some(rel) = stack.pop() {
        let mut children: Vec<_> = std::fs::read_dir(root.join(&rel))?.collect::<Result<_, _>>()?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let rel = rel.join(child.file_name());
            let name = if prefix.is_empty() {
                rel.display().to_string()
            } else {
                format!("{prefix}/{}", rel.display())
            };
            let meta = child.path().symlink_metadata()?;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(child.path())?;
                let mut h = dir_header(0, tar::EntryType::Symlink, 0o777);
                builder.append_link(&mut h, &name, &target)?;
            } else if meta.is_dir() {
                let mut h = dir_header(0, tar::EntryType::Directory, 0o755);
                builder.append_data(&mut h, format!("{name}/"), std::io::empty())?;
                stack.push(rel);
            } else if meta.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let mode = if meta.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                };
                let mut h = dir_header(meta.len(), tar::EntryType::Regular, mode);
                builder.append_data(&mut h, &name, std::fs::File::open(child.path())?)?;
            }
        }
    }
    builder.into_inner()
}

/// `pack`, gzip-compressed (for downloads).
pub fn pack_gz(root: &Path, prefix: &str, owner: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let tar = pack(root, prefix, owner)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar)?;
    gz.finish()
}
