//! Plugins on the real Docker engine and the real sshd (SPEC §5.6): the working paths.
//! What must fail, and fail safely, is in `plugin_failures.rs`.

use std::path::Path;
use std::time::Duration;

use bollard::query_parameters::InspectContainerOptions;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, container_of, docker};

/// A registry directory with plugin `name` (a plugin.yaml and a skill file).
pub(crate) fn add_plugin(registry: &Path, name: &str, version: &str) {
    let dir = registry.join(name);
    std::fs::create_dir_all(dir.join("skills")).unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        format!("version: {version}\ndescription: test plugin\nauthor: tests\n"),
    )
    .unwrap();
    std::fs::write(dir.join("skills/run.sh"), format!("echo {version}\n")).unwrap();
}

pub(crate) struct Rig {
    pub(crate) app: TestApp,
    pub(crate) registry: tempfile::TempDir,
}

pub(crate) async fn rig(extra: &[(&str, &str)]) -> Rig {
    let registry = tempfile::tempdir().unwrap();
    let mut options = Options::default()
        .eic()
        .arg("--plugins-dir", registry.path().to_str().unwrap())
        .arg(
            "--workspace-ec2-restart-command",
            "touch \"$HOME/.restarted-by-test\"",
        );
    for (flag, value) in extra {
        options = options.arg(flag, value);
    }
    Rig {
        app: options.spawn().await,
        registry,
    }
}

pub(crate) async fn install(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/workspaces/{id}/plugins"),
            &app.admin,
            Some(body),
        )
        .await;
    (status.as_u16(), body)
}

async fn started_at(id: &str) -> String {
    let c = docker()
        .inspect_container(&container_of(id), None::<InspectContainerOptions>)
        .await
        .unwrap();
    c.state.unwrap().started_at.unwrap()
}

#[tokio::test]
async fn install_list_download_and_uninstall_on_docker() {
    let r = rig(&[]).await;
    add_plugin(r.registry.path(), "helper", "1.0.0");
    let app = &r.app;
    let id = app.create_local(json!({ "name": "p" })).await;
    let before = started_at(&id).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let (status, body) = install(app, &id, json!({ "source": "local://helper" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "installed");
    assert_eq!(
        (body["plugin"].as_str(), body["source"].as_str()),
        (Some("helper"), Some("local://helper"))
    );
    assert_eq!(
        app.sh(&id, "stat -c '%u:%g' /configs/plugins/helper /configs/plugins/helper/skills/run.sh; cat /configs/plugins/helper/skills/run.sh").await,
        "1000:1000\n1000:1000\necho 1.0.0\n"
    );
    assert_ne!(started_at(&id).await, before, "the container was restarted");

    let (_, listed) = app
        .get_as(&format!("/workspaces/{id}/plugins"), &app.admin)
        .await;
    assert_eq!(
        listed,
        json!([{ "name": "helper", "version": "1.0.0", "description": "test plugin", "author": "tests" }])
    );
    let (_, registry) = app.get_as("/plugins", "").await;
    assert_eq!(registry[0]["source"], "local://helper");
    assert_eq!(
        app.get_as("/plugins/sources", "").await.1,
        json!({ "schemes": ["local", "github"] })
    );

    let res = app
        .get(&format!("/workspaces/{id}/plugins/helper/download"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/gzip");
    let gz = res.bytes().await.unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.contains(&"helper/plugin.yaml".to_owned()),
        "{names:?}"
    );

    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/workspaces/{id}/plugins/helper"),
            &app.admin,
            None,
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["status"].clone()),
        (200, json!("uninstalled"))
    );
    assert_eq!(app.sh(&id, "ls -A /configs/plugins").await, "");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/workspaces/{id}/plugins/helper"),
            &app.admin,
            None,
        )
        .await;
    assert_eq!(status, 404);

    let (_, rows) = app
        .get_as(
            &format!("/workspaces/{id}/activity?type=plugin"),
            &app.admin,
        )
        .await;
    let statuses: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["summary"].clone(), r["status"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (json!("plugin uninstalled: helper"), json!("error")),
            (json!("plugin uninstalled: helper"), json!("ok")),
            (json!("plugin installed: helper"), json!("ok")),
        ]
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn install_and_uninstall_over_eic() {
    let r = rig(&[]).await;
    add_plugin(r.registry.path(), "remote-helper", "2.0.0");
    let app = &r.app;
    // hermes's base is the OS user's own; the others belong to root, as on the workspace AMIs,
    // so delivery and removal run under sudo.
    for (runtime, base) in [
        ("hermes", "/home/ubuntu/.hermes"),
        ("claude-code", "/configs"),
        ("langgraph", "/opt/configs"),
    ] {
        let n: u64 = rand::random::<u64>() & 0x0fff_ffff_ffff_ffff;
        let id = app
            .create_workspace(
                json!({ "name": "ec2", "runtime": runtime, "instance_id": format!("i-{n:017x}") }),
            )
            .await;
        let _ = std::fs::remove_file("/home/ubuntu/.restarted-by-test");
        let (status, body) = install(app, &id, json!({ "source": "local://remote-helper" })).await;
        assert_eq!(status, 200, "{runtime}: {body}");
        assert_eq!(body["restarted"], true);
        assert!(
            Path::new("/home/ubuntu/.restarted-by-test").exists(),
            "the restart command ran"
        );
        let installed = format!("{base}/plugins/remote-helper/skills/run.sh");
        let installed = Path::new(&installed);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::read_to_string(installed).unwrap(), "echo 2.0.0\n");
        let meta = installed.metadata().unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1000, 1000), "{runtime}");
        let (status, _) = app
            .call(
                Method::DELETE,
                &format!("/workspaces/{id}/plugins/remote-helper"),
                &app.admin,
                None,
            )
            .await;
        assert_eq!(status, 200, "{runtime}");
        assert!(!installed.exists(), "{runtime}");
    }
}

#[tokio::test]
async fn github_sources_are_fetched_at_their_commit() {
    let git = tempfile::tempdir().unwrap();
    let repo = git.path().join("acme/tool.git");
    let work = git.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("plugin.yaml"), "version: 3.1.0\n").unwrap();
    let sh = |script: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&work)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    sh("git init -q && git add . && git -c user.name=t -c user.email=t@t commit -qm v1");
    let commit = sh("git rev-parse HEAD").trim().to_owned();
    sh(&format!(
        "git clone -q --bare . {} && git -C {} config uploadpack.allowAnySHA1InWant true",
        repo.display(),
        repo.display()
    ));
    let base = format!("file://{}", git.path().display());
    let r = rig(&[("--plugin-github-url", &base)]).await;
    let app = &r.app;
    let id = app.create_local(json!({ "name": "g" })).await;
    let (status, body) = install(
        app,
        &id,
        json!({ "source": format!("github://acme/tool#{commit}") }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.sh(
            &id,
            "cat /configs/plugins/tool/plugin.yaml; ls -A /configs/plugins/tool"
        )
        .await,
        "version: 3.1.0\nplugin.yaml\n"
    );
    app.remove(&id).await;
}
