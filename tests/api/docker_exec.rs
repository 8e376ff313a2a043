//! Exec on the real Docker engine (SPEC §5.4).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{TestApp, stop_container};

/// Streams an exec and returns its NDJSON lines.
async fn stream(app: &TestApp, id: &str, body: Value) -> Vec<Value> {
    let res = app
        .post(&format!("/workspaces/{id}/exec"))
        .bearer_auth(&app.admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await.unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Exec rows of a workspace's activity.
async fn exec_rows(app: &TestApp, id: &str) -> Vec<Value> {
    let (_, rows) = app
        .get_as(&format!("/workspaces/{id}/activity?type=exec"), &app.admin)
        .await;
    rows.as_array().unwrap().clone()
}

#[tokio::test]
async fn output_streams_as_ndjson_and_ends_with_the_exact_final_record() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "x" })).await;
    let lines = stream(
        &app,
        &id,
        json!({ "argv": ["sh", "-c", "echo out; echo err >&2; exit 3"] }),
    )
    .await;
    assert!(
        lines.contains(&json!({ "stream": "stdout", "data": "out\n" })),
        "{lines:?}"
    );
    assert!(
        lines.contains(&json!({ "stream": "stderr", "data": "err\n" })),
        "{lines:?}"
    );
    let last = lines.last().unwrap().as_object().unwrap();
    let keys: Vec<_> = last.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "duration_ms",
            "exec_id",
            "exit_code",
            "stderr_bytes",
            "stdout_bytes",
            "timed_out",
            "truncated"
        ]
    );
    assert_eq!(last["exit_code"], 3);
    assert_eq!(
        (last["stdout_bytes"].as_u64(), last["stderr_bytes"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(
        last["truncated"],
        json!({ "stdout": false, "stderr": false })
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn argv_runs_without_a_shell_with_stdin_env_and_cwd() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "x" })).await;
    let (status, out) = app
        .exec(&id, json!({ "argv": ["echo", "$(id)", "a;b", "'q'"] }))
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["stdout"], "$(id) a;b 'q'\n",
        "no shell interpreted the arguments"
    );
    let (_, out) = app
        .exec(&id, json!({ "argv": ["cat"], "stdin": "from stdin\n" }))
        .await;
    assert_eq!(out["stdout"], "from stdin\n");
    let (_, out) = app
        .exec(&id, json!({ "argv": ["sh", "-c", "echo $GREETING; pwd"], "env": { "GREETING": "hi" }, "cwd": "/configs" }))
        .await;
    assert_eq!(out["stdout"], "hi\n/configs\n");
    let (_, out) = app
        .exec(&id, json!({ "argv": ["printf", "\\377ok"] }))
        .await;
    assert_eq!(out["stdout"], "\u{FFFD}ok", "invalid UTF-8 is replaced");
    app.remove(&id).await;
}

#[tokio::test]
async fn a_timeout_kills_the_whole_tree_and_says_so() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "x" })).await;
    let started = Instant::now();
    let lines = stream(
        &app,
        &id,
        json!({ "argv": ["sh", "-c", "sleep 1717 & sleep 1718; echo never"], "timeout_s": 2 }),
    )
    .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let last = lines.last().unwrap();
    assert_eq!(
        (&last["timed_out"], &last["exit_code"]),
        (&json!(true), &Value::Null)
    );
    let ps = app.sh(&id, "ps -o args").await;
    assert!(
        !ps.contains("sleep 1717") && !ps.contains("sleep 1718"),
        "{ps}"
    );

    let (status, out) = app
        .exec(&id, json!({ "argv": ["sleep", "1719"], "timeout_s": 1 }))
        .await;
    assert_eq!(
        (status.as_u16(), &out["timed_out"]),
        (504, &json!(true)),
        "{out}"
    );
    assert!(!app.sh(&id, "ps -o args").await.contains("sleep 1719"));
    app.remove(&id).await;
}

#[tokio::test]
async fn an_exec_that_closes_its_output_or_leaves_its_session_still_ends_at_its_timeout() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "escape" })).await;
    for script in [
        "exec >&- 2>&-; sleep 1731",
        "setsid env -i sh -c 'sleep 1732 &'; env -i sleep 1733 & sleep 1734",
    ] {
        let started = Instant::now();
        let (status, out) = app
            .exec(&id, json!({ "argv": ["sh", "-c", script], "timeout_s": 2 }))
            .await;
        assert_eq!(
            (status.as_u16(), &out["timed_out"]),
            (504, &json!(true)),
            "{out}"
        );
        let took = started.elapsed();
        assert!(took < Duration::from_millis(4500), "{took:?}");
        let ps = app.sh(&id, "ps -o args").await;
        assert!(!ps.contains("sleep 173"), "left running:\n{ps}");
    }
    app.remove(&id).await;
}

