//! The command-line client (SPEC §13) as a user runs it: the real binary against the real server
//! and Docker: `workspaces`, `exec` and `cp`.

use std::process::Output;

use rand::RngCore;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Runs the client with `args` against `app` as its admin (asynchronously: the server runs on
/// the test's own runtime).
pub(crate) async fn client(app: &TestApp, args: &[&str]) -> Output {
    client_with(app, &app.admin, args).await
}

async fn client_with(app: &TestApp, token: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_workspace-server"))
        .args(args)
        .env("WORKSPACE_SERVER_URL", format!("http://{}", app.addr))
        .env("WORKSPACE_SERVER_TOKEN", token)
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn exec_streams_both_streams_where_they_belong_and_exits_with_the_remote_code() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "cli-exec" })).await;
    let out = client(
        &app,
        &[
            "exec",
            "cli-exec",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    let out = client(
        &app,
        &["exec", "--timeout", "1", "cli-exec", "--", "sleep", "5"],
    )
    .await;
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    let out = client(
        &app,
        &[
            "exec",
            &id,
            "--env",
            "A=b c",
            "--cwd",
            "/tmp",
            "--",
            "sh",
            "-c",
            "echo \"$A\" $(pwd)",
        ],
    )
    .await;
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "b c /tmp\n".into())
    );
    // An unknown name is an error of the client's own, with the reason.
    let out = client(&app, &["exec", "no-such-workspace", "--", "true"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no workspace is named"),
        "{}",
        text(&out.stderr)
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn workspaces_lists_them_as_a_table_or_json() {
    let app = TestApp::spawn().await;
    let id = app
        .create_workspace(json!({ "name": "listed", "instance_id": "i-0123456789abcdef0" }))
        .await;
    let out = client(&app, &["workspaces"]).await;
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        table
            .lines()
            .any(|l| l.contains(&id) && l.contains("listed")),
        "{table}"
    );
    let out = client(&app, &["workspaces", "--json"]).await;
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    let out = client_with(&app, "wrong", &["workspaces"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("401"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn cp_round_trips_a_directory_of_binary_files_byte_for_byte() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "cli-cp" })).await;
    let local = tempfile::tempdir().unwrap();
    let tree = local.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).unwrap();
    let mut rng = rand::thread_rng();
    let mut files = Vec::new();
    for (name, size) in [
        ("a.bin", 70_000),
        ("sub/b.bin", 1),
        ("sub/deeper/c.bin", 4096),
        ("text.txt", 0),
    ] {
        let mut bytes = vec![0u8; size];
        rng.fill_bytes(&mut bytes);
        if let Some(first) = bytes.first_mut() {
            *first = 0xff; // never valid UTF-8
        }
        std::fs::write(tree.join(name), &bytes).unwrap();
        files.push((name, bytes));
    }
    let up = client(&app, &["cp", tree.to_str().unwrap(), "cli-cp:copied"]).await;
    assert!(up.status.success(), "{}", text(&up.stderr));
    let back = local.path().join("back");
    let down = client(&app, &["cp", "cli-cp:copied", back.to_str().unwrap()]).await;
    assert!(down.status.success(), "{}", text(&down.stderr));
    for (name, bytes) in &files {
        assert_eq!(&std::fs::read(back.join(name)).unwrap(), bytes, "{name}");
    }
    // One file, into a directory that exists.
    let one = client(
        &app,
        &[
            "cp",
            "cli-cp:copied/sub/deeper/c.bin",
            local.path().to_str().unwrap(),
        ],
    )
    .await;
    assert!(one.status.success(), "{}", text(&one.stderr));
    assert_eq!(
        std::fs::read(local.path().join("c.bin")).unwrap(),
        files[2].1
    );
    app.remove(&id).await;
}
