//! Plugin sources, parsed once at the edge: `local://<name>` and `github://owner/repo#ref`.

use std::fmt;

/// The schemes an install may name.
pub const SCHEMES: &[&str] = &["local", "github"];

/// Where a plugin comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginSource {
    /// A directory (or `<name>.tar.gz`) in the server's registry, `PLUGINS_DIR`.
    Local { name: String },
    /// A GitHub repository at a ref; `None` when no ref was given.
    Github {
        owner: String,
        repo: String,
        reference: Option<String>,
    },
}

/// Why a source was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("source must look like local://<name> or github://owner/repo#ref")]
    Malformed,
    #[error("unknown source scheme {0:?}")]
    UnknownScheme(String),
    #[error(
        "invalid plugin name {0:?}: use 1-100 of A-Z, a-z, 0-9, '.', '_', '-', starting with a letter or digit"
    )]
    BadName(String),
}

/// A plugin name: 1–100 characters of `A-Za-z0-9._-` (a GitHub repository's name keeps its case),
/// starting with a letter or digit.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 100
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

fn valid_github_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
}

fn valid_ref(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 200
        && !r.starts_with('-')
        && !r.contains("..")
        && r.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-/".contains(&c))
}

impl PluginSource {
    pub fn parse(raw: &str) -> Result<Self, SourceError> {
        let (scheme, rest) = raw.split_once("://").ok_or(SourceError::Malformed)?;
        match scheme {
            "local" => {
                if !valid_name(rest) {
                    return Err(SourceError::BadName(rest.to_owned()));
                }
                Ok(Self::Local {
                    name: rest.to_owned(),
                })
            }
            "github" => {
                let (path, reference) = match rest.split_once('#') {
                    Some((p, r)) if valid_ref(r) => (p, Some(r.to_owned())),
                    Some(_) => return Err(SourceError::Malformed),
                    None => (rest, None),
                };
                let (owner, repo) = path.split_once('/').ok_or(SourceError::Malformed)?;
                if !valid_github_part(owner) || !valid_github_part(repo) {
                    return Err(SourceError::Malformed);
                }
                Ok(Self::Github {
                    owner: owner.to_owned(),
                    repo: repo.to_owned(),
                    reference,
                })
            }
            other => Err(SourceError::UnknownScheme(other.to_owned())),
        }
    }

    /// Pinned, as the Go server counts it: a local registry entry, or a GitHub source with any
    /// `#ref` (a tag, a branch or a commit; the commit it resolves to is recorded at install).
    /// Only a source with no ref at all is unpinned.
    pub fn is_pinned(&self) -> bool {
        match self {
            Self::Local { .. } => true,
            Self::Github { reference, .. } => reference.is_some(),
        }
    }

    /// The name the plugin installs under.
    pub fn plugin_name(&self) -> &str {
        match self {
            Self::Local { name } => name,
            Self::Github { repo, .. } => repo,
        }
    }
}

impl fmt::Display for PluginSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local { name } => write!(f, "local://{name}"),
            Self::Github {
                owner,
                repo,
                reference: Some(r),
            } => write!(f, "github://{owner}/{repo}#{r}"),
            Self::Github {
                owner,
                repo,
                reference: None,
            } => write!(f, "github://{owner}/{repo}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_print_back() {
        for raw in [
            "local://my-plugin",
            "github://acme/tools#0123456789abcdef0123456789abcdef01234567",
            "github://acme/tools#v1.2",
            "github://acme/tools",
        ] {
            assert_eq!(PluginSource::parse(raw).unwrap().to_string(), raw);
        }
    }

    #[test]
    fn bad_sources_are_refused_with_a_reason() {
        assert_eq!(
            PluginSource::parse("ftp://x"),
            Err(SourceError::UnknownScheme("ftp".into()))
        );
        for bad in [
            "local",
            "local://",
            "local://../etc",
            "local://a/b",
            "local://-x",
            "local://a b",
            "github://acme",
            "github://acme/../x",
            "github://a/b#-upload-pack=x",
            "github://a/b#x..y",
            "github://a/b#",
        ] {
            assert!(PluginSource::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn any_ref_pins_a_github_source_and_names_keep_their_case() {
        for pinned in [
            "github://a/b#0123456789abcdef0123456789abcdef01234567",
            "github://a/b#v1.2.0",
            "github://a/b#main",
            "local://x",
        ] {
            assert!(PluginSource::parse(pinned).unwrap().is_pinned(), "{pinned}");
        }
        assert!(!PluginSource::parse("github://a/b").unwrap().is_pinned());
        let mixed = PluginSource::parse("github://Acme/MyTool#v2").unwrap();
        assert_eq!(mixed.plugin_name(), "MyTool");
        assert!(valid_name(mixed.plugin_name()));
        assert_eq!(mixed.to_string(), "github://Acme/MyTool#v2");
    }
}
