//! The EIC path with the real `ssh` client and a real sshd on loopback, through the `aws`
//! stand-in (tests/fixtures/aws), which logs every call it gets.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use rand::Rng;
use serde_json::json;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{Options, TestApp};
use crate::support::terminal::{Socket, read_to_close, read_until};

/// A fresh instance id, so that this test's lines in the stand-in's log are its own.
pub(crate) fn instance() -> String {
    let n: u64 = rand::thread_rng().r#gen::<u64>() & 0x0fff_ffff_ffff_ffff;
    format!("i-{n:017x}")
}

/// The stand-in's log lines of `kind` for `instance`.
pub(crate) fn aws_calls(kind: &str, instance: &str) -> Vec<String> {
    let log =
        std::env::var("WSS_TEST_AWS_LOG").expect("WSS_TEST_AWS_LOG: run under scripts/test.sh");
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(kind) && l.contains(instance))
        .map(str::to_owned)
        .collect()
}

/// Command lines of live local processes that mention `needle`.
pub(crate) fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) && !cmd.contains("nextest") {
                found.push(cmd);
            }
        }
    }
    found
}

pub(crate) async fn eic_workspace(app: &TestApp, instance: &str) -> String {
    app.create_workspace(json!({ "name": "ec2", "runtime": "hermes", "instance_id": instance }))
        .await
}

#[tokio::test]
async fn ten_execs_push_a_key_and_open_a_tunnel_once() {
    let app = Options::default().eic().spawn().await;
    let i = instance();
    let id = eic_workspace(&app, &i).await;
    for n in 0..10 {
        let (status, out) = app
            .exec(&id, json!({ "argv": ["echo", n.to_string()] }))
            .await;
        assert_eq!(
            (status.as_u16(), out["stdout"].clone()),
            (200, json!(format!("{n}\n"))),
            "{out}"
        );
    }
    assert_eq!(aws_calls("send-ssh-public-key", &i).len(), 1);
    assert_eq!(aws_calls("open-tunnel", &i).len(), 1);
}

#[tokio::test]
async fn argv_comes_back_byte_for_byte_and_nothing_in_it_runs() {
    let app = Options::default().eic().spawn().await;
    let id = eic_workspace(&app, &instance()).await;
    let probe = format!("/tmp/wss-eic-p-{}", rand::thread_rng().r#gen::<u32>());
    let hostile = format!("a'b\"c $(touch {probe}); rm x");
    let (status, out) = app
        .exec(&id, json!({ "argv": ["printf", "%s", hostile] }))
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["stdout"], hostile);
    assert!(
        !std::path::Path::new(&probe).exists(),
        "{probe} was created"
    );
    let (_, out) = app
        .exec(&id, json!({ "argv": ["sh", "-c", "cat; echo \"$V\"; pwd"], "stdin": "in\n", "env": { "V": "x y" }, "cwd": "/tmp" }))
        .await;
    assert_eq!(out["stdout"], "in\nx y\n/tmp\n");
}

