//! Typed start-up configuration: every setting is an environment variable and a flag.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::ratelimit::RateLimit;

/// Server configuration, parsed once at start-up (SPEC §2). Nothing reads the environment later.
#[derive(Clone, Parser)]
#[command(name = "workspace-server", version, about)]
pub struct Config {
    /// TCP port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// Address to bind; the container images set 0.0.0.0.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1")]
    pub bind_addr: IpAddr,

    /// `postgres://…` for PostgreSQL; unset means an embedded SQLite file under the data dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Directory for the embedded SQLite database (created on first start).
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Admin bearer token. Unset: generated at start and printed once (see docs/configuration.md).
    #[arg(long, env = "ADMIN_TOKEN")]
    pub admin_token: Option<String>,

    /// Tenant id: when set, every non-health request must carry a matching `X-Molecule-Org-Id`.
    #[arg(long, env = "MOLECULE_ORG_ID")]
    pub molecule_org_id: Option<String>,

    /// Deployment environment; `development`/`dev` with no admin token leaves the admin group open.
    #[arg(long, env = "MOLECULE_ENV")]
    pub molecule_env: Option<String>,

    /// Comma-separated browser origins allowed by CORS (none when unset).
    #[arg(long, env = "CORS_ORIGINS")]
    pub cors_origins: Option<String>,

    /// Requests per client: `600/min`, `10/s`, or a bare count per minute; `0` disables.
    #[arg(long, env = "RATE_LIMIT", default_value = "600/min")]
    pub rate_limit: RateLimit,

    /// Log filter in `tracing` syntax.
    #[arg(long = "log", env = "RUST_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    /// Parses flags only, ignoring the process environment: for tests and embedding.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cmd = Self::command().mut_args(|a| a.env(None));
        Self::from_arg_matches(&cmd.try_get_matches_from(args)?)
    }

    /// True in local development (`MOLECULE_ENV` = `development` or `dev`).
    pub fn is_development(&self) -> bool {
        matches!(self.molecule_env.as_deref(), Some("development" | "dev"))
    }

    /// The admin token, treating an empty value as unset.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref().filter(|t| !t.is_empty())
    }

    /// The allowed CORS origins, trimmed, empty entries dropped.
    pub fn cors_origins(&self) -> Vec<String> {
        self.cors_origins
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("bind_addr", &self.bind_addr)
            .field("database_url", &redact(&self.database_url))
            .field("data_dir", &self.data_dir)
            .field("admin_token", &redact(&self.admin_token))
            .field("molecule_org_id", &self.molecule_org_id)
            .field("molecule_env", &self.molecule_env)
            .field("cors_origins", &self.cors_origins)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_spec() {
        let c = Config::from_args(["workspace-server"]).unwrap();
        assert_eq!(c.port, 8080);
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1");
        assert_eq!(c.rate_limit, RateLimit::per_minute(600));
        assert!(c.database_url.is_none());
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let c = Config::from_args([
            "workspace-server",
            "--admin-token",
            "sekrit-admin",
            "--database-url",
            "postgres://u:pw@h/db",
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("sekrit-admin"));
        assert!(!shown.contains("pw@h"));
    }

    #[test]
    fn empty_admin_token_counts_as_unset() {
        let c = Config::from_args(["workspace-server", "--admin-token", ""]).unwrap();
        assert!(c.admin_token().is_none());
    }

    #[test]
    fn cors_origins_are_split_and_trimmed() {
        let c = Config::from_args(["x", "--cors-origins", " https://a.example , ,http://b:3000"])
            .unwrap();
        assert_eq!(c.cors_origins(), ["https://a.example", "http://b:3000"]);
    }
}
