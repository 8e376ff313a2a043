//! Several replicas (SPEC §16): what passing through a second replica adds to a resume's first
//! byte and to an exec read, against the same asked of the replica that holds them, alternating.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{percentile, row};
use crate::launch_with;
use crate::support::server::{Server, TOKEN};

/// Requests timed per figure, each way.
const ASKS: usize = 200;

/// Milliseconds to the first binary frame of a resume on `server`.
async fn resume_ms(server: &Server, id: &str, sid: &str) -> f64 {
    let started = Instant::now();
    let mut socket = server
        .terminal_at(id, &format!("?session={sid}&offset=0"))
        .await;
    while let Some(Ok(frame)) = socket.next().await {
        if let Message::Binary(_) = frame {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let _ = socket.close(None).await;
            return ms;
        }
    }
    panic!("no replay on a resume");
}

/// Milliseconds for the whole output of run `exec_id` read from `server`.
async fn read_ms(server: &Server, id: &str, exec_id: &str) -> f64 {
    let started = Instant::now();
    let url = server.url(&format!("/workspaces/{id}/exec/{exec_id}/output?since=0"));
    let res = server
        .client
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.bytes().await.unwrap();
    assert!(body.ends_with(b"}\n"));
    started.elapsed().as_secs_f64() * 1000.0
}

fn p50_p99(v: &mut [f64]) -> (f64, f64) {
    (percentile(v, 0.5), percentile(v, 0.99))
}

fn report(what: &str, direct: &mut [f64], proxied: &mut [f64]) {
    let ((d50, d99), (p50, p99)) = (p50_p99(direct), p50_p99(proxied));
    row(
        &format!("{what} through another replica, p50 / p99 ({ASKS} each)"),
        format!("{p50:.1} / {p99:.1} ms"),
        &format!("from the holder {d50:.1} / {d99:.1} ms"),
        format!("+{:.1} ms ({:.2}×)", p50 - d50, p50 / d50),
        "added ≤ 5 ms p50",
    );
}

/// Figure 11: a resume's first byte and a finished run's output, direct and through a second
/// replica on the same PostgreSQL.
pub async fn proxied(data: &Path) {
    let args = [format!(
        "--database-url={}",
        crate::support::fresh_postgres_url().await
    )];
    let (dir_a, dir_b) = (data.join("replica-a"), data.join("replica-b"));
    for dir in [&dir_a, &dir_b] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let a = launch_with(&dir_a, &args).await;
    let b = launch_with(&dir_b, &args).await;
    let id = a.local_workspace().await;

    let mut session = a.terminal_at(&id, "?session=new").await;
    let sid = match session.next().await {
        Some(Ok(Message::Text(t))) => {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            v["session"].as_str().unwrap().to_owned()
        }
        other => panic!("no session frame: {other:?}"),
    };
    session
        .send(Message::Text("seq 1 200\r".into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(session);
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for _ in 0..ASKS {
        direct.push(resume_ms(&a, &id, &sid).await);
        through.push(resume_ms(&b, &id, &sid).await);
    }
    report("resume to first byte", &mut direct, &mut through);

    let body = serde_json::json!({ "argv": ["seq", "1", "2000"], "detach": true });
    let (status, run) = a
        .call("POST", &format!("/workspaces/{id}/exec"), Some(body))
        .await;
    assert_eq!(status, 202, "{run}");
    let exec_id = run["exec_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for _ in 0..ASKS {
        direct.push(read_ms(&a, &id, &exec_id).await);
        through.push(read_ms(&b, &id, &exec_id).await);
    }
    report("exec output read (2000 lines)", &mut direct, &mut through);
    let _ = a.call("DELETE", &format!("/workspaces/{id}"), None).await;
}