#[tokio::test]
async fn a_timeout_kills_the_remote_tree() {
    let app = Options::default().eic().spawn().await;
    let id = eic_workspace(&app, &instance()).await;
    let tag = rand::thread_rng().r#gen_range(10_000..99_999).to_string();
    let started = Instant::now();
    let (status, out) = app
        .exec(
            &id,
            json!({ "argv": ["sh", "-c", format!("sleep {tag}1 & sleep {tag}2")], "timeout_s": 1 }),
        )
        .await;
    assert_eq!(
        (status.as_u16(), &out["timed_out"]),
        (504, &json!(true)),
        "{out}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(2);
    while !processes_with(&format!("sleep {tag}")).is_empty() {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            processes_with(&format!("sleep {tag}"))
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_exec_that_closes_its_output_or_runs_under_sudo_still_ends_at_its_timeout() {
    let app = Options::default().eic().spawn().await;
    let id = eic_workspace(&app, &instance()).await;
    let tag = rand::thread_rng().r#gen_range(10_000..99_999).to_string();
    for script in [
        format!("exec >&- 2>&-; sleep {tag}1"),
        format!("sudo -n sleep {tag}2 & env -i setsid sh -c 'sleep {tag}3 &'; sleep {tag}4"),
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
        assert!(
            started.elapsed() < Duration::from_secs(4) + Duration::from_millis(500),
            "took {:?}",
            started.elapsed()
        );
        let deadline = Instant::now() + Duration::from_secs(2);
        while !processes_with(&format!("sleep {tag}")).is_empty() {
            assert!(
                Instant::now() < deadline,
                "left running: {:?}",
                processes_with(&format!("sleep {tag}"))
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn a_killed_tunnel_poisons_the_entry_and_the_next_exec_reconnects() {
    let app = Options::default().eic().spawn().await;
    let i = instance();
    let id = eic_workspace(&app, &i).await;
    let (status, body) = app.exec(&id, json!({ "argv": ["true"] })).await;
    assert_eq!(status, 200, "{body}");
    let line = aws_calls("open-tunnel", &i).pop().unwrap();
    let pid: i32 = line.rsplit(' ').next().unwrap().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, out) = app.exec(&id, json!({ "argv": ["echo", "back"] })).await;
    assert_eq!(
        (status.as_u16(), &out["stdout"]),
        (200, &json!("back\n")),
        "{out}"
    );
    assert_eq!(
        aws_calls("open-tunnel", &i).len(),
        2,
        "a new tunnel for the new connection"
    );
}

#[tokio::test]
async fn iam_denial_and_missing_binaries_are_clear_and_carry_no_stderr() {
    let app = Options::default().eic().spawn().await;
    let id = eic_workspace(&app, "i-dead0000000000001").await;
    let (status, body) = app.exec(&id, json!({ "argv": ["true"] })).await;
    assert_eq!(status, 502, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("denied") && !message.contains("AccessDenied"),
        "{message}"
    );

    let app = TestApp::spawn().await; // its `aws` does not exist
    let id = eic_workspace(&app, &instance()).await;
    let (status, body) = app.exec(&id, json!({ "argv": ["true"] })).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("`aws`"), "{body}");
}

async fn open_terminal(app: &TestApp, id: &str, query: &str) -> Socket {
    let url = format!("ws://{}/workspaces/{id}/terminal{query}", app.addr);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", app.admin).parse().unwrap(),
    );
    connect_async(req).await.unwrap().0
}

#[tokio::test]
async fn the_terminal_sizes_resizes_and_closes_with_the_exit_code() {
    let app = Options::default().eic().spawn().await;
    let i = instance();
    let id = eic_workspace(&app, &i).await;
    let mut socket = open_terminal(&app, &id, "?cols=101&rows=31").await;
    socket
        .send(Message::Text("stty size\r".into()))
        .await
        .unwrap();
    read_until(&mut socket, "31 101").await;
    socket
        .send(Message::Text(
            r#"{"type":"resize","cols":120,"rows":40}"#.into(),
        ))
        .await
        .unwrap();
    socket
        .send(Message::Text("stty size\r".into()))
        .await
        .unwrap();
    read_until(&mut socket, "40 120").await;
    socket.send(Message::Text("exit 7\r".into())).await.unwrap();
    let (_, close) = read_to_close(&mut socket).await;
    assert_eq!(
        close,
        Some((CloseCode::Normal, r#"{"exit_code":7}"#.into()))
    );
}

#[tokio::test]
async fn closing_the_socket_ends_the_session_s_ssh_and_tunnel() {
    let app = Options::default().eic().spawn().await;
    let i = instance();
    let id = eic_workspace(&app, &i).await;
    let mut socket = open_terminal(&app, &id, "").await;
    socket
        .send(Message::Text("echo rea$((1+1))dy\r".into()))
        .await
        .unwrap();
    read_until(&mut socket, "rea2dy").await;
    let procs = processes_with(&i);
    assert!(procs.iter().any(|p| p.contains(" -tt ")), "{procs:?}");
    assert!(procs.iter().any(|p| p.contains("open-tunnel")), "{procs:?}");
    socket.close(None).await.unwrap();
    drop(socket);
    let deadline = Instant::now() + Duration::from_secs(2);
    while !processes_with(&i).is_empty() {
        assert!(Instant::now() < deadline, "{:?}", processes_with(&i));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_terminal_that_cannot_connect_says_why_inside_the_socket() {
    let app = Options::default().eic().spawn().await;
    let id = eic_workspace(&app, "i-dead0000000000002").await;
    let mut socket = open_terminal(&app, &id, "").await;
    let (text, close) = read_to_close(&mut socket).await;
    assert!(
        text.starts_with("Error: ") && text.ends_with("\r\n"),
        "{text:?}"
    );
    assert!(text.contains("docs/infra/workspace-terminal.md"), "{text}");
    assert_eq!(close.map(|c| c.0), Some(CloseCode::Error));
}

#[tokio::test]
async fn no_ssh_or_aws_process_outlives_the_server() {
    let mut app = Options::default().eic().spawn().await;
    let i = instance();
    let id = eic_workspace(&app, &i).await;
    assert_eq!(app.exec(&id, json!({ "argv": ["true"] })).await.0, 200);
    assert!(
        !processes_with(&i).is_empty(),
        "the pooled master and tunnel are up"
    );
    app.stop().await;
    drop(app);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_with(&i).is_empty() {
        assert!(Instant::now() < deadline, "{:?}", processes_with(&i));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn concurrent_first_uses_build_one_connection() {
    let app = Options::default().eic().spawn().await;
    let i = instance();
    let id = eic_workspace(&app, &i).await;
    let runs = (0..6).map(|n| app.exec(&id, json!({ "argv": ["echo", n.to_string()] })));
    for (status, out) in futures_util::future::join_all(runs).await {
        assert_eq!(status, 200, "{out}");
    }
    assert_eq!(aws_calls("send-ssh-public-key", &i).len(), 1);
    assert_eq!(aws_calls("open-tunnel", &i).len(), 1);
}
