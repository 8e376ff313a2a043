//! Setting values as operators write them for the Go server: Go's durations and lenient booleans.

/// Parses plain seconds (`300`) or a Go duration: a sequence of numbers with units `ns`, `us`
/// (or `µs`), `ms`, `s`, `m`, `h`, decimals allowed (`300ms`, `1m30s`, `1.5h`).
pub(super) fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    let raw = raw.trim();
    let bad =
        || format!("not a duration: {raw:?} (use seconds, or Go's form such as 90s, 1m30s, 5m)");
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw
            .parse()
            .map(std::time::Duration::from_secs)
            .map_err(|_| bad());
    }
    let mut rest = raw;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(digits);
        let n: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = tail;
    }
    std::time::Duration::try_from_secs_f64(total).map_err(|_| bad())
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
        for bad in ["5 minutes", "", "m", "5d", "1m30", "-5s"] {
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
