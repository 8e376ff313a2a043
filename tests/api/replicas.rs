//! Several replicas on one PostgreSQL (SPEC §16): two server processes behind a real HAProxy on
//! loopback. Whatever a client holds works on either replica (`credentials`); a session or run
//! held by one is reached through the other (`held`); a replica killed outright loses only what it
//! held, and clearly (`failure`).

mod cluster;
mod credentials;
mod failure;
mod held;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::server::Server;

/// Polls `check` every 100 ms for up to `secs`; the time it took when it held.
async fn within<F: std::future::Future<Output = bool>>(
    secs: u64,
    mut check: impl FnMut() -> F,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// A detached run of `argv` in `id`, started on `server`.
async fn detached(server: &Server, id: &str, argv: &[&str]) -> String {
    let body = json!({ "argv": argv, "detach": true, "timeout_s": 120 });
    let (status, answer) = server
        .call("POST", &format!("/workspaces/{id}/exec"), Some(body))
        .await;
    assert_eq!(status, 202, "{answer}");
    answer["exec_id"].as_str().unwrap().to_owned()
}

async fn run_of(server: &Server, id: &str, exec_id: &str) -> Value {
    let (status, run) = server
        .call("GET", &format!("/workspaces/{id}/exec/{exec_id}"), None)
        .await;
    assert_eq!(status, 200, "{run}");
    run
}
