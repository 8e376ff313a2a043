//! Plugin installs that must fail, and fail safely: every status of the pipeline, unreachable and
//! slow sources, symlinks out of the tree, hostile tarballs, and a failed reinstall.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::stop_container;
use crate::plugins::{add_plugin, install, rig};

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
        (json!({ "source": "github://acme/tools" }), 422),
        (json!({ "source": "github://acme/tools#main" }), 404),
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

    // The delivery itself: when the new tree cannot be unpacked, the old one stays.
    let deliver = workspace_server::backend::fs::deliver_script();
    let (status, out) = app
        .exec(&id, json!({ "argv": ["sh", "-c", deliver, "sh", "/configs", ".stable.new-broken", "stable"], "stdin": "not a tar" }))
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

/// The peak resident memory of this test process (one process per test under nextest), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn the_open_registry_listing_stays_cheap_with_a_huge_plugin_yaml() {
    let r = rig(&[]).await;
    let big = r.registry.path().join("huge");
    std::fs::create_dir(&big).unwrap();
    std::fs::File::create(big.join("plugin.yaml"))
        .unwrap()
        .set_len(50 * 1024 * 1024)
        .unwrap();
    add_plugin(r.registry.path(), "fine", "1.0.0");
    let before = peak_rss_kib();
    let listings = (0..32).map(|_| r.app.get_as("/plugins", ""));
    for (status, body) in futures_util::future::join_all(listings).await {
        assert_eq!(status, 200);
        assert_eq!(body[0]["name"], "fine");
        assert_eq!(
            body[1],
            json!({ "name": "huge", "source": "local://huge", "error": "plugin.yaml is larger than 64 KiB" })
        );
    }
    let growth = peak_rss_kib().saturating_sub(before);
    assert!(growth < 16 * 1024, "peak memory grew by {growth} KiB");
}
