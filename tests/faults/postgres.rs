//! PostgreSQL stopped and restarted under a running server.

use std::time::{Duration, Instant};

use crate::support::parts::Postgres;
use crate::support::server::Server;

#[tokio::test(flavor = "multi_thread")]
async fn the_database_going_away_gives_503s_keeps_audit_rows_and_service_resumes() {
    let pg = Postgres::start();
    let data = tempfile::tempdir().unwrap();
    let mut server =
        Server::start(data.path(), &[format!("--database-url={}", pg.url())], &[]).await;
    let id = server.local_workspace().await;
    let (status, body) = server.exec(&id, &["echo", "before"]).await;
    assert_eq!(status, 200, "{body}");

    // An exec running when the database stops, and finishing while it is down: its audit row
    // waits for the database instead of being dropped.
    let during = ["sh", "-c", "sleep 2; echo during"];
    let exec = server.exec_stream(&id, &during);
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.stop();

    let started = Instant::now();
    let (status, body) = server.call("GET", &format!("/workspaces/{id}"), None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "database unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered in {:?}",
        started.elapsed()
    );
    let (status, _) = server.call("GET", "/readyz", None).await;
    assert_eq!(status, 503);
    let (status, _) = server.call("GET", "/health", None).await;
    assert_eq!(status, 200);
    let lines = exec.await.unwrap();
    assert_eq!(lines.last().unwrap()["exit_code"], 0, "{lines:?}");
    assert!(server.alive(), "the server crashed: {}", server.log_text());
    // Nothing of the database's password, URL or driver leaks into the answer.
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");

    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.resume();

    // Service resumes without a restart of the server.
    let mut ok = false;
    for _ in 0..100 {
        if server.call("GET", "/readyz", None).await.0 == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "not ready again: {}", server.log_text());
    let (status, body) = server.exec(&id, &["echo", "after"]).await;
    assert_eq!(status, 200, "{body}");

    // Every exec's row, exactly once, the one that ended during the outage included (its retry
    // backs off up to 2 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(server.exec_rows(&id, &during).await, 1);
    assert_eq!(server.exec_rows(&id, &["echo", "before"]).await, 1);
    assert_eq!(server.exec_rows(&id, &["echo", "after"]).await, 1);
    assert_eq!(server.activity(&id, "exec").await.len(), 3);
}
