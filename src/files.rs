//! Relative paths for the files API, parsed once at the edge (SPEC §5.5), and the API's limits.

use std::fmt;

mod etag;

pub use etag::{Etag, Precondition};

/// Largest file `GET /workspaces/{id}/files/{path}` returns, in bytes.
pub const MAX_READ_BYTES: u64 = 5 * 1024 * 1024;
/// Largest file a raw (`application/octet-stream`) read or write carries, by default (SPEC §15).
pub const DEFAULT_FILES_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Most files one bulk replace may carry.
pub const MAX_BULK_FILES: usize = 200;
/// Deepest listing, in directory levels.
pub const MAX_LIST_DEPTH: u8 = 5;
/// Longest name of one path component, in bytes (Linux's `NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;
/// Longest path, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

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
        if raw.len() > MAX_PATH_BYTES {
            return Err(format!("path is longer than {MAX_PATH_BYTES} bytes"));
        }
        let mut parts = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err("path must not contain '..'".into()),
                p if p.len() > MAX_NAME_BYTES => {
                    return Err(format!(
                        "a name in the path is longer than {MAX_NAME_BYTES} bytes"
                    ));
                }
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

/// Checks the paths of one bulk write: none may be named twice (after normalising), and none may
/// be a parent of another (one of them would have to be both a file and a directory). The error
/// is safe to show.
pub fn check_batch<'a>(paths: impl IntoIterator<Item = &'a RelPath>) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    let paths: Vec<&str> = paths.into_iter().map(RelPath::as_str).collect();
    for p in &paths {
        if !seen.insert(*p) {
            return Err(format!("{p:?} is named twice"));
        }
    }
    for p in &paths {
        let mut ancestors = p.match_indices('/').map(|(i, _)| &p[..i]);
        if let Some(a) = ancestors.find(|a| seen.contains(a)) {
            return Err(format!("{a:?} cannot be a file and the parent of {p:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_names_and_paths_are_refused() {
        assert!(RelPath::parse(&"n".repeat(255)).is_ok());
        assert!(RelPath::parse(&"n".repeat(256)).is_err());
        let deep = vec!["d"; 2048].join("/");
        assert!(RelPath::parse(&deep).is_ok());
        assert!(RelPath::parse(&format!("{deep}/x")).is_err());
    }

    #[test]
    fn a_batch_names_each_file_once_and_never_a_file_as_a_parent() {
        let p = |s: &str| RelPath::parse(s).unwrap();
        assert!(check_batch(&[p("a/b"), p("a/c"), p("ab/c"), p("a.b")]).is_ok());
        assert!(check_batch(&[p("a//b"), p("a/./b")]).is_err());
        assert!(check_batch(&[p("a"), p("a/b")]).is_err());
        assert!(check_batch(&[p("x/a"), p("x/a/b/c"), p("x/a!")]).is_err());
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
