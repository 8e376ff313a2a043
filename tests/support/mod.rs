//! Support shared by the integration tests and the bench harness; real databases, fresh per test.
#![allow(dead_code)]

pub mod contract;
pub mod cut;
pub mod parts;
pub mod process;
pub mod server;
pub mod terminal;
pub mod tmux;

/// The workspace image built by `scripts/test.sh` (busybox, from scratch).
pub fn test_image() -> String {
    std::env::var("WSS_TEST_IMAGE").unwrap_or_else(|_| "workspace-server-test:busybox".into())
}

use sqlx::Connection;

/// A new, empty PostgreSQL database on the test server named by `TEST_DATABASE_URL`.
/// The PostgreSQL tests are mandatory: without that variable they fail, they do not skip.
pub async fn fresh_postgres_url() -> String {
    let base = std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run the suite with scripts/test.sh, which starts PostgreSQL",
    );
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at TEST_DATABASE_URL: {e}"));
    let name = format!("wss_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE");
    let (prefix, _) = base
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL has a database path");
    format!("{prefix}/{name}")
}
