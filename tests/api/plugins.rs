//! Plugins on the real Docker engine and the real sshd (SPEC §5.6).

use std::path::Path;
use std::time::Duration;

use bollard::query_parameters::InspectContainerOptions;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, container_of, docker, stop_container};

/// A registry directory with plugin `name` (a plugin.yaml and a skill file).
fn add_plugin(registry: &Path, name: &str, version: &str) {
    let dir = registry.join(name);
    std::fs::create_dir_all(dir.join("skills")).unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        format!("version: {version}\ndescription: test plugin\nauthor: tests\n"),
    )
    .unwrap();
    std::fs::write(dir.join("skills/run.sh"), format!("echo {version}\n")).unwrap();
}

struct Rig {
    app: TestApp,
    registry: tempfile::TempDir,
}

async fn rig(extra: &[(&str, &str)]) -> Rig {
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

async fn install(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
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
    let n: u64 = rand::random::<u64>() & 0x0fff_ffff_ffff_ffff;
    let id = app
        .create_workspace(
            json!({ "name": "ec2", "runtime": "hermes", "instance_id": format!("i-{n:017x}") }),
        )
        .await;
    let _ = std::fs::remove_file("/home/ubuntu/.restarted-by-test");
    let (status, body) = install(app, &id, json!({ "source": "local://remote-helper" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["restarted"], true);
    assert!(
        Path::new("/home/ubuntu/.restarted-by-test").exists(),
        "the restart command ran"
    );
    let installed = Path::new("/home/ubuntu/.hermes/plugins/remote-helper/skills/run.sh");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::read_to_string(installed).unwrap(), "echo 2.0.0\n");
    assert_eq!(installed.metadata().unwrap().uid(), 1000);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/workspaces/{id}/plugins/remote-helper"),
            &app.admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(!installed.exists());
}

#[tokio::test]
async fn every_pipeline_error_has_its_status() {
    let git = tempfile::tempdir().unwrap();
    let base = format!("file://{}", git.path().display());
    let r = rig(&[
        ("--plugin-github-url", &base),
        ("--plugin-install-max-dir-bytes", "20000"),
        ("--plugin-install-body-max-bytes", "200"),
    ])
    .await;
    let reg = r.registry.path();
    add_plugin(reg, "ok", "1");
    std::fs::create_dir(reg.join("no-yaml")).unwrap();
    std::fs::write(reg.join("no-yaml/readme"), "x").unwrap();
    add_plugin(reg, "big", "1");
    std::fs::write(reg.join("big/blob"), vec![0u8; 30_000]).unwrap();
    add_plugin(reg, "bad-manifest", "1");
    std::fs::write(
        reg.join("bad-manifest/manifest.json"),
        json!({ "files": { "plugin.yaml": "00" } }).to_string(),
    )
    .unwrap();
    let app = &r.app;
    let id = app.create_local(json!({ "name": "p" })).await;
    let yaml_sha = workspace_server::plugins::sha256_hex(
        b"version: 1\ndescription: test plugin\nauthor: tests\n",
    );

    let long = "x".repeat(300);
    let cases: Vec<(Value, u16)> = vec![
        (json!({ "source": format!("local://{long}") }), 413),
        (json!({ "source": "no-scheme" }), 400),
        (json!({ "source": "local://../etc" }), 400),
        (json!({ "source": "github://acme/tools#main" }), 422),
        (
            json!({ "source": "github://acme/missing#0123456789abcdef0123456789abcdef01234567" }),
            404,
        ),
        (json!({ "source": "local://absent" }), 404),
        (json!({ "source": "local://no-yaml" }), 400),
        (json!({ "source": "local://big" }), 413),
        (
            json!({ "source": "local://ok", "sha256": "0".repeat(64) }),
            422,
        ),
        (json!({ "source": "local://bad-manifest" }), 422),
        (json!({ "source": "local://ok", "sha256": yaml_sha }), 200),
    ];
    for (body, want) in cases {
        let (status, answer) = install(app, &id, body.clone()).await;
        assert_eq!(status, want, "{body} → {answer}");
    }
    let (status, answer) = install(app, &id, json!({ "source": "ftp://x/y" })).await;
    assert_eq!(
        (status, answer["available_schemes"].clone()),
        (400, json!(["local", "github"]))
    );

    // The org allowlist: empty allows all; otherwise only what is listed.
    let allow = format!("/orgs/{id}/plugins/allowlist");
    let (status, body) = app
        .call(
            Method::PUT,
            &allow,
            &app.admin,
            Some(json!({ "plugins": ["other"] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.get_as(&allow, &app.admin).await.1["plugins"][0]["plugin_name"],
        "other"
    );
    assert_eq!(
        install(app, &id, json!({ "source": "local://ok" })).await.0,
        403
    );
    app.call(
        Method::PUT,
        &allow,
        &app.admin,
        Some(json!({ "plugins": [] })),
    )
    .await;

    // Runtime `external` gets the download route; a stopped container gets 503.
    let external = app
        .create_workspace(json!({ "name": "x", "runtime": "external" }))
        .await;
    let (status, body) = install(app, &external, json!({ "source": "local://ok" })).await;
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&format!("/workspaces/{external}/plugins/ok/download"))
    );
    stop_container(&id).await;
    let (status, body) = install(app, &id, json!({ "source": "local://ok" })).await;
    assert_eq!(
        (status, body),
        (503, json!({ "error": "workspace container not running" }))
    );
    app.remove(&id).await;
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

#[tokio::test]
async fn a_symlink_to_a_host_file_delivers_nothing_of_it() {
    let r = rig(&[]).await;
    add_plugin(r.registry.path(), "sneaky", "1");
    std::fs::write("/tmp/wss-host-secret", "HOST-SECRET").unwrap();
    std::os::unix::fs::symlink(
        "/tmp/wss-host-secret",
        r.registry.path().join("sneaky/leak"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../../../../tmp/wss-host-secret",
        r.registry.path().join("sneaky/skills/leak2"),
    )
    .unwrap();
    let app = &r.app;
    let id = app.create_local(json!({ "name": "s" })).await;
    assert_eq!(
        install(app, &id, json!({ "source": "local://sneaky" }))
            .await
            .0,
        200
    );
    let found = app
        .sh(
            &id,
            "grep -r HOST-SECRET /configs/plugins/ || echo clean; ls -A /configs/plugins/sneaky",
        )
        .await;
    assert_eq!(found, "clean\nplugin.yaml\nskills\n");
    app.remove(&id).await;
}

#[tokio::test]
async fn a_hostile_tarball_is_refused_and_writes_nothing() {
    let r = rig(&[]).await;
    let app = &r.app;
    let id = app.create_local(json!({ "name": "h" })).await;
    for (i, (path, kind, link)) in [
        ("/abs-evil", tar::EntryType::Regular, None),
        ("../dotdot-evil", tar::EntryType::Regular, None),
        ("escape", tar::EntryType::Symlink, Some("../../../../etc")),
        ("dev", tar::EntryType::Char, None),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("evil{i}");
        std::fs::write(
            r.registry.path().join(format!("{name}.tar.gz")),
            hostile_tar(path, kind, link),
        )
        .unwrap();
        let (status, body) =
            install(app, &id, json!({ "source": format!("local://{name}") })).await;
        assert_eq!(status, 400, "{path} → {body}");
    }
    assert_eq!(
        app.sh(&id, "ls -A /configs").await,
        "",
        "nothing was delivered"
    );
    app.remove(&id).await;
}

/// A tar.gz with a plugin.yaml and one hostile entry, written raw.
fn hostile_tar(path: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
    let mut raw = Vec::new();
    for (name, kind, link, data) in [
        ("plugin.yaml", tar::EntryType::Regular, None, &b"v: 1\n"[..]),
        (path, kind, link, &b""[..]),
    ] {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        raw.extend_from_slice(h.as_bytes());
        if !data.is_empty() {
            let mut block = [0u8; 512];
            block[..data.len()].copy_from_slice(data);
            raw.extend_from_slice(&block);
        }
    }
    raw.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn a_failed_reinstall_leaves_the_old_version_in_place() {
    let r = rig(&[]).await;
    add_plugin(r.registry.path(), "stable", "1.0.0");
    let app = &r.app;
    let id = app.create_local(json!({ "name": "f" })).await;
    assert_eq!(
        install(app, &id, json!({ "source": "local://stable" }))
            .await
            .0,
        200
    );
    // Version 2 in the registry, but the caller's digest does not match it: refused.
    add_plugin(r.registry.path(), "stable", "2.0.0");
    let (status, _) = install(
        app,
        &id,
        json!({ "source": "local://stable", "sha256": "0".repeat(64) }),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        app.sh(
            &id,
            "cat /configs/plugins/stable/skills/run.sh; ls -A /configs/plugins"
        )
        .await,
        "echo 1.0.0\nstable\n"
    );

    // The swap itself: when the new tree cannot be moved in, the old one is put back.
    let swap = workspace_server::plugins::SWAP_SCRIPT;
    let (status, out) = app
        .exec(&id, json!({ "argv": ["sh", "-c", swap, "swap", "/configs/plugins", ".stable.new-missing", "stable"] }))
        .await;
    assert_eq!(
        (status.as_u16(), &out["exit_code"]),
        (200, &json!(1)),
        "{out}"
    );
    assert_eq!(
        app.sh(
            &id,
            "cat /configs/plugins/stable/skills/run.sh; ls -A /configs/plugins"
        )
        .await,
        "echo 1.0.0\nstable\n"
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn an_unreachable_source_is_502_and_a_slow_one_504() {
    // A listener that accepts and never answers: the fetch runs into its timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            open.push(conn);
        }
    });
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let slow = rig(&[
        ("--plugin-github-url", &silent_url),
        ("--plugin-install-fetch-timeout", "2s"),
    ])
    .await;
    let id = slow.app.create_workspace(json!({ "name": "p" })).await;
    let (status, body) = install(
        &slow.app,
        &id,
        json!({ "source": format!("github://a/b#{commit}") }),
    )
    .await;
    assert_eq!(status, 504, "{body}");

    // Nothing listens on port 9 of loopback: the fetch fails at once.
    let down = rig(&[("--plugin-github-url", "http://127.0.0.1:9")]).await;
    let id = down.app.create_workspace(json!({ "name": "p" })).await;
    let (status, body) = install(
        &down.app,
        &id,
        json!({ "source": format!("github://a/b#{commit}") }),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no fetch detail in the body: {body}"
    );
    held.abort();
}
