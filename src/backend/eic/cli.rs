//! The AWS CLI's version, read once at start-up: `ec2-instance-connect open-tunnel` exists only
//! from 2.12.0 (SPEC §11), and Debian 12's CLI is 2.9.19.

use std::sync::Arc;
use std::time::Duration;

use super::DOCS;

/// The oldest AWS CLI with `ec2-instance-connect open-tunnel` (SPEC §11).
pub const MIN_AWS_CLI: (u32, u32, u32) = (2, 12, 0);

/// The version in `aws --version`'s answer (`aws-cli/2.23.6 Python/3.13.5 …`).
pub fn parse_aws_version(text: &str) -> Option<(u32, u32, u32)> {
    let rest = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("aws-cli/"))?;
    let mut parts = rest.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Reads `aws --version` once at start-up; a CLI older than `MIN_AWS_CLI` is logged as an error
/// and kept, so that readiness and every EC2 request can say so. An answer that cannot be read is
/// only a warning (the CLI may still work).
pub(super) async fn check_aws_version(aws: String, too_old: Arc<std::sync::OnceLock<String>>) {
    let run = tokio::process::Command::new(&aws)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let text = match tokio::time::timeout(Duration::from_secs(30), run).await {
        Ok(Ok(out)) => format!(
            "{} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        _ => String::new(),
    };
    match parse_aws_version(&text) {
        Some(v) if v < MIN_AWS_CLI => {
            let version = format!("{}.{}.{}", v.0, v.1, v.2);
            tracing::error!(
                version = %version,
                "the aws CLI is too old for EC2 workspaces: `ec2-instance-connect open-tunnel` needs 2.12.0 or later; see {DOCS}"
            );
            let _ = too_old.set(version);
        }
        Some(_) => {}
        None => tracing::warn!("could not read `aws --version`; see {DOCS}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aws_cli_version_is_read_from_its_banner() {
        let v = |t| parse_aws_version(t);
        assert_eq!(
            v("aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0 source/x86_64.debian.12 prompt/off\n"),
            Some((2, 9, 19))
        );
        assert_eq!(
            v("aws-cli/2.23.6 Python/3.13.5 Linux/6.12"),
            Some((2, 23, 6))
        );
        assert_eq!(
            v("aws-cli/1.18.69 Python/3.8.10 Linux/5.4 botocore/1.17.0"),
            Some((1, 18, 69))
        );
        assert_eq!(v("command not found"), None);
        assert!(v("aws-cli/2.9.19 x").unwrap() < MIN_AWS_CLI);
        assert!(v("aws-cli/2.12.0 x").unwrap() >= MIN_AWS_CLI);
    }
}
