//! Setting values as operators write them for the Go server: Go's durations and lenient booleans.

/// Parses plain seconds (`300`) or a duration as `humantime` reads it, which takes Go's forms
/// (`300ms`, `90s`, `1m30s`, `1.5h`, `µs`/`us`) and, beyond Go, spelled-out units and days
/// (`5 minutes`, `1d`).
pub(super) fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    let raw = raw.trim();
    let bad = || format!("not a duration: {raw:?} (use seconds, or a form such as 90s, 1m30s, 5m)");
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw
            .parse()
            .map(std::time::Duration::from_secs)
            .map_err(|_| bad());
    }
    humantime::parse_duration(raw).map_err(|_| bad())
}

/// Parses a boolean as operators write them: `true/false`, `1/0`, `yes/no`, `on/off`, any case.
pub(super) fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Ok(true),
        "false" | "0" | "no" | "n" | "off" => Ok(false),
        _ => Err(format!("not a boolean: {raw:?} (use true or false)")),
    }
}

/// Parses a browser origin, `http(s)://host[:port]` with nothing after it; a trailing `/` is
/// dropped and the scheme and host are lower-cased, as browsers send them.
pub(super) fn parse_origin(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let bad = || format!("not an origin: {raw:?} (use https://host or https://host:port)");
    let (scheme, authority) = trimmed.split_once("://").ok_or_else(bad)?;
    let plain = |c: char| c.is_ascii_alphanumeric() || "-.:[]".contains(c);
    if !matches!(scheme, "http" | "https") || authority.is_empty() || !authority.chars().all(plain)
    {
        return Err(bad());
    }
    Ok(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_host_only() {
        assert_eq!(
            parse_origin("https://WS.example.com/").unwrap(),
            "https://ws.example.com"
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "ws.example.com",
            "ftp://a",
            "https://",
            "https://a/b",
            "https://a?b",
            "https://u@a",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_take_seconds_or_go_s_forms() {
        let ms = |s: &str| parse_duration(s).unwrap().as_millis();
        assert_eq!(ms("300"), 300_000);
        assert_eq!(ms("300ms"), 300);
        assert_eq!(ms("90s"), 90_000);
        assert_eq!(ms("1m30s"), 90_000);
        assert_eq!(ms("5m"), 300_000);
        assert_eq!(ms("1h"), 3_600_000);
        assert_eq!(ms("1.5h"), 5_400_000);
        assert_eq!(ms("250us") + ms("2h30m15s"), 9_015_000);
        assert_eq!(ms("5 minutes"), 300_000);
        assert_eq!(ms("1d"), 86_400_000);
        for bad in ["", "m", "1m30", "-5s", "5 fortnights", "1h?"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn booleans_are_read_as_operators_write_them() {
        for (raw, want) in [("true", true), ("TRUE", true), ("1", true), ("Yes", true)] {
            assert_eq!(parse_bool(raw), Ok(want));
        }
        for raw in ["false", "False", "0", "no", "NO"] {
            assert_eq!(parse_bool(raw), Ok(false));
        }
        assert!(parse_bool("maybe").is_err());
    }
}
