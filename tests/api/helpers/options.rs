//! How a test server is started: its database, admin token and flags.

use std::path::PathBuf;

use super::TestApp;
use crate::support::fresh_postgres_url;
use crate::support::test_image;

/// Which database a test server uses.
#[derive(Clone)]
pub enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

/// How to start a test server.
#[derive(Clone)]
pub struct Options {
    pub db: Option<Db>,
    pub admin_token: Option<String>,
    pub args: Vec<String>,
    /// The data directory beside PostgreSQL, when a restart keeps it.
    pub(super) data: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            db: None,
            admin_token: Some(workspace_server::auth::generate_token()),
            args: vec![
                "--rate-limit".into(),
                "0".into(),
                "--workspace-image".into(),
                test_image(),
                // This machine's engine refuses privileged containers (SPEC §8).
                "--workspace-privileged".into(),
                "false".into(),
                // No EIC unless a test asks for it (`Options::eic`): remote workspaces get 503.
                "--aws-cli".into(),
                "/nonexistent/aws".into(),
            ],
            data: None,
        }
    }
}

impl Options {
    /// Sets `flag` to `value`, replacing an earlier value of the same flag.
    pub fn arg(mut self, flag: &str, value: &str) -> Self {
        if let Some(i) = self.args.iter().position(|a| a == flag) {
            self.args.drain(i..i + 2);
        }
        self.args.push(flag.into());
        self.args.push(value.into());
        self
    }

    pub async fn postgres(mut self) -> Self {
        self.db = Some(Db::Postgres(fresh_postgres_url().await));
        self
    }

    /// Reaches EC2 workspaces through the `aws` stand-in and the test sshd.
    pub fn eic(self) -> Self {
        let aws = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/aws");
        self.arg("--aws-cli", aws)
    }

    pub fn no_admin_token(mut self) -> Self {
        self.admin_token = None;
        self
    }

    pub async fn spawn(self) -> TestApp {
        TestApp::start(self).await
    }
}
