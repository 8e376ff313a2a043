//! Relative paths for the files API, parsed once at the edge (SPEC §5.5), and the API's limits.

use std::fmt;

/// Largest file `GET /workspaces/{id}/files/{path}` returns, in bytes.
pub const MAX_READ_BYTES: u64 = 5 * 1024 * 1024;
/// Most files one bulk replace may carry.
pub const MAX_BULK_FILES: usize = 200;
/// Deepest listing, in directory levels.
pub const MAX_LIST_DEPTH: u8 = 5;
/// Roots a local listing or read may ask for with `?root=`.
pub const LOCAL_ROOTS: &[&str] = &["/configs", "/workspace", "/home", "/plugins"];

/// A path relative to a files root: not empty, not `.`, not absolute, no `..` component, no NUL.
/// Every other byte (quotes, `$()`, `;`, spaces, newlines) is part of a plain name.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RelPath(String);

impl RelPath {
    /// Parses a path as the API receives it; exactly one leading `/` (from a route wildcard) is
    /// stripped first. Empty and `.` components in the middle are dropped (`a//b`, `a/./b`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.strip_prefix('/').unwrap_or(raw);
        if raw.starts_with('/') {
            return Err("path must be relative".into());
        }
        if raw.contains('\0') {
            return Err("path must not contain NUL".into());
        }
        let mut parts = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err("path must not contain '..'".into()),
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            return Err("path must name something below the root".into());
        }
        Ok(Self(parts.join("/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components, first to last.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// Everything before the last component, if any.
    pub fn parent(&self) -> Option<&str> {
        self.0.rsplit_once('/').map(|(dir, _)| dir)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", self.0)
    }
}

/// Writes go under a temporary name beside their target first, then are renamed into place.
/// Renames `tmp dst` pairs into place; on the first failure, removes the remaining temporaries.
pub const RENAME_SCRIPT: &str = r#"rc=0
while [ $# -gt 1 ]; do
  if [ $rc -eq 0 ]; then mv -f -- "$1" "$2" || rc=1; fi
  if [ $rc -ne 0 ]; then rm -f -- "$1"; fi
  shift 2
done
exit $rc"#;

/// A fresh tag for temporary names (`wss-` and 12 hex digits).
pub fn temp_tag() -> String {
    format!("wss-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Exit code the server's remote scripts use for "no such path".
pub const EXIT_MISSING: i32 = 3;

/// The temporary name `path` is written under before the rename.
pub fn temp_name(path: &RelPath, tag: &str) -> String {
    let name = format!(".{}.{tag}.tmp", path.file_name());
    match path.parent() {
        Some(dir) => format!("{dir}/{name}"),
        None => name,
    }
}

/// A tar holding each file under its temporary name, with entries for the directories on the way,
/// owned by `owner` when given.
pub fn build_tar(
    files: &[(RelPath, Vec<u8>)],
    tag: &str,
    owner: Option<u64>,
) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    let now = chrono::Utc::now().timestamp() as u64;
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(owner.unwrap_or(0));
        h.set_gid(owner.unwrap_or(0));
        h.set_size(size);
        h.set_mtime(now);
        h
    };
    for (path, content) in files {
        let mut dir = String::new();
        for part in path
            .components()
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |s| s.1)
        {
            dir = if dir.is_empty() {
                (*part).to_owned()
            } else {
                format!("{dir}/{part}")
            };
            if dirs.insert(dir.clone()) {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                builder.append_data(&mut h, &dir, std::io::empty())?;
            }
        }
        let mut h = header(tar::EntryType::Regular, 0o644, content.len() as u64);
        builder.append_data(&mut h, temp_name(path, tag), content.as_slice())?;
    }
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_sit_beside_their_target_and_are_hidden() {
        let p = RelPath::parse("a/b/c.txt").unwrap();
        assert_eq!(temp_name(&p, "t"), "a/b/.c.txt.t.tmp");
        assert_eq!(temp_name(&RelPath::parse("x").unwrap(), "t"), ".x.t.tmp");
    }

    #[test]
    fn the_upload_archive_creates_parents_once_and_owns_everything_as_the_agent() {
        let files = [
            (RelPath::parse("d/e/f").unwrap(), b"1".to_vec()),
            (RelPath::parse("d/g").unwrap(), b"22".to_vec()),
        ];
        let tar = build_tar(&files, "t", Some(1000)).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let seen: Vec<(String, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.uid().unwrap(),
                    h.size().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("d".into(), 1000, 0),
                ("d/e".into(), 1000, 0),
                ("d/e/.f.t.tmp".into(), 1000, 1),
                ("d/.g.t.tmp".into(), 1000, 2),
            ]
        );
    }

    #[test]
    fn traversal_and_absolute_paths_are_refused_in_every_spelling() {
        for bad in [
            "",
            ".",
            "/",
            "//",
            "//etc/passwd",
            "..",
            "../x",
            "a/../b",
            "a/..",
            "/..",
            "./..",
            "a/./../b",
            "a\0b",
        ] {
            assert!(RelPath::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn one_leading_slash_is_stripped_and_names_stay_literal() {
        assert_eq!(RelPath::parse("/a/b.txt").unwrap().as_str(), "a/b.txt");
        assert_eq!(RelPath::parse("a//./b").unwrap().as_str(), "a/b");
        for name in [
            "'$(touch /tmp/x)'",
            "a;b",
            "sp ace",
            "new\nline",
            "..hidden",
            "x..",
        ] {
            assert_eq!(RelPath::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn parent_and_file_name_split_at_the_last_slash() {
        let p = RelPath::parse("a/b/c").unwrap();
        assert_eq!((p.parent(), p.file_name()), (Some("a/b"), "c"));
        let p = RelPath::parse("c").unwrap();
        assert_eq!((p.parent(), p.file_name()), (None, "c"));
    }
}
