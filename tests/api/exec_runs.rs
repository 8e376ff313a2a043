//! Exec runs as resources (SPEC §14) on the real Docker engine: the run's id, its record, and its
//! output read again from any offset, while it runs and after; unknown and expired runs are 404.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};

/// Starts a streamed exec: the response, its `X-Exec-Id`.
async fn start(app: &TestApp, id: &str, argv: &[&str]) -> (reqwest::Response, String) {
    let res = app
        .post(&format!("/workspaces/{id}/exec"))
        .bearer_auth(&app.admin)
        .json(&json!({ "argv": argv }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let exec_id = res.headers()["x-exec-id"].to_str().unwrap().to_owned();
    (res, exec_id)
}

/// `GET …/output` with `query`: the status and the body.
pub(crate) async fn output(app: &TestApp, id: &str, exec_id: &str, query: &str) -> (u16, String) {
    let res = app
        .get(&format!("/workspaces/{id}/exec/{exec_id}/output{query}"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Lines read back with their offsets, checked against the stream they came from: each offset is
/// where its line starts; answers the lines without their offsets, concatenated.
fn without_offsets(read: &str, stream: &str, since: usize) -> String {
    let mut out = String::new();
    let mut expected = since;
    for line in read.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        let offset = v.as_object_mut().unwrap().remove("offset").unwrap();
        assert_eq!(offset.as_u64(), Some(expected as u64), "{read}");
        let original = stream[expected..].lines().next().unwrap();
        assert_eq!(v, serde_json::from_str::<Value>(original).unwrap());
        out.push_str(original);
        out.push('\n');
        expected += original.len() + 1;
    }
    out
}

#[tokio::test]
async fn a_run_has_an_id_a_record_and_output_that_can_be_read_again() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "runs" })).await;
    let argv = [
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; done; echo err >&2; exit 2",
    ];
    let (res, exec_id) = start(&app, &id, &argv).await;
    let streamed = res.text().await.unwrap();
    let last: Value = serde_json::from_str(streamed.lines().last().unwrap()).unwrap();
    assert_eq!(last["exec_id"], exec_id.as_str());

    let (status, run) = app
        .get_as(&format!("/workspaces/{id}/exec/{exec_id}"), &app.admin)
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(
        (
            &run["exec_id"],
            &run["argv"],
            &run["state"],
            &run["exit_code"]
        ),
        (&json!(exec_id), &json!(argv), &json!("exited"), &json!(2))
    );
    assert!(
        run["started_at"].is_string() && run["duration_ms"].is_u64(),
        "{run}"
    );
    assert_eq!(run["stdout_bytes"], last["stdout_bytes"]);

    // The whole stream again, every line with its offset; then from the third line on.
    let (status, read) = output(&app, &id, &exec_id, "").await;
    assert_eq!(status, 200);
    assert_eq!(without_offsets(&read, &streamed, 0), streamed);
    let third = streamed.lines().take(2).map(|l| l.len() + 1).sum::<usize>();
    let (_, rest) = output(&app, &id, &exec_id, &format!("?since={third}")).await;
    assert_eq!(without_offsets(&rest, &streamed, third), streamed[third..]);
    // Past the end: nothing, and no error.
    let (status, none) = output(&app, &id, &exec_id, "?since=100000").await;
    assert_eq!((status, none.as_str()), (200, ""));

    // Unknown, another workspace's, and malformed.
    let other = app
        .create_workspace(json!({ "name": "other", "instance_id": "i-0123456789abcdef0" }))
        .await;
    let unknown = uuid::Uuid::new_v4().to_string();
    for (ws, run) in [(&id, unknown.as_str()), (&other, exec_id.as_str())] {
        let (status, body) = app
            .get_as(&format!("/workspaces/{ws}/exec/{run}"), &app.admin)
            .await;
        assert_eq!(
            (status.as_u16(), body),
            (404, json!({ "error": "exec run not found" }))
        );
        assert_eq!(output(&app, ws, run, "").await.0, 404);
    }
    assert_eq!(output(&app, &id, "not-a-uuid", "").await.0, 400);
    assert_eq!(output(&app, &id, &exec_id, "?since=-1").await.0, 400);
    assert_eq!(output(&app, &id, &exec_id, "?follow=yes").await.0, 400);
    app.remove(&id).await;
}

