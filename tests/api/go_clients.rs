//! What the Go server's clients and operators send is accepted (SPEC §11): settings as they are
//! written in its `.env` files.

use crate::support::server::{Server, TOKEN};

#[tokio::test]
async fn settings_as_the_go_server_s_env_files_write_them_start_the_server() {
    let data = tempfile::tempdir().unwrap();
    let env = [
        // Empty means unset: self-hosted mode, unpinned sources refused, the default timeout.
        ("MOLECULE_ORG_ID", String::new()),
        ("PLUGIN_ALLOW_UNPINNED", String::new()),
        ("CP_PROVISION_URL", String::new()),
        ("WORKSPACE_EC2_RESTART_COMMAND", String::new()),
        ("PLUGIN_INSTALL_FETCH_TIMEOUT", "1m30s".into()),
        ("WORKSPACE_PRIVILEGED", "FALSE".into()),
        ("MOLECULE_ENV", "Development".into()),
    ];
    let server = Server::start(data.path(), &[], &env).await;
    let res = server
        .client
        .get(server.url("/workspaces"))
        .bearer_auth(TOKEN)
        .header("Origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", server.log_text());
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:3000",
        "development allows the Go canvas origins"
    );
    let other = server
        .client
        .get(server.url("/workspaces"))
        .bearer_auth(TOKEN)
        .header("Origin", "http://localhost:4000")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_malformed_setting_stops_start_up_with_its_name() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_workspace-server"))
        .env("PLUGIN_ALLOW_UNPINNED", "maybe")
        .env("ADMIN_TOKEN", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("plugin-allow-unpinned") && stderr.contains("not a boolean"),
        "{stderr}"
    );
}

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::plugins::{install, rig};

/// The create body the canvas sends, as the Go server received it.
fn canvas_create_body(name: &str) -> Value {
    json!({
        "name": name,
        "role": "Research assistant",
        "template": "langgraph-basic",
        "model": "anthropic:claude-sonnet",
        "runtime": "langgraph",
        "tier": 0,
        "external": false,
        "url": "",
        "workspace_dir": "/workspace",
        "workspace_access": "read_write",
        "budget_limit": 25.5,
        "secrets": { "OPENAI_API_KEY": "sk-not-a-real-key" },
        "max_concurrent_tasks": 2,
        "canvas": { "x": 120.5, "y": -40 },
        "initial_memories": [{ "content": "likes tea", "scope": "LOCAL" }],
        "instance_id": "i-0123456789abcdef0",
    })
}

#[tokio::test]
async fn the_canvas_create_body_is_accepted_with_go_s_validation() {
    let app = TestApp::spawn().await;
    let created = app
        .created("/workspaces", Some(canvas_create_body("agent one")))
        .await;
    let id = created["id"].as_str().unwrap();
    let (_, ws) = app.get_as(&format!("/workspaces/{id}"), &app.admin).await;
    assert_eq!(
        (ws["tier"].clone(), ws["runtime"].clone()),
        (json!(3), json!("langgraph")),
        "tier 0 means 3"
    );
    assert!(
        !ws.to_string().contains("sk-not-a-real-key"),
        "secrets are not kept: {ws}"
    );

    for (field, value) in [
        ("name", json!("two\nlines")),
        ("name", json!("a {b}")),
        ("name", json!("x".repeat(256))),
        ("role", json!("pipe | here")),
        ("role", json!("r".repeat(1001))),
        ("model", json!("m\n")),
        ("model", json!("m".repeat(101))),
        ("runtime", json!("r".repeat(101))),
    ] {
        let mut body = canvas_create_body("ok");
        body[field] = value;
        let (status, reply) = app
            .call(Method::POST, "/workspaces", &app.admin, Some(body))
            .await;
        assert_eq!(
            (status.as_u16(), &reply["error"]),
            (400, &json!("invalid workspace fields")),
            "{field}"
        );
    }
    let mut body = canvas_create_body("ok");
    body["colour"] = json!("blue");
    let (status, _) = app
        .call(Method::POST, "/workspaces", &app.admin, Some(body))
        .await;
    assert_eq!(status, 400, "a field in neither list is refused");
}

