//! Entity tags of files (SPEC §15): the hex SHA-256 of a file's content, and the conditions a
//! write or delete may carry (`If-Match`, `If-None-Match: *`).

use sha2::{Digest, Sha256};

/// A file's entity tag: the lowercase hex SHA-256 of its content, as `sha256sum` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Etag(String);

impl Etag {
    /// The tag of `content`.
    pub fn of(content: &[u8]) -> Self {
        Self::from_digest(Sha256::digest(content))
    }

    /// The tag of a finished digest.
    pub fn from_digest(digest: sha2::digest::Output<Sha256>) -> Self {
        Self(format!("{digest:x}"))
    }

    /// A tag as a workspace's `sha256sum` printed it: 64 lowercase hex digits, else `None`.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| Self(hex.to_owned()))
    }

    pub fn hex(&self) -> &str {
        &self.0
    }

    /// The tag as an `ETag` header carries it: a strong tag, quoted.
    pub fn header(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

/// What must hold of a file for a write or delete to go ahead.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Precondition {
    /// No condition.
    #[default]
    None,
    /// `If-Match: *`: the file exists.
    Exists,
    /// `If-None-Match: *`: the file does not exist.
    Absent,
    /// `If-Match: "<tag>", …`: the file's current content has one of these tags (none at all
    /// when every listed tag was weak or malformed: then nothing matches).
    OneOf(Vec<Etag>),
}

impl Precondition {
    /// The condition of a request's `If-Match` and `If-None-Match` values. Only `*` is taken in
    /// `If-None-Match` (a write or delete either creates or does not); both at once is refused.
    pub fn from_headers(
        if_match: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Result<Self, String> {
        match (if_match.map(str::trim), if_none_match.map(str::trim)) {
            (None, None) => Ok(Self::None),
            (Some(_), Some(_)) => Err("send If-Match or If-None-Match, not both".into()),
            (None, Some("*")) => Ok(Self::Absent),
            (None, Some(_)) => Err("If-None-Match takes only * on a write or delete".into()),
            (Some("*"), None) => Ok(Self::Exists),
            (Some(list), None) => Ok(Self::OneOf(
                list.split(',')
                    .filter_map(|tag| {
                        // Strong comparison (RFC 9110 §13.1.1): a weak tag never matches.
                        let tag = tag.trim().strip_prefix('"')?.strip_suffix('"')?;
                        Etag::from_hex(tag)
                    })
                    .collect(),
            )),
        }
    }

    /// The condition as the file scripts take it: a mode and the tags, space-separated.
    pub fn script_args(&self) -> (&'static str, String) {
        match self {
            Self::None => ("none", String::new()),
            Self::Exists => ("exists", String::new()),
            Self::Absent => ("absent", String::new()),
            Self::OneOf(tags) => {
                let hexes: Vec<&str> = tags.iter().map(Etag::hex).collect();
                ("match", hexes.join(" "))
            }
        }
    }

    /// Whether the condition can only hold for a file that exists.
    pub fn needs_the_file(&self) -> bool {
        matches!(self, Self::Exists | Self::OneOf(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn a_tag_is_the_sha256_sum_of_the_content() {
        let tag = Etag::of(b"hello");
        assert_eq!(tag.hex(), HELLO);
        assert_eq!(tag.header(), format!("\"{HELLO}\""));
        assert_eq!(Etag::from_hex(HELLO), Some(tag));
        assert_eq!(Etag::from_hex(&HELLO.to_uppercase()), None);
        assert_eq!(Etag::from_hex("abc"), None);
    }

    #[test]
    fn conditions_are_read_from_the_headers_as_rfc_9110_says() {
        let parse = Precondition::from_headers;
        assert_eq!(parse(None, None), Ok(Precondition::None));
        assert_eq!(parse(Some(" * "), None), Ok(Precondition::Exists));
        assert_eq!(parse(None, Some("*")), Ok(Precondition::Absent));
        let two = format!("\"{HELLO}\", W/\"{HELLO}\", \"{}\"", "0".repeat(64));
        let Ok(Precondition::OneOf(tags)) = parse(Some(&two), None) else {
            panic!("a list of tags");
        };
        assert_eq!(tags.len(), 2, "the weak tag is dropped");
        assert_eq!(
            parse(Some("not-a-tag"), None),
            Ok(Precondition::OneOf(vec![]))
        );
        assert!(parse(Some("*"), Some("*")).is_err());
        assert!(parse(None, Some(&format!("\"{HELLO}\""))).is_err());
    }

    #[test]
    fn the_scripts_get_a_mode_and_the_hex_tags() {
        let one = Precondition::OneOf(vec![Etag::of(b"hello"), Etag::of(b"")]);
        let (mode, tags) = one.script_args();
        assert_eq!(mode, "match");
        assert_eq!(tags.split(' ').next(), Some(HELLO));
        assert!(one.needs_the_file() && Precondition::Exists.needs_the_file());
        assert!(!Precondition::Absent.needs_the_file());
    }
}
