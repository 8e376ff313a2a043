//! Typed start-up configuration: every setting is an environment variable and a flag.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::ratelimit::RateLimit;

mod parts;
mod values;
use values::{parse_bool, parse_duration, parse_origin};

/// Server configuration, parsed once at start-up (SPEC §2). Nothing reads the environment later.
#[derive(Clone, Parser)]
#[command(
    name = "workspace-server",
    version,
    about,
    after_help = "The same binary is a client of a running server: \
                  `workspace-server workspaces|shell|exec|cp --help`."
)]
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

    /// Comma-separated browser origins allowed by CORS (none when unset; in development,
    /// `http://localhost:3000` and `http://localhost:3001`).
    #[arg(long, env = "CORS_ORIGINS")]
    pub cors_origins: Option<String>,

    /// Requests per client: `600/min`, `10/s`, or a bare count per minute; `0` disables.
    #[arg(long, env = "RATE_LIMIT", default_value = "600/min")]
    pub rate_limit: RateLimit,

    /// Docker engine for local workspaces: `unix:///path`, `tcp://host:port`, or `none` for no
    /// local Docker path (SaaS).
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    pub docker_host: String,

    /// Image for local workspaces whose create request names none.
    #[arg(
        long,
        env = "WORKSPACE_IMAGE",
        default_value = "workspace-template:latest"
    )]
    pub workspace_image: String,

    /// Tiers 3 and 4 run privileged; `false` keeps their other settings without `Privileged`.
    #[arg(long, env = "WORKSPACE_PRIVILEGED", default_value_t = true, action = clap::ArgAction::Set, value_parser = parse_bool)]
    pub workspace_privileged: bool,

    /// Memory limit of tier 2 containers, in MiB.
    #[arg(long, env = "TIER2_MEMORY_MB", default_value_t = 512)]
    pub tier2_memory_mb: u64,
    /// Memory limit of tier 3 containers, in MiB.
    #[arg(long, env = "TIER3_MEMORY_MB", default_value_t = 2048)]
    pub tier3_memory_mb: u64,
    /// Memory limit of tier 4 containers, in MiB.
    #[arg(long, env = "TIER4_MEMORY_MB", default_value_t = 4096)]
    pub tier4_memory_mb: u64,
    /// CPU of tier 2 containers in shares of 1024 per CPU (shares × 1e9 / 1024 nano-CPUs).
    #[arg(long, env = "TIER2_CPU_SHARES", default_value_t = 1024)]
    pub tier2_cpu_shares: u64,
    /// CPU of tier 3 containers in shares of 1024 per CPU.
    #[arg(long, env = "TIER3_CPU_SHARES", default_value_t = 2048)]
    pub tier3_cpu_shares: u64,
    /// CPU of tier 4 containers in shares of 1024 per CPU.
    #[arg(long, env = "TIER4_CPU_SHARES", default_value_t = 4096)]
    pub tier4_cpu_shares: u64,

    /// The `aws` CLI used for EC2 Instance Connect (a path, or a name looked up on PATH).
    #[arg(long, env = "AWS_CLI", default_value = "aws")]
    pub aws_cli: String,

    /// The OpenSSH client (a path, or a name looked up on PATH).
    #[arg(long, env = "SSH_BIN", default_value = "ssh")]
    pub ssh_bin: String,

    /// AWS region of the EC2 workspaces.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-2")]
    pub aws_region: String,

    /// OS user the EIC path logs in as on EC2 workspaces.
    #[arg(long, env = "WORKSPACE_EC2_OS_USER", default_value = "ubuntu")]
    pub workspace_ec2_os_user: String,

    /// Shell command run on an EC2 workspace to restart its agent (after a plugin change, or on
    /// `POST /workspaces/{id}/restart`); unset, EC2 workspaces are not restarted by this server.
    #[arg(long, env = "WORKSPACE_EC2_RESTART_COMMAND")]
    pub workspace_ec2_restart_command: Option<String>,

    /// Control plane that provisions EC2 workspaces; unset, local workspaces use Docker.
    #[arg(long, env = "CP_PROVISION_URL")]
    pub cp_provision_url: Option<String>,

    /// Bearer secret for the control plane.
    #[arg(long, env = "MOLECULE_CP_SHARED_SECRET")]
    pub molecule_cp_shared_secret: Option<String>,

    /// The plugin registry: `local://<name>` is `<dir>/<name>/` or `<dir>/<name>.tar.gz`.
    #[arg(long, env = "PLUGINS_DIR", default_value = "plugins")]
    pub plugins_dir: PathBuf,

    /// Largest file a raw (`application/octet-stream`) read or write carries, in bytes (SPEC §15).
    #[arg(long, env = "FILES_MAX_BYTES", default_value_t = crate::files::DEFAULT_FILES_MAX_BYTES)]
    pub files_max_bytes: u64,

    /// Largest plugin install request body, in bytes.
    #[arg(long, env = "PLUGIN_INSTALL_BODY_MAX_BYTES", default_value_t = 65536)]
    pub plugin_install_body_max_bytes: usize,

    /// How long staging a plugin may take: seconds (`300`) or Go's form (`300ms`, `90s`, `1m30s`,
    /// `5m`, `1h`).
    #[arg(long, env = "PLUGIN_INSTALL_FETCH_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub plugin_install_fetch_timeout: std::time::Duration,

    /// Largest staged plugin tree, in bytes.
    #[arg(
        long,
        env = "PLUGIN_INSTALL_MAX_DIR_BYTES",
        default_value_t = 104_857_600
    )]
    pub plugin_install_max_dir_bytes: u64,

    /// Accepts `github://` sources not pinned to a commit id.
    #[arg(long, env = "PLUGIN_ALLOW_UNPINNED", default_value_t = false, action = clap::ArgAction::Set, value_parser = parse_bool)]
    pub plugin_allow_unpinned: bool,

    /// Base URL `github://owner/repo` sources are fetched from (a mirror, or `file://` in tests).
    #[arg(long, env = "PLUGIN_GITHUB_URL", default_value = "https://github.com")]
    pub plugin_github_url: String,

    /// The canvas behind the same origin: requests matching no API route are proxied there.
    #[arg(long, env = "CANVAS_PROXY_URL")]
    pub canvas_proxy_url: Option<String>,

    /// Seconds between the server's pings on an open terminal.
    #[arg(long, env = "TERMINAL_PING_SECS", default_value_t = 30)]
    pub terminal_ping_secs: u64,

    /// Seconds a terminal may pass with no input and no output before it is closed.
    #[arg(long, env = "TERMINAL_IDLE_SECS", default_value_t = 1800)]
    pub terminal_idle_secs: u64,

    /// Output kept per resumable terminal session for a resume, in bytes.
    #[arg(long, env = "TERMINAL_REPLAY_BYTES", default_value_t = 1024 * 1024)]
    pub terminal_replay_bytes: usize,

    /// How long a resumable session's shell outlives its last socket.
    #[arg(long, env = "TERMINAL_DETACH_GRACE", default_value = "300s", value_parser = parse_duration)]
    pub terminal_detach_grace: std::time::Duration,

    /// Live resumable sessions a workspace may have at once (429 beyond).
    #[arg(long, env = "TERMINAL_SESSIONS_MAX", default_value_t = 16)]
    pub terminal_sessions_max: usize,

    /// How long an ended exec run's record and output are kept (`GET …/exec/{exec_id}`).
    #[arg(long, env = "EXEC_RETENTION", default_value = "1h", value_parser = parse_duration)]
    pub exec_retention: std::time::Duration,

    /// The longest `timeout_s` of a detached exec run (`"detach": true`), in seconds.
    #[arg(long, env = "EXEC_DETACHED_MAX_S", default_value_t = 3600)]
    pub exec_detached_max_s: u64,

    /// The address the other replicas on the same PostgreSQL reach this one at
    /// (`http://10.0.0.5:8080`), for the sessions and runs it holds (SPEC §16). Unset: the bound
    /// address, when it is a specific one.
    #[arg(long, env = "REPLICA_ADVERTISE_URL")]
    pub replica_advertise_url: Option<String>,

    /// How long a browser session (`POST /auth/session`) lasts.
    #[arg(long, env = "BROWSER_SESSION_TTL", default_value = "8h", value_parser = parse_duration)]
    pub browser_session_ttl: std::time::Duration,

    /// The origin browsers reach this server at (`https://ws.example.com`), when a proxy in front
    /// changes `Host`; unset, a session cookie needs an `Origin` of the request's own `Host`.
    #[arg(long, env = "PUBLIC_ORIGIN", value_parser = parse_origin)]
    pub public_origin: Option<String>,

    /// Open connections at once; past it new ones are refused (503, then closed), not queued.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// How long a request's headers may take to arrive after its first byte (408 past it).
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub header_read_timeout: std::time::Duration,

    /// How long a keep-alive connection may sit between requests before it is closed.
    #[arg(long, env = "KEEP_ALIVE_TIMEOUT", default_value = "75s", value_parser = parse_duration)]
    pub keep_alive_timeout: std::time::Duration,

    /// Log filter in `tracing` syntax.
    #[arg(long = "log", env = "RUST_LOG", default_value = "info")]
    pub log: String,
}