#[tokio::test]
async fn the_go_allowlist_body_is_accepted_and_allow_all_is_reported() {
    let app = TestApp::spawn().await;
    let org = app
        .create_workspace(json!({ "name": "org", "instance_id": "i-0123456789abcdef0" }))
        .await;
    let url = format!("/orgs/{org}/plugins/allowlist");
    let (_, empty) = app.get_as(&url, &app.admin).await;
    assert_eq!(empty["allow_all"], true);
    let body = json!({ "plugins": ["helper"], "enabled_by": "alice@example.com" });
    let (status, put) = app.call(Method::PUT, &url, &app.admin, Some(body)).await;
    assert_eq!(status, 200, "{put}");
    let (_, listed) = app.get_as(&url, &app.admin).await;
    assert_eq!(listed["allow_all"], false);
    assert_eq!(listed["plugins"][0]["enabled_by"], "alice@example.com");
}

/// A bare repository `Owner/Repo.git` under a temporary directory, its one commit tagged `v1.2.0`,
/// with `files` in it; answers (the directory, the commit).
fn tagged_repo(owner: &str, repo: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, String) {
    let git = tempfile::tempdir().unwrap();
    let work = git.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    for (path, content) in files {
        std::fs::write(work.join(path), content).unwrap();
    }
    let bare = git.path().join(format!("{owner}/{repo}.git"));
    let script = format!(
        "git init -q && git add . && git -c user.name=t -c user.email=t@t commit -qm v1 && \
         git tag v1.2.0 && git clone -q --bare . {} && git rev-parse HEAD",
        bare.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let commit = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    (git, commit)
}

#[tokio::test]
async fn a_tag_pins_a_source_case_is_kept_go_manifests_install_and_refusals_are_audited() {
    let manifest = r#"{"name":"MyTool","version":"1.2.0","sha256":"not-a-per-file-digest"}"#;
    let (git, commit) = tagged_repo(
        "Acme",
        "MyTool",
        &[
            ("plugin.yaml", "version: 1.2.0\n"),
            ("manifest.json", manifest),
        ],
    );
    let base = format!("file://{}", git.path().display());
    let r = rig(&[("--plugin-github-url", &base)]).await;
    let app = &r.app;
    let id = app.create_local(json!({ "name": "go" })).await;
    let (status, body) =
        install(app, &id, json!({ "source": "github://Acme/MyTool#v1.2.0" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["plugin"].clone(), body["commit"].clone()),
        (json!("MyTool"), json!(commit))
    );
    assert_eq!(
        app.sh(&id, "cat /configs/plugins/MyTool/plugin.yaml").await,
        "version: 1.2.0\n"
    );

    // No ref at all is unpinned: refused, and the refusal is audited.
    let (status, _) = install(app, &id, json!({ "source": "github://Acme/MyTool" })).await;
    assert_eq!(status, 422);
    let (_, rows) = app
        .get_as(
            &format!("/workspaces/{id}/activity?type=plugin"),
            &app.admin,
        )
        .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(
        rows[0]["summary"], "plugin install refused: MyTool",
        "{rows:?}"
    );
    assert_eq!(rows[0]["status"], "error");
    assert_eq!(
        rows[1]["request_body"]["commit"],
        json!(commit),
        "the resolved commit is recorded"
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn execs_refused_by_the_tier_gate_or_a_stopped_workspace_are_audited() {
    let app = TestApp::spawn().await;
    let low = app
        .create_workspace(json!({ "name": "t2", "tier": 2, "instance_id": "i-0123456789abcdef0" }))
        .await;
    let (status, _) = app
        .exec(&low, json!({ "argv": ["id"], "stdin": "secret input" }))
        .await;
    assert_eq!(status, 403);
    let stopped = app.create_local(json!({ "name": "stopped" })).await;
    crate::helpers::stop_container(&stopped).await;
    let (status, _) = app.exec(&stopped, json!({ "argv": ["id"] })).await;
    assert_eq!(status, 409);
    for (id, code) in [(&low, 403), (&stopped, 409)] {
        let (_, rows) = app
            .get_as(&format!("/workspaces/{id}/activity?type=exec"), &app.admin)
            .await;
        assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
        let row = &rows[0];
        assert_eq!(
            (
                row["status"].clone(),
                row["request_body"]["http_status"].clone()
            ),
            (json!("refused"), json!(code))
        );
        assert!(!row.to_string().contains("secret input"));
    }
    app.remove(&stopped).await;
}