#[tokio::test]
async fn a_follower_gets_the_rest_of_a_live_run_from_its_offset() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "follow" })).await;
    let script = "i=0; while [ $i -lt 30 ]; do echo n$i; i=$((i+1)); sleep 0.05; done";
    let (res, exec_id) = start(&app, &id, &["sh", "-c", script]).await;
    let mut body = res.bytes_stream();
    let mut streamed = Vec::new();
    while streamed.iter().filter(|b| **b == b'\n').count() < 3 {
        streamed.extend_from_slice(&body.next().await.unwrap().unwrap());
    }
    // Up to the last whole line: where a client that lost its connection would resume.
    let since = streamed.iter().rposition(|b| *b == b'\n').unwrap() + 1;
    let (status, followed) = output(&app, &id, &exec_id, &format!("?since={since}&follow=1")).await;
    assert_eq!(status, 200);
    while let Some(chunk) = body.next().await {
        streamed.extend_from_slice(&chunk.unwrap());
    }
    let streamed = String::from_utf8(streamed).unwrap();
    assert!(streamed.contains("n29"), "{streamed}");
    // The follower's lines are exactly the rest of the run, final record included.
    assert_eq!(
        without_offsets(&followed, &streamed, since),
        streamed[since..]
    );
    assert!(followed.lines().last().unwrap().contains("\"exit_code\":0"));
    app.remove(&id).await;
}

#[tokio::test]
async fn a_run_past_its_retention_is_404() {
    let app = Options::default()
        .arg("--exec-retention", "1s")
        .spawn()
        .await;
    let id = app.create_local(json!({ "name": "retention" })).await;
    let (res, exec_id) = start(&app, &id, &["echo", "kept"]).await;
    res.text().await.unwrap();
    let path = format!("/workspaces/{id}/exec/{exec_id}");
    assert_eq!(app.get_as(&path, &app.admin).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.get_as(&path, &app.admin).await.0, 404);
    assert_eq!(output(&app, &id, &exec_id, "").await.0, 404);
    // The next run forgets it, its output file included.
    let (res, _) = start(&app, &id, &["true"]).await;
    res.text().await.unwrap();
    let file = app
        .data_dir()
        .join("exec")
        .join(format!("{}.ndjson", exec_id.replace('-', "")));
    assert!(!file.exists(), "{file:?}");
    // A key whose run has expired is new again: it starts a second run.
    let body = json!({ "argv": ["sh", "-c", "echo once >> /tmp/renewed"] });
    let (first, _) = keyed(&app, &id, "renewed", &body).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (second, _) = keyed(&app, &id, "renewed", &body).await;
    assert_ne!(first, second);
    assert_eq!(app.sh(&id, "cat /tmp/renewed").await, "once\nonce\n");
    app.remove(&id).await;
}

/// `POST /exec` with `body` and `Idempotency-Key: key`: the `X-Exec-Id` and the whole body.
async fn keyed(app: &TestApp, id: &str, key: &str, body: &Value) -> (String, String) {
    let res = app
        .post(&format!("/workspaces/{id}/exec"))
        .bearer_auth(&app.admin)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let exec_id = res.headers()["x-exec-id"].to_str().unwrap().to_owned();
    (exec_id, res.text().await.unwrap())
}

#[tokio::test]
async fn one_idempotency_key_runs_its_command_once() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "idem" })).await;
    let body = json!({ "argv": ["sh", "-c", "echo ran >> /tmp/idem; sleep 0.5; echo done"] });
    let (a, b) = tokio::join!(
        keyed(&app, &id, "key-1", &body),
        keyed(&app, &id, "key-1", &body)
    );
    let c = keyed(&app, &id, "key-1", &body).await;
    let d = keyed(&app, &id, "key-1", &body).await;
    for other in [&b, &c, &d] {
        assert_eq!(other.0, a.0, "one run for one key");
        // Each answer is the first run's whole output, from its start.
        assert_eq!(other.1, a.1);
    }
    assert!(
        a.1.starts_with(r#"{"stream":"stdout","data":"done\n"}"#),
        "{}",
        a.1
    );
    assert_eq!(app.sh(&id, "cat /tmp/idem").await, "ran\n");
    // Another key is another run; a bad key is refused before anything runs.
    let (other, _) = keyed(&app, &id, "key-2", &body).await;
    assert_ne!(other, a.0);
    assert_eq!(app.sh(&id, "cat /tmp/idem").await, "ran\nran\n");
    let long = "k".repeat(256);
    for bad in [long.as_str(), ""] {
        let res = app
            .post(&format!("/workspaces/{id}/exec"))
            .bearer_auth(&app.admin)
            .header("Idempotency-Key", bad)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad:?}");
    }
    assert_eq!(app.sh(&id, "cat /tmp/idem").await, "ran\nran\n");
    app.remove(&id).await;
}

