//! A terminal session or an exec run lives on the replica that started it; a client reaching the
//! other replica is served by the holder through it: resumes with no byte lost, listings, viewers,
//! keyed retries, reads and signals of detached runs, kills.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::cluster::{Cluster, output, terminal};
use super::{detached, run_of, within};
use crate::support::server::Server;

#[tokio::test]
async fn sessions_and_runs_held_by_one_replica_are_served_through_the_other() {
    let c = Cluster::start().await;
    let id = c.b.local_workspace().await;
    let ws_b = c.b.base.replacen("http", "ws", 1);
    // A session opened on A, dropped while its shell still writes, resumes through B (and
    // through the load balancer) with no byte lost or repeated.
    let mut first = terminal(&c.a.base, &id, "session=new").await;
    let sid = first.id();
    first.send("echo one-$((1+1))\r").await;
    assert!(first.read_until("one-2", 0).await);
    first.send("sleep 1; seq 1 2000; echo two-$((1+2))\r").await;
    let offset = first.offset();
    let before = first.bytes.clone();
    drop(first.socket);
    let mut resumed = terminal(&c.b.base, &id, &format!("session={sid}&offset={offset}")).await;
    assert_eq!(resumed.first["offset"], json!(offset), "{}", resumed.first);
    assert!(
        resumed.read_until("two-3", 0).await,
        "the resume through B lost output"
    );
    let whole = [before, resumed.bytes.clone()].concat();
    let text = String::from_utf8_lossy(&whole);
    for n in [1, 1000, 2000] {
        let line = format!("\r\n{n}\r\n");
        assert_eq!(text.matches(&line).count(), 1, "line {n} lost or repeated");
    }
    // Typed through B, it reaches the shell on A.
    resumed.send("echo three-$((1+3))\r").await;
    assert!(resumed.read_until("three-4", 0).await);
    let at = resumed.offset();
    drop(resumed.socket);
    let via_lb = terminal(&c.lb, &id, &format!("session={sid}&offset={at}")).await;
    assert_eq!(via_lb.first["offset"], json!(at));
    drop(via_lb.socket);

    // B lists A's session; an offset past its output is refused by A, through B, before any
    // upgrade.
    let (status, listed) =
        c.b.call("GET", &format!("/workspaces/{id}/terminal/sessions"), None)
            .await;
    assert_eq!(status, 200);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["session"] == json!(sid)),
        "{listed}"
    );
    let past = format!(
        "{}/workspaces/{id}/terminal?session={sid}&offset=999999999",
        c.b.base.replacen("http", "ws", 1)
    );
    let refused =
        crate::session_client::attach_url(&past, Some(crate::support::server::TOKEN)).await;
    assert_eq!(crate::session_client::refused(refused), 400);

    // A viewer's ticket for A's session, minted on B, views it through B.
    let (status, view) =
        c.b.call(
            "POST",
            &format!("/workspaces/{id}/terminal/ticket"),
            Some(json!({ "session": sid, "mode": "view" })),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    let ticket = view["ticket"].as_str().unwrap();
    let viewed = format!("{ws_b}/workspaces/{id}/terminal?session={sid}&ticket={ticket}");
    let mut viewer = crate::session_client::attach_url(&viewed, None)
        .await
        .unwrap();
    assert!(
        viewer.read_until("three-4", 0).await,
        "the viewer through B saw nothing"
    );
    drop(viewer.socket);

    // A keyed retry reaching B attaches to the run A started: one run, its output from the start.
    let keyed = |server: &Server| {
        server
            .client
            .post(server.url(&format!("/workspaces/{id}/exec")))
            .bearer_auth(crate::support::server::TOKEN)
            .header("Idempotency-Key", "once-across-replicas")
            .header("Accept", "application/json")
            .json(&json!({ "argv": ["sh", "-c", "sleep 1; echo ran >> /tmp/ran; cat /tmp/ran"] }))
            .send()
    };
    let (first, retry) = tokio::join!(keyed(&c.a), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        keyed(&c.b).await
    });
    let (first, retry) = (first.unwrap(), retry.unwrap());
    let exec_id = |r: &reqwest::Response| r.headers()["x-exec-id"].to_str().unwrap().to_owned();
    assert_eq!(exec_id(&first), exec_id(&retry));
    let (first, retry): (Value, Value) = (first.json().await.unwrap(), retry.json().await.unwrap());
    assert_eq!(first["stdout"], "ran\n", "{first}");
    assert_eq!(retry["stdout"], "ran\n", "{retry}");

    // An exec run detached on A is read and signalled through B.
    let exec_id = detached(&c.a, &id, &["sh", "-c", "echo started; exec sleep 60"]).await;
    let started = within(10, || async {
        output(&c.b, &id, &exec_id, 0)
            .await
            .iter()
            .any(|l| l["data"] == "started\n")
    });
    assert!(started.await.is_some(), "B never read the run's output");
    assert_eq!(run_of(&c.b, &id, &exec_id).await["state"], "running");
    // A replica starting meanwhile leaves A's run alone (it closes only runs of its own data
    // directory), and reads it through A too.
    let c3 = c.another("c").await;
    let seen = within(10, || async {
        output(&c3, &id, &exec_id, 0)
            .await
            .iter()
            .any(|l| l["data"] == "started\n")
    });
    assert!(seen.await.is_some());
    assert_eq!(run_of(&c3, &id, &exec_id).await["state"], "running");
    let (status, answer) =
        c.b.call(
            "POST",
            &format!("/workspaces/{id}/exec/{exec_id}/signal"),
            Some(json!({ "signal": "TERM" })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let ended = within(10, || async {
        run_of(&c.b, &id, &exec_id).await["state"] == "exited"
    });
    assert!(ended.await.is_some());
    let run = run_of(&c.b, &id, &exec_id).await;
    assert_eq!(run["signal"], "TERM", "{run}");
    let lines = output(&c.b, &id, &exec_id, 0).await;
    assert_eq!(lines.last().unwrap()["signal"], "TERM");

    // Sessions of A killed through B: A is told at once (not at its next sweep of the table,
    // every 3 s), and each socket closes within a fraction of a second.
    for _ in 0..3 {
        let mut watched = terminal(&c.a.base, &id, "session=new").await;
        let doomed = watched.id();
        let path = format!("/workspaces/{id}/terminal/sessions/{doomed}");
        let asked = Instant::now();
        let (status, killed) = c.b.call("DELETE", &path, None).await;
        assert_eq!((status, &killed), (200, &json!({ "status": "killed" })));
        while watched.read_frame().await {}
        let took = asked.elapsed();
        eprintln!("a kill through B closed A's socket after {took:?}");
        assert!(took < Duration::from_millis(500), "closed after {took:?}");
    }
}
