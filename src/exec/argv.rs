//! The argv of an exec, parsed once at the edge: a non-empty array of strings within the limits.

/// Most argv elements an exec may carry.
pub const MAX_ARGV_ELEMENTS: usize = 4096;
/// Most bytes all argv elements together may carry.
pub const MAX_ARGV_BYTES: usize = 256 * 1024;

/// Why an argv is refused; the message is safe to show.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgvError {
    #[error("{0}")]
    Invalid(String),
    /// Past `MAX_ARGV_ELEMENTS` or `MAX_ARGV_BYTES` (413).
    #[error("{0}")]
    TooLarge(String),
}

impl From<&str> for ArgvError {
    fn from(msg: &str) -> Self {
        Self::Invalid(msg.to_owned())
    }
}

/// A command line: a non-empty list of strings, run as given (no shell is added).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Argv(Vec<String>);

impl Argv {
    /// Accepts only a non-empty JSON array of strings; a string command line is refused.
    pub fn parse(value: &serde_json::Value) -> Result<Self, ArgvError> {
        let items = value
            .as_array()
            .ok_or("argv must be an array of strings, not a command line")?;
        if items.is_empty() {
            return Err("argv must not be empty".into());
        }
        if items.len() > MAX_ARGV_ELEMENTS {
            return Err(ArgvError::TooLarge(format!(
                "argv has more than {MAX_ARGV_ELEMENTS} elements"
            )));
        }
        let argv = items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or("every argv element must be a string")?;
        if argv[0].is_empty() {
            return Err("argv[0] must name a program".into());
        }
        if argv.iter().any(|a| a.contains('\0')) {
            return Err("argv elements must not contain NUL".into());
        }
        if argv.iter().map(String::len).sum::<usize>() > MAX_ARGV_BYTES {
            return Err(ArgvError::TooLarge(format!(
                "argv holds more than {} KiB",
                MAX_ARGV_BYTES / 1024
            )));
        }
        Ok(Self(argv))
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn argv_must_be_a_non_empty_array_of_strings() {
        for bad in [
            json!("ls -la"),
            json!([]),
            json!(["ls", 1]),
            json!(null),
            json!([""]),
        ] {
            assert!(Argv::parse(&bad).is_err(), "{bad} accepted");
        }
        let many = json!(vec!["x"; MAX_ARGV_ELEMENTS + 1]);
        assert!(matches!(Argv::parse(&many), Err(ArgvError::TooLarge(_))));
        let long = json!(["echo", "y".repeat(MAX_ARGV_BYTES)]);
        assert!(matches!(Argv::parse(&long), Err(ArgvError::TooLarge(_))));
        assert!(Argv::parse(&json!(vec!["x"; MAX_ARGV_ELEMENTS])).is_ok());
        let argv = Argv::parse(&json!(["echo", "a b", "$(x)"])).unwrap();
        assert_eq!(argv.as_slice(), ["echo", "a b", "$(x)"]);
    }
}
