//! `workspace-server shell` under a real terminal (tmux) against the real server and Docker,
//! through a relay the test cuts: output made while the connection is down arrives, typing done
//! meanwhile reaches the shell, the remote exit code is the CLI's, and the terminal is left in
//! cooked mode; `~&` detaches and the command it prints reattaches to the same shell; a revoked
//! token ends it at once.

use serde_json::json;

use crate::helpers::TestApp;
use crate::support::cut::Relay;
use crate::support::tmux::Tmux;

/// A local shell in a real terminal, with the client on its `PATH` pointed at `relay`.
async fn local_terminal(app: &TestApp, relay: &Relay) -> Tmux {
    terminal_with(relay, &app.admin).await
}

/// The same, the client holding `token`.
async fn terminal_with(relay: &Relay, token: &str) -> Tmux {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_workspace-server"));
    let path = format!("{}:/usr/bin:/bin", bin.parent().unwrap().display());
    let term = Tmux::start(
        "sh",
        &[
            ("PATH", path),
            ("WORKSPACE_SERVER_URL", format!("http://{}", relay.addr)),
            ("WORKSPACE_SERVER_TOKEN", token.to_owned()),
        ],
    )
    .await;
    term.wait_line(10, |l| !l.is_empty()).await; // the prompt
    term
}

/// Whether the `stty -a` on the screen shows cooked mode: canonical input and echo on.
fn cooked(screen: &str) -> bool {
    let words: Vec<&str> = screen.split_whitespace().collect();
    words.contains(&"icanon")
        && words.contains(&"echo")
        && !words.contains(&"-icanon")
        && !words.contains(&"-echo")
}

#[tokio::test]
async fn the_shell_rides_out_a_dropped_connection_and_exits_with_the_remote_code() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "cli-shell" })).await;
    let relay = Relay::start(app.addr).await;
    let term = local_terminal(&app, &relay).await;
    term.line("workspace-server shell cli-shell; echo EXIT=$?; stty -a")
        .await;
    // Quotes split the words, so the typed line never matches what the shell prints.
    term.line("echo h''i").await;
    term.wait_line(30, |l| l == "hi").await;

    // The connection drops and stays down while the shell prints and the user types.
    // (Once the shell has the whole line: input in flight when a connection drops is lost, as
    // §12 has no acknowledgement of input.)
    term.line("echo st''arted; sleep 1; echo dur''ing").await;
    term.wait_line(30, |l| l == "started").await;
    relay.set_down(true);
    assert!(
        relay.cut() >= 1,
        "the client was connected through the relay"
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    term.line("echo af''ter").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    relay.set_down(false);
    term.wait_line(30, |l| l == "after").await;
    let screen = term.screen().await;
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let at = |wanted: &str| lines.iter().position(|l| *l == wanted);
    assert!(at("during") < at("after"), "{screen}");
    assert_eq!(lines.iter().filter(|l| **l == "hi").count(), 1, "{screen}");

    term.line("exit 4").await;
    term.wait_line(30, |l| l == "EXIT=4").await;
    let screen = term.screen().await;
    let after_exit = &screen[screen.rfind("EXIT=4").unwrap()..];
    assert!(cooked(after_exit), "{after_exit}");
    app.remove(&id).await;
}

#[tokio::test]
async fn detaching_prints_the_command_that_reattaches_to_the_same_shell() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "cli-detach" })).await;
    let relay = Relay::start(app.addr).await;
    let term = local_terminal(&app, &relay).await;
    term.line("workspace-server shell cli-detach").await;
    term.line("MARK=m1; echo s''et").await;
    term.wait_line(30, |l| l == "set").await;
    term.type_text("~&").await;
    let resume = term
        .wait_line(10, |l| {
            l.trim_start()
                .starts_with("workspace-server shell cli-detach --session ")
        })
        .await;
    // The session runs on with nobody attached.
    let mut listed = serde_json::Value::Null;
    for _ in 0..50 {
        (_, listed) = app
            .get_as(&format!("/workspaces/{id}/terminal/sessions"), &app.admin)
            .await;
        if listed[0]["attached"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        (
            listed[0]["attached"].as_u64(),
            listed[0]["exited"].as_bool()
        ),
        (Some(0), Some(false)),
        "{listed}"
    );

    term.line(&format!("{}; echo EXIT=$?; stty -a", resume.trim()))
        .await;
    term.line("echo mark=$MARK").await;
    term.wait_line(30, |l| l == "mark=m1").await;
    term.line("exit 4").await;
    term.wait_line(30, |l| l == "EXIT=4").await;
    let screen = term.screen().await;
    assert!(
        cooked(&screen[screen.rfind("EXIT=4").unwrap()..]),
        "{screen}"
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn a_revoked_token_ends_the_shell_at_once_with_a_clear_message() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "cli-revoked" })).await;
    let (token, token_id) = app.workspace_token(&id).await;
    let relay = Relay::start(app.addr).await;
    let term = terminal_with(&relay, &token).await;
    // By id: a workspace token cannot list workspaces to find one by name.
    term.line(&format!(
        "workspace-server shell {id}; echo EXIT=$?; stty -a"
    ))
    .await;
    term.line("echo h''i").await;
    term.wait_line(30, |l| l == "hi").await;
    let path = format!("/workspaces/{id}/tokens/{token_id}");
    let (status, _) = app
        .call(reqwest::Method::DELETE, &path, &app.admin, None)
        .await;
    assert_eq!(status, 200);
    // No reconnecting for minutes with a token that can only be refused.
    term.wait_line(10, |l| l.contains("the token was revoked"))
        .await;
    term.wait_line(10, |l| l == "EXIT=1").await;
    let screen = term.screen().await;
    assert!(!screen.contains("reconnecting"), "{screen}");
    let after_exit = &screen[screen.rfind("EXIT=1").unwrap()..];
    assert!(cooked(after_exit), "{after_exit}");
    app.remove(&id).await;
}