/// The CORS origins allowed in development when `CORS_ORIGINS` is unset, as in the Go server.
const DEVELOPMENT_ORIGINS: [&str; 2] = ["http://localhost:3000", "http://localhost:3001"];

impl Config {
    /// Parses the command line and the environment, an empty environment value counting as
    /// unset (as operators write them for the Go server: `MOLECULE_ORG_ID=`).
    pub fn from_env() -> Result<Self, clap::Error> {
        let cmd = Self::command().mut_args(|a| {
            let empty = a
                .get_env()
                .and_then(std::env::var_os)
                .is_some_and(|v| v.is_empty());
            if empty { a.env(None) } else { a }
        });
        Self::from_arg_matches(&cmd.try_get_matches()?)
    }

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
        self.molecule_env.as_deref().is_some_and(|env| {
            env.eq_ignore_ascii_case("development") || env.eq_ignore_ascii_case("dev")
        })
    }

    /// The tenant id, treating an empty value as unset (self-hosted mode).
    pub fn org_id(&self) -> Option<&str> {
        self.molecule_org_id
            .as_deref()
            .filter(|o| !o.trim().is_empty())
    }

    /// The admin token, treating an empty value as unset.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref().filter(|t| !t.is_empty())
    }

    /// Memory (MiB) and CPU shares of a tier's containers; tier 1 has no limits.
    pub fn tier_limits(&self, tier: i32) -> Option<(u64, u64)> {
        match tier {
            2 => Some((self.tier2_memory_mb, self.tier2_cpu_shares)),
            3 => Some((self.tier3_memory_mb, self.tier3_cpu_shares)),
            4 => Some((self.tier4_memory_mb, self.tier4_cpu_shares)),
            _ => None,
        }
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
            .field("replica_advertise_url", &self.replica_advertise_url)
            .field("admin_token", &redact(&self.admin_token))
            .field("molecule_org_id", &self.molecule_org_id)
            .field("molecule_env", &self.molecule_env)
            .field("cors_origins", &self.cors_origins)
            .field("rate_limit", &self.rate_limit)
            .field("docker_host", &self.docker_host)
            .field("aws_cli", &self.aws_cli)
            .field("ssh_bin", &self.ssh_bin)
            .field("aws_region", &self.aws_region)
            .field("workspace_ec2_os_user", &self.workspace_ec2_os_user)
            .field("cp_provision_url", &self.cp_provision_url)
            .field(
                "molecule_cp_shared_secret",
                &redact(&self.molecule_cp_shared_secret),
            )
            .field("workspace_image", &self.workspace_image)
            .field("workspace_privileged", &self.workspace_privileged)
            .finish_non_exhaustive()
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
    fn development_is_case_insensitive_and_opens_the_go_canvas_origins() {
        let c = Config::from_args(["x", "--molecule-env", "Development"]).unwrap();
        assert!(c.is_development());
        assert_eq!(
            c.cors_origins(),
            ["http://localhost:3000", "http://localhost:3001"]
        );
        let c = Config::from_args(["x", "--molecule-env", "production"]).unwrap();
        assert!(c.cors_origins().is_empty());
        let c = Config::from_args(["x", "--molecule-env", "DEV", "--cors-origins", "https://a"])
            .unwrap();
        assert_eq!(c.cors_origins(), ["https://a"]);
    }

    #[test]
    fn an_empty_org_id_is_self_hosted_mode() {
        let c = Config::from_args(["x", "--molecule-org-id", ""]).unwrap();
        assert_eq!(c.org_id(), None);
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