/// A keyed run whose client leaves after three lines: the run goes on, and what the client read
/// plus the rest from its offset is the whole run, no line lost or repeated.
pub(crate) async fn a_keyed_run_outlives_its_client(app: &TestApp, id: &str) {
    let script = "i=0; while [ $i -lt 40 ]; do echo n$i; i=$((i+1)); sleep 0.05; done";
    let body = json!({ "argv": ["sh", "-c", script] });
    let res = app
        .post(&format!("/workspaces/{id}/exec"))
        .bearer_auth(&app.admin)
        .header("Idempotency-Key", "leaves")
        .json(&body)
        .send()
        .await
        .unwrap();
    let exec_id = res.headers()["x-exec-id"].to_str().unwrap().to_owned();
    let mut stream = res.bytes_stream();
    let mut read = Vec::new();
    while read.iter().filter(|b| **b == b'\n').count() < 3 {
        read.extend_from_slice(&stream.next().await.unwrap().unwrap());
    }
    drop(stream); // the connection drops
    let since = read.iter().rposition(|b| *b == b'\n').unwrap() + 1;
    read.truncate(since);
    let (status, rest) = output(app, id, &exec_id, &format!("?since={since}&follow=1")).await;
    assert_eq!(status, 200);
    // The whole run, as its key answers it from the start once it has ended.
    let (again, whole) = keyed(app, id, "leaves", &body).await;
    assert_eq!(again, exec_id);
    let mut joined = String::from_utf8(read).unwrap();
    joined.push_str(&without_offsets(&rest, &whole, since));
    assert_eq!(joined, whole);
    let last: Value = serde_json::from_str(whole.lines().last().unwrap()).unwrap();
    assert_eq!(last["exit_code"], 0, "the run was not killed: {whole}");
    assert!(whole.contains("n39\\n"), "{whole}");
}

#[tokio::test]
async fn a_keyed_run_on_docker_outlives_its_client() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "leaves" })).await;
    a_keyed_run_outlives_its_client(&app, &id).await;
    app.remove(&id).await;
}

#[tokio::test]
async fn a_detached_run_answers_at_once_and_goes_on_without_a_client() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "detached" })).await;
    let asked = std::time::Instant::now();
    let res = app
        .post(&format!("/workspaces/{id}/exec"))
        .bearer_auth(&app.admin)
        .json(&json!({ "argv": ["sh", "-c", "sleep 1; echo late"], "detach": true, "timeout_s": 600 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let header = res.headers()["x-exec-id"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert!(
        asked.elapsed() < Duration::from_millis(900),
        "answered at once"
    );
    assert_eq!(body, json!({ "exec_id": header }));
    let path = format!("/workspaces/{id}/exec/{header}");
    assert_eq!(app.get_as(&path, &app.admin).await.1["state"], "running");
    let (_, rest) = output(&app, &id, &header, "?follow=1").await;
    assert!(rest.contains("late"), "{rest}");
    let (_, run) = app.get_as(&path, &app.admin).await;
    assert_eq!(
        (&run["state"], &run["exit_code"]),
        (&json!("exited"), &json!(0))
    );
    // A detached run may ask for more than 120 s (up to EXEC_DETACHED_MAX_S); the audit says so.
    let (_, rows) = app
        .get_as(&format!("/workspaces/{id}/activity?type=exec"), &app.admin)
        .await;
    assert_eq!(rows[0]["request_body"]["timeout_s"], 600, "{rows}");
    app.remove(&id).await;
}

#[tokio::test]
async fn a_keyed_run_on_the_eic_path_outlives_its_client() {
    let app = Options::default().eic().spawn().await;
    let id = crate::eic::eic_workspace(&app, &crate::eic::instance()).await;
    a_keyed_run_outlives_its_client(&app, &id).await;
}
