//! The EIC path: the instance's sshd killed mid-exec, and the tunnel process killed mid-exec.

use std::time::Duration;

use crate::support::parts::Sshd;
use crate::support::process::{all_gone, descendants, eventually, free_port};
use crate::support::server::Server;

async fn assert_interrupted(exec: tokio::task::JoinHandle<Vec<serde_json::Value>>) {
    let lines = tokio::time::timeout(Duration::from_secs(30), exec)
        .await
        .expect("the exec stream ended")
        .unwrap();
    let last = lines.last().expect("a final line");
    assert!(last.get("exit_code").is_some(), "{lines:?}");
    assert_ne!(last["exit_code"], 0, "{lines:?}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.get("exit_code").is_some())
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sshd_or_tunnel_dying_mid_exec_ends_it_clearly_orphans_nothing_and_service_resumes() {
    let port = free_port();
    let mut sshd = Sshd::start(port).await;
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        data.path(),
        &["--docker-host=none".into()],
        &[("WSS_TEST_SSHD_PORT", port.to_string())],
    )
    .await;
    let id = server.eic_workspace("i-0000000000fa017ed").await;
    let (status, body) = server.exec(&id, &["echo", "warm"]).await;
    assert_eq!(status, 200, "{body}");

    // sshd killed (listener and sessions) while an exec runs.
    let exec = server.exec_stream(&id, &["sleep", "60"]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    sshd.kill();
    assert_interrupted(exec).await;
    assert!(server.alive(), "the server crashed: {}", server.log_text());
    let (status, body) = server.exec(&id, &["true"]).await;
    assert!(matches!(status, 502 | 503), "sshd is down: {status} {body}");
    let text = body.to_string();
    assert!(!text.contains("/tmp") && !text.contains("ssh:"), "{text}");
    let settled = eventually(10, || descendants(server.pid()).is_empty()).await;
    assert!(settled, "left running: {:?}", descendants(server.pid()));

    // sshd back: the next exec connects afresh.
    let _sshd = Sshd::start(port).await;
    let (status, body) = server.exec(&id, &["echo", "back"]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stdout"], "back\n");

    // The tunnel process killed while an exec runs.
    let exec = server.exec_stream(&id, &["sleep", "60"]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let tunnels: Vec<u32> = descendants(server.pid())
        .into_iter()
        .filter(|(_, cmd)| cmd.contains("open-tunnel"))
        .map(|(pid, _)| pid)
        .collect();
    assert!(
        !tunnels.is_empty(),
        "no tunnel: {:?}",
        descendants(server.pid())
    );
    for pid in tunnels {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_interrupted(exec).await;
    let (status, body) = server.exec(&id, &["echo", "again"]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stdout"], "again\n");

    // Nothing orphaned: only the live pooled connection remains, and it goes with the server.
    let pid = server.pid();
    let before = descendants(server.pid());
    assert_eq!(server.sigterm(15).await, Some(0));
    let gone = eventually(10, || all_gone(&before)).await;
    assert!(gone, "outlived the server {pid}: {before:?}");

    // One audit row per exec that ran (warm, the two interrupted sleeps, back, again), counted after
    // a restart on the same database.
    let server = Server::start(data.path(), &["--docker-host=none".into()], &[]).await;
    assert_eq!(server.exec_rows(&id, &["sleep", "60"]).await, 2);
    for word in ["warm", "back", "again"] {
        assert_eq!(server.exec_rows(&id, &["echo", word]).await, 1, "{word}");
    }
}
