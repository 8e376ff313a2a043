//! The Docker engine stopped mid-terminal and mid-exec.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::support::parts::Engine;
use crate::support::process::descendants;
use crate::support::server::Server;
use crate::support::terminal::{terminal_end, type_and_expect};

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_stopping_mid_session_ends_it_clearly_and_service_resumes() {
    let mut engine = Engine::start().await;
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        data.path(),
        &[format!("--docker-host={}", engine.socket())],
        &[],
    )
    .await;
    let id = server.local_workspace().await;
    let mut socket = server.terminal(&id).await;
    type_and_expect(&mut socket, "echo READY$((1+1))\r", "READY2").await;
    let exec = server.exec_stream(&id, &["sleep", "60"]);
    tokio::time::sleep(Duration::from_millis(500)).await;

    engine.stop().await;

    // The terminal: an error frame, then 1011 (or the shell's own end, if the engine reported it).
    let (texts, close) = terminal_end(&mut socket, 30).await;
    let (code, reason) = close.expect("a close frame");
    assert!(
        (code == CloseCode::Error && texts.iter().any(|t| t.starts_with("Error: ")))
            || (code == CloseCode::Normal && reason.contains("exit_code")),
        "terminal ended with {code:?} {reason:?} after {texts:?}"
    );
    // The exec: its stream ends with the one final line, no exit code (it did not finish).
    let lines = tokio::time::timeout(Duration::from_secs(30), exec)
        .await
        .expect("the exec stream ended")
        .unwrap();
    let last = lines.last().expect("a final line");
    assert!(last["exit_code"].is_null(), "{lines:?}");
    assert_eq!(last["timed_out"], false);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.get("exit_code").is_some())
            .count(),
        1
    );

    // While the engine is down: clear answers, no crash.
    let (status, body) = server.exec(&id, &["true"]).await;
    assert!(matches!(status, 409 | 502 | 503), "{status} {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    let (status, _) = server.call("GET", "/health", None).await;
    assert_eq!(status, 200);
    assert!(server.alive(), "the server crashed: {}", server.log_text());
    assert!(
        descendants(server.pid()).is_empty(),
        "{:?}",
        descendants(server.pid())
    );

    // The engine comes back: the workspace restarts and works.
    engine.resume().await;
    let (status, body) = server
        .call("POST", &format!("/workspaces/{id}/restart"), None)
        .await;
    assert!(matches!(status, 200 | 202), "{status} {body}");
    server.wait_online(&id).await;
    let (status, body) = server.exec(&id, &["echo", "back"]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stdout"], "back\n");
    let mut socket = server.terminal(&id).await;
    type_and_expect(&mut socket, "echo AGAIN$((2+2))\r", "AGAIN4").await;
    drop(socket);

    // One audit row per exec and per session: none lost, none twice.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(server.exec_rows(&id, &["sleep", "60"]).await, 1);
    assert_eq!(server.exec_rows(&id, &["echo", "back"]).await, 1);
    let terminals = server.activity(&id, "terminal").await;
    assert_eq!(terminals.len(), 2, "{terminals:?}");
}
