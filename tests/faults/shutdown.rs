//! SIGTERM with terminals and execs open on both paths.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use serde_json::json;

use crate::support::process::{all_gone, descendants, eventually, sigkill};
use crate::support::server::{Server, TOKEN};
use crate::support::terminal::{terminal_end, type_and_expect};

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_sessions_with_going_away_and_leaves_nothing_behind() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), &[], &[]).await;
    let local = server.local_workspace().await;
    let remote = server.eic_workspace("i-00000000005197e5a").await;
    let mut terminals = Vec::new();
    for id in [&local, &remote] {
        let mut socket = server.terminal(id).await;
        type_and_expect(&mut socket, "echo UP$((3+3))\r", "UP6").await;
        terminals.push(socket);
    }
    // Durations no other test uses, to find these processes on the host afterwards (the
    // container and the stand-in instance both run on this machine).
    let execs = [
        server.exec_stream(&local, &["sleep", "617"]),
        server.exec_stream(&remote, &["sleep", "627"]),
    ];
    tokio::time::sleep(Duration::from_millis(800)).await;
    let helpers = descendants(server.pid());
    assert!(
        helpers.iter().any(|(_, c)| c.contains("ssh")),
        "the EIC sessions run ssh: {helpers:?}"
    );

    // Clients keep reading, as a browser does, so each close frame is taken as it comes.
    let ends: Vec<_> = terminals
        .into_iter()
        .map(|mut socket| tokio::spawn(async move { terminal_end(&mut socket, 20).await }))
        .collect();
    let code = server.sigterm(15).await;
    assert_eq!(code, Some(0), "{}", server.log_text());
    for end in ends {
        let (_, close) = end.await.unwrap();
        let (code, _) = close.expect("a close frame");
        assert_eq!(code, CloseCode::Away);
    }
    let mut runs = Vec::new();
    for exec in execs {
        let lines = exec.await.unwrap();
        let last = lines.last().expect("a final line");
        assert!(last.get("exit_code").is_some(), "{lines:?}");
        assert_eq!(last["interrupted"], true, "{lines:?}");
        runs.push(last["exec_id"].as_str().unwrap().to_owned());
    }
    let gone = eventually(10, || all_gone(&helpers)).await;
    assert!(gone, "outlived the server: {helpers:?}");
    // Nothing of either exec keeps running, in the container or on the instance.
    let running = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.starts_with("sleep 617") || c.starts_with("sleep 627"))
            .collect::<Vec<_>>()
    };
    let ended = eventually(5, || running().is_empty()).await;
    assert!(ended, "still running: {:?}", running());

    // One row per session and per exec, written before the exit.
    let server = Server::start(data.path(), &[], &[]).await;
    for id in [&local, &remote] {
        let terminals = server.activity(id, "terminal").await;
        assert_eq!(terminals.len(), 1, "{terminals:?}");
        let execs = server.activity(id, "exec").await;
        assert_eq!(execs.len(), 1, "{execs:?}");
    }
    // The runs were recorded as interrupted, and their output is still there to read.
    for (id, run) in [&local, &remote].into_iter().zip(&runs) {
        interrupted_and_readable(&server, id, run).await;
    }
    let container = format!("ws-{}", &local[..12]);
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &container])
        .output();
}

/// A run the server's end cut short reads as interrupted, its output ending with that record.
async fn interrupted_and_readable(server: &Server, id: &str, run: &str) {
    let (status, record) = server
        .call("GET", &format!("/workspaces/{id}/exec/{run}"), None)
        .await;
    assert_eq!(
        (status, &record["state"]),
        (200, &json!("interrupted")),
        "{record}"
    );
    let output = server
        .client
        .get(server.url(&format!("/workspaces/{id}/exec/{run}/output")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last: serde_json::Value = serde_json::from_str(output.lines().last().unwrap()).unwrap();
    assert_eq!(
        (&last["exec_id"], &last["interrupted"]),
        (&json!(run), &json!(true)),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_a_crashed_server_left_running_are_interrupted_after_its_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), &[], &[]).await;
    let local = server.local_workspace().await;
    let res = server
        .client
        .post(server.url(&format!("/workspaces/{local}/exec")))
        .bearer_auth(TOKEN)
        .json(&json!({ "argv": ["sh", "-c", "echo before; sleep 637"] }))
        .send()
        .await
        .unwrap();
    let run = res.headers()["x-exec-id"].to_str().unwrap().to_owned();
    let mut body = res.bytes_stream();
    let first = futures_util::StreamExt::next(&mut body)
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("before"));
    sigkill(server.pid());
    let _ = server.sigterm(5).await;
    let server = Server::start(data.path(), &[], &[]).await;
    interrupted_and_readable(&server, &local, &run).await;
    let container = format!("ws-{}", &local[..12]);
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &container])
        .output();
}
