//! Signals to exec runs (SPEC §14) on both paths: a `KILL` ends a detached run and everything it
//! started, whatever left its session or environment; a `TERM` reaches a run that handles it; a
//! run that has ended, one that is unknown and a signal that is not offered are refused.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::exec_runs::output as read;
use crate::helpers::{Options, TestApp};

/// Starts `script` detached; answers its `exec_id` once its output holds `ready`.
async fn detached(app: &TestApp, id: &str, script: &str) -> String {
    let res = app
        .post(&format!("/workspaces/{id}/exec"))
        .bearer_auth(&app.admin)
        .json(&json!({ "argv": ["sh", "-c", script], "detach": true, "timeout_s": 900 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let exec_id = res.json::<Value>().await.unwrap()["exec_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !read(app, id, &exec_id, "").await.1.contains("ready") {
        assert!(Instant::now() < deadline, "the run never got ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    exec_id
}

async fn signal(app: &TestApp, id: &str, exec_id: &str, body: Value) -> (u16, Value) {
    let res = app
        .post(&format!("/workspaces/{id}/exec/{exec_id}/signal"))
        .bearer_auth(&app.admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The final record of a run, read by following it to its end.
async fn final_record(app: &TestApp, id: &str, exec_id: &str) -> Value {
    let (status, body) = read(app, id, exec_id, "?follow=1").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(body.lines().last().unwrap()).unwrap()
}

/// The workspace's `sleep` processes whose duration starts with `prefix`.
async fn sleeping(app: &TestApp, id: &str, prefix: u32) -> Vec<String> {
    let ps = app.sh(id, "ps -eo args").await;
    let needle = format!("sleep {prefix}");
    ps.lines()
        .map(str::trim)
        .filter(|l| l.starts_with(&needle))
        .map(str::to_owned)
        .collect()
}

/// `prefix`: the first digits of the run's sleeps, unique to the caller (the EIC test instance
/// sees the host's processes).
pub(crate) async fn signals_reach_the_whole_tree(app: &TestApp, id: &str, prefix: u32) {
    // A tree with a child in a session of its own and one with no environment (no marker).
    let script =
        format!("setsid sleep {prefix}1 & env -i sleep {prefix}2 & echo ready; sleep {prefix}3");
    let exec_id = detached(app, id, &script).await;
    assert_eq!(sleeping(app, id, prefix).await.len(), 3);
    let (status, answer) = signal(app, id, &exec_id, json!({ "signal": "KILL" })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({ "exec_id": exec_id, "signal": "KILL" }));
    let last = final_record(app, id, &exec_id).await;
    assert_eq!(
        (&last["signal"], &last["exit_code"]),
        (&json!("KILL"), &Value::Null),
        "{last}"
    );
    assert_eq!(sleeping(app, id, prefix).await, Vec::<String>::new());
    let (_, run) = app
        .get_as(&format!("/workspaces/{id}/exec/{exec_id}"), &app.admin)
        .await;
    assert_eq!(
        (&run["state"], &run["signal"]),
        (&json!("exited"), &json!("KILL"))
    );
    // One row for the run, which says how it ended.
    let (_, rows) = app
        .get_as(&format!("/workspaces/{id}/activity?type=exec"), &app.admin)
        .await;
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["request_body"]["exec_id"] == exec_id);
    let row = row.unwrap_or_else(|| panic!("no row for the run: {rows}"));
    assert_eq!(
        (&row["status"], &row["request_body"]["signal"]),
        (&json!("killed"), &json!("KILL"))
    );
    // Ended: nothing more to signal.
    let (status, answer) = signal(app, id, &exec_id, json!({ "signal": "TERM" })).await;
    assert_eq!(status, 409, "{answer}");

    // A TERM is the run's to handle: it reaches the shell, its foreground child and a child
    // that left both its session and its environment (which only the run's cgroup still holds).
    let script = format!(
        "trap 'echo got-term; exit 7' TERM; env -i setsid sleep {prefix}4 >/dev/null 2>&1 & \
         echo ready; while :; do sleep 0.1; done"
    );
    let exec_id = detached(app, id, &script).await;
    assert_eq!(sleeping(app, id, prefix).await.len(), 1);
    let (status, answer) = signal(app, id, &exec_id, json!({ "signal": "TERM" })).await;
    assert_eq!(status, 200, "{answer}");
    let last = final_record(app, id, &exec_id).await;
    assert_eq!(
        (&last["signal"], &last["exit_code"]),
        (&json!("TERM"), &json!(7)),
        "{last}"
    );
    assert!(read(app, id, &exec_id, "").await.1.contains("got-term"));
    assert_eq!(sleeping(app, id, prefix).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_signal_reaches_the_whole_tree_of_a_run_on_docker() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "signals" })).await;
    signals_reach_the_whole_tree(&app, &id, 7160).await;
    app.remove(&id).await;
}

#[tokio::test]
async fn a_signal_reaches_the_whole_tree_of_a_run_on_the_eic_path() {
    let app = Options::default().eic().spawn().await;
    let id = crate::eic::eic_workspace(&app, &crate::eic::instance()).await;
    signals_reach_the_whole_tree(&app, &id, 7260).await;
}

#[tokio::test]
async fn a_signal_that_is_not_offered_or_for_no_run_is_refused() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "bad-signals" })).await;
    let exec_id = detached(&app, &id, "echo ready; sleep 30").await;
    for bad in [
        json!({ "signal": "STOP" }),
        json!({ "signal": "kill" }),
        json!({ "signal": 9 }),
        json!({}),
        json!({ "signal": "KILL", "also": 1 }),
    ] {
        let (status, answer) = signal(&app, &id, &exec_id, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {answer}");
    }
    let unknown = "00000000-0000-4000-8000-000000000000";
    let (status, answer) = signal(&app, &id, unknown, json!({ "signal": "KILL" })).await;
    assert_eq!(
        (status, &answer["error"]),
        (404, &json!("exec run not found"))
    );
    // Another workspace's run is unknown here.
    let other = app.create_local(json!({ "name": "bad-signals-2" })).await;
    let (status, _) = signal(&app, &other, &exec_id, json!({ "signal": "KILL" })).await;
    assert_eq!(status, 404);
    // The refusals changed nothing: the run is still running.
    let (_, run) = app
        .get_as(&format!("/workspaces/{id}/exec/{exec_id}"), &app.admin)
        .await;
    assert_eq!(run["state"], "running");
    let (status, _) = signal(&app, &id, &exec_id, json!({ "signal": "INT" })).await;
    assert_eq!(status, 200);
    assert!(final_record(&app, &id, &exec_id).await["signal"] == "INT");
    app.remove(&other).await;
    app.remove(&id).await;
}
