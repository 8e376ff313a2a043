//! Several replicas on one PostgreSQL (SPEC §16): two server processes behind a real HAProxy on
//! loopback. Whatever a client holds works on either replica; a session or run held by one is
//! reached through the other; a replica killed outright loses only what it held, and clearly.

mod cluster;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use self::cluster::{Cluster, output, terminal};
use crate::support::process::sigkill;
use crate::support::server::Server;
use crate::support::terminal::type_and_expect;

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

#[tokio::test]
async fn two_replicas_behind_haproxy_serve_every_client_whichever_replica_it_reaches() {
    let c = Cluster::start().await;
    // Created through the load balancer, served by both replicas.
    let (status, ws) = c
        .call(
            "POST",
            "/workspaces",
            Some(json!({ "name": "r", "tier": 3 })),
        )
        .await;
    assert_eq!(status, 201, "{ws}");
    let id = ws["id"].as_str().unwrap().to_owned();
    c.b.wait_online(&id).await;
    for server in [&c.a, &c.b] {
        let (status, got) = server.call("GET", &format!("/workspaces/{id}"), None).await;
        assert_eq!((status, &got["id"]), (200, &json!(id)));
    }

    // A ticket minted on A opens a terminal on B.
    let (status, ticket) =
        c.a.call("POST", &format!("/workspaces/{id}/terminal/ticket"), None)
            .await;
    assert_eq!(status, 200, "{ticket}");
    let url = format!(
        "{}/workspaces/{id}/terminal?ticket={}",
        c.b.base.replacen("http", "ws", 1),
        ticket["ticket"].as_str().unwrap()
    );
    let (mut plain, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    type_and_expect(&mut plain, "echo ticket-$((20+3))\r", "ticket-23").await;
    drop(plain);

    let ws_b = c.b.base.replacen("http", "ws", 1);
    // A browser session opened on A is honoured by B, from B's own origin.
    let opened =
        c.a.client
            .post(c.a.url("/auth/session"))
            .bearer_auth(crate::support::server::TOKEN)
            .send()
            .await
            .unwrap();
    assert_eq!(opened.status(), 200);
    let cookie = opened.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let patched =
        c.b.client
            .patch(c.b.url(&format!("/workspaces/{id}")))
            .header("Cookie", &cookie)
            .header("Origin", &c.b.base)
            .json(&json!({ "name": "r" }))
            .send()
            .await
            .unwrap();
    assert_eq!(patched.status(), 200, "{:?}", patched.text().await);
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

    // A token revoked on A is refused by B within a second, and the sockets it opened on B
    // close: its own session there, and its resume through B of a session A holds.
    let (status, token) =
        c.a.call("POST", &format!("/workspaces/{id}/tokens"), None)
            .await;
    assert_eq!(status, 201, "{token}");
    let bearer = token["auth_token"].as_str().unwrap().to_owned();
    let as_token = |server: &Server| {
        server
            .client
            .get(server.url(&format!("/workspaces/{id}/terminal/sessions")))
            .bearer_auth(&bearer)
            .send()
    };
    assert_eq!(as_token(&c.b).await.unwrap().status(), 200);
    let on_b = format!("{ws_b}/workspaces/{id}/terminal?session=new");
    let on_b = crate::session_client::attach_url(&on_b, Some(&bearer));
    let mut on_b = on_b.await.unwrap();
    let held_by_a = terminal(&c.a.base, &id, "session=new").await;
    let relayed = format!(
        "{ws_b}/workspaces/{id}/terminal?session={}&offset=0",
        held_by_a.id()
    );
    let relayed = crate::session_client::attach_url(&relayed, Some(&bearer));
    let mut relayed = relayed.await.unwrap();
    let token_id = token["id"].as_str().unwrap();
    let asked = Instant::now();
    let (status, _) =
        c.a.call(
            "DELETE",
            &format!("/workspaces/{id}/tokens/{token_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let refused_in = within(1, || async {
        as_token(&c.b).await.unwrap().status() == 401
    });
    assert!(
        refused_in.await.is_some(),
        "B still took the revoked token after 1 s"
    );
    for socket in [&mut on_b, &mut relayed] {
        while socket.read_frame().await {}
        let took = asked.elapsed();
        let close = socket.close.clone().map(|(c, r)| (u16::from(c), r));
        assert_eq!(close, Some((1008, "token revoked".to_owned())));
        eprintln!("a token revoked on A closed its socket on B after {took:?}");
        // Within the second SPEC §16 gives, and well inside B's 3 s between sweeps: B acted on
        // A's announcement.
        assert!(took < Duration::from_millis(500), "closed after {took:?}");
    }
    // The session A holds lives on: only the revoked token's socket to it closed.
    let at = held_by_a.offset();
    drop(held_by_a.socket);
    let mut again = terminal(
        &c.b.base,
        &id,
        &format!("session={}&offset={at}", relayed.id()),
    )
    .await;
    again.send("echo alive-$((5+5))\r").await;
    assert!(again.read_until("alive-10", 0).await);
}

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

#[tokio::test]
async fn the_routes_between_replicas_admit_only_the_replicas_secret() {
    let app = crate::helpers::TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "r", "tier": 3 })).await;
    let paths = [
        format!("/internal/replica/workspaces/{id}/sessions"),
        format!(
            "/internal/replica/workspaces/{id}/exec/{}/output?since=0&follow=0&offsets=1",
            uuid::Uuid::new_v4()
        ),
    ];
    for path in &paths {
        for header in [None, Some("wrong"), Some(app.admin.as_str())] {
            let mut req = app.get(path);
            if let Some(value) = header {
                req = req.header("X-Replica-Token", value);
            }
            let res = req.bearer_auth(&app.admin).send().await.unwrap();
            assert_eq!(res.status(), 401, "{path} with {header:?}");
        }
    }
    let signal = format!(
        "/internal/replica/workspaces/{id}/exec/{}/signal",
        uuid::Uuid::new_v4()
    );
    let res = app
        .post(&signal)
        .json(&json!({ "signal": "KILL" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .get(&format!(
            "/internal/replica/workspaces/{id}/terminal/x?view=false"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
