//! A replica killed outright (SIGKILL): what it held is lost and says so within the lease, never a
//! hang; the other replica serves on; nothing that finished before the kill is lost from the audit
//! or written twice.

use std::time::{Duration, Instant};

use serde_json::json;

use super::cluster::{Cluster, output, terminal};
use super::{detached, run_of, within};
use crate::support::process::sigkill;

#[tokio::test]
async fn a_replica_killed_outright_loses_only_what_it_held_and_says_so() {
    let mut c = Cluster::start().await;
    let id = c.b.local_workspace().await;
    // What finished before the kill has its audit rows, once each.
    let (status, _) = c.a.exec(&id, &["true"]).await;
    assert_eq!(status, 200);
    let finished = within(10, || async { c.b.activity(&id, "exec").await.len() == 1 });
    assert!(finished.await.is_some());
    let mut held = terminal(&c.a.base, &id, "session=new").await;
    let sid = held.id();
    held.send("echo held\r").await;
    assert!(held.read_until("held", 0).await);
    let offset = held.offset();
    drop(held.socket);
    let run = detached(&c.a, &id, &["sleep", "60"]).await;
    let rows_before = c.b.activity(&id, "").await.len();

    sigkill(c.a.pid());
    let killed = Instant::now();
    // Resuming A's session through B answers 404, never a hang, well within 15 s.
    let query = format!("session={sid}&offset={offset}");
    let url = format!(
        "{}/workspaces/{id}/terminal?{query}",
        c.b.base.replacen("http", "ws", 1)
    );
    // Until A's lease lapses B may answer 503 (try again), never anything else, never a hang.
    let mut answers = Vec::new();
    while killed.elapsed() < Duration::from_secs(15) {
        let attempt = crate::session_client::attach_url(&url, Some(crate::support::server::TOKEN));
        let answer = tokio::time::timeout(Duration::from_secs(5), attempt).await;
        let status = crate::session_client::refused(answer.expect("the resume hung"));
        answers.push(status);
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(answers.last(), Some(&404), "{answers:?}");
    eprintln!(
        "resuming a killed replica's session: 404 after {:?} ({answers:?})",
        killed.elapsed()
    );
    assert!(
        answers.iter().all(|s| [503, 404].contains(s)),
        "{answers:?}"
    );
    // Its detached run is lost once A's lease lapses, within 15 s, and says so.
    let lost = within(15, || async {
        run_of(&c.b, &id, &run).await["state"] == "lost"
    });
    let lost = lost
        .await
        .expect("the run of a killed replica never read as lost");
    assert!(killed.elapsed() < Duration::from_secs(15), "{lost:?}");
    eprintln!(
        "a killed replica's run read as lost after {:?}",
        killed.elapsed()
    );
    let lines = output(&c.b, &id, &run, 0).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["lost"], true);

    // Its lease lapsed, the session is gone for every route.
    let (status, gone) =
        c.b.call(
            "DELETE",
            &format!("/workspaces/{id}/terminal/sessions/{sid}"),
            None,
        )
        .await;
    assert_eq!(
        (status, &gone["error"]),
        (404, &json!("terminal session not found"))
    );
    // B serves on, through the load balancer too.
    let (status, answer) = c.b.exec(&id, &["echo", "still"]).await;
    assert_eq!((status, &answer["stdout"]), (200, &json!("still\n")));
    for _ in 0..4 {
        let (status, _) = c.call("GET", &format!("/workspaces/{id}"), None).await;
        assert_eq!(status, 200);
    }
    // Audit: nothing that finished before the kill was lost or written twice.
    let rows = c.b.activity(&id, "").await;
    assert_eq!(rows.len(), rows_before + 1, "{rows:#?}");
    assert_eq!(c.b.activity(&id, "exec").await.len(), 2);
    assert!(!c.a.alive());
}