#[tokio::test]
async fn each_stream_is_capped_at_one_mebibyte_while_bytes_are_still_counted() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "x" })).await;
    let lines = stream(
        &app,
        &id,
        json!({ "argv": ["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a"] }),
    )
    .await;
    let (last, rest) = lines.split_last().unwrap();
    let data: usize = rest.iter().map(|l| l["data"].as_str().unwrap().len()).sum();
    assert_eq!(data, 1024 * 1024);
    let markers: Vec<_> = rest
        .iter()
        .filter(|l| l.get("truncated").is_some())
        .collect();
    assert_eq!(
        markers,
        [&json!({ "stream": "stdout", "data": "", "truncated": true })]
    );
    assert_eq!(last["stdout_bytes"], 3_000_000);
    assert_eq!(
        last["truncated"],
        json!({ "stdout": true, "stderr": false })
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn the_audit_row_names_the_command_never_its_output() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "x" })).await;
    // The sentinel exists only in the output: the argv spells it differently.
    let (_, out) = app
        .exec(&id, json!({ "argv": ["sh", "-c", "echo SENTI$((40+2))NEL; echo SENTI$((40+3))NEL >&2"], "stdin": "STDIN-SECRET", "env": { "TOKEN": "ENV-SECRET" } }))
        .await;
    assert_eq!(out["stdout"], "SENTI42NEL\n");
    let rows = exec_rows(&app, &id).await;
    assert_eq!(rows.len(), 1, "exactly one row per exec");
    let row = rows[0].to_string();
    for secret in ["SENTI42NEL", "SENTI43NEL", "STDIN-SECRET", "ENV-SECRET"] {
        assert!(!row.contains(secret), "{secret} leaked into {row}");
    }
    assert_eq!(rows[0]["request_body"]["argv"][0], "sh");
    assert_eq!(rows[0]["request_body"]["exit_code"], 0);
    assert_eq!(rows[0]["actor"], "admin");
    app.remove(&id).await;
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_still_gets_its_row_and_nothing_keeps_running() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "x" })).await;
    let res = app
        .post(&format!("/workspaces/{id}/exec"))
        .bearer_auth(&app.admin)
        .json(&json!({ "argv": ["sh", "-c", "while :; do echo tick; sleep 0.1; done"] }))
        .send()
        .await
        .unwrap();
    let mut body = res.bytes_stream();
    assert!(
        body.next()
            .await
            .unwrap()
            .unwrap()
            .starts_with(b"{\"stream\":\"stdout\"")
    );
    drop(body);
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = exec_rows(&app, &id).await;
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "disconnected");
    assert!(!app.sh(&id, "ps -o args").await.contains("echo tick"));
    assert_eq!(
        exec_rows(&app, &id).await.len(),
        2,
        "one more row for the ps, none duplicated"
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn bad_requests_and_low_tiers_are_refused_before_anything_runs() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "x" })).await;
    for body in [
        json!({ "argv": "ls -la" }),
        json!({ "cmd": "ls" }),
        json!({ "argv": [] }),
        json!({ "argv": ["ls", 3] }),
        json!({ "argv": ["ls"], "env": { "A=B": "c" } }),
    ] {
        let (status, out) = app.exec(&id, body.clone()).await;
        assert_eq!(status, 400, "{body} → {out}");
    }
    assert!(exec_rows(&app, &id).await.is_empty());
    let low = app
        .create_workspace(json!({ "name": "t2", "tier": 2 }))
        .await;
    let (status, _) = app.exec(&low, json!({ "argv": ["true"] })).await;
    assert_eq!(status, 403);
    app.remove(&id).await;
}

#[tokio::test]
async fn a_stopped_container_answers_409() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "x" })).await;
    stop_container(&id).await;
    let (status, body) = app.exec(&id, json!({ "argv": ["true"] })).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(app.restart_workspace(&id).await, 200);
    assert_eq!(app.sh(&id, "echo back").await, "back\n");
    app.remove(&id).await;
}
