//! SIGTERM with terminals and execs open on both paths.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::support::process::{all_gone, descendants, eventually};
use crate::support::server::Server;
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
    for exec in execs {
        let lines = exec.await.unwrap();
        let last = lines.last().expect("a final line");
        assert!(last.get("exit_code").is_some(), "{lines:?}");
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
    let container = format!("ws-{}", &local[..12]);
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &container])
        .output();
}
