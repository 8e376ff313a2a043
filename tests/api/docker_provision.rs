//! Local workspaces on the real Docker engine: create, tiers, restart, delete.

use std::time::Duration;

use bollard::query_parameters::InspectContainerOptions;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Options, TestApp, container_of, docker};

async fn inspect(id: &str) -> Option<bollard::models::ContainerInspectResponse> {
    docker()
        .inspect_container(&container_of(id), None::<InspectContainerOptions>)
        .await
        .ok()
}

#[tokio::test]
async fn a_local_workspace_gets_its_container_volume_and_labels() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/workspaces",
            &app.admin,
            Some(json!({ "name": "local", "tier": 2 })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "provisioning");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_provisioned(&id).await["status"], "online");

    let c = inspect(&id).await.expect("container ws-<id12>");
    assert_eq!(c.state.unwrap().running, Some(true));
    let labels = c.config.as_ref().unwrap().labels.clone().unwrap();
    assert_eq!(labels["workspace-server.managed"], "true");
    assert_eq!(labels["workspace-server.workspace-id"], id);
    let host = c.host_config.unwrap();
    assert_eq!(host.memory, Some(512 * 1024 * 1024));
    let mounts = c.mounts.unwrap();
    assert!(
        mounts.iter().any(
            |m| m.name.as_deref() == Some(&format!("{}-configs", container_of(&id)))
                && m.destination.as_deref() == Some("/configs")
        ),
        "{mounts:?}"
    );

    app.remove(&id).await;
    assert!(inspect(&id).await.is_none(), "container removed");
    let volume = docker()
        .inspect_volume(&format!("{}-configs", container_of(&id)))
        .await;
    assert!(volume.is_err(), "volume removed");
    assert_eq!(
        app.get_as(&format!("/workspaces/{id}"), &app.admin).await.1["status"],
        "removed"
    );
}

#[tokio::test]
async fn tier_one_runs_read_only_and_tier_three_shares_the_host_pid_namespace() {
    let app = TestApp::spawn().await;
    let one = app.create_local(json!({ "name": "t1", "tier": 1 })).await;
    let three = app.create_local(json!({ "name": "t3" })).await;
    let h1 = inspect(&one).await.unwrap().host_config.unwrap();
    assert_eq!(h1.readonly_rootfs, Some(true));
    assert_eq!(h1.tmpfs.unwrap()["/tmp"], "rw,noexec,nosuid,size=64m");
    let h3 = inspect(&three).await.unwrap().host_config.unwrap();
    assert_eq!(h3.pid_mode.as_deref(), Some("host"));
    assert_eq!(h3.privileged, Some(false), "WORKSPACE_PRIVILEGED=false");
    assert_eq!(h3.memory, Some(2048 * 1024 * 1024));
    app.remove(&one).await;
    app.remove(&three).await;
}

#[tokio::test]
async fn an_image_the_engine_cannot_find_leaves_the_workspace_failed_with_the_reason() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/workspaces",
            &app.admin,
            Some(json!({ "name": "bad", "image": "no-such-image-here:1" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let ws = app.wait_provisioned(body["id"].as_str().unwrap()).await;
    assert_eq!(ws["status"], "failed");
    let reason = ws["last_error"].as_str().unwrap();
    assert!(reason.contains("no-such-image-here"), "{reason}");
    app.remove(ws["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn restart_restarts_the_container() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "r" })).await;
    let before = inspect(&id)
        .await
        .unwrap()
        .state
        .unwrap()
        .started_at
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.restart_workspace(&id).await, 200);
    let state = inspect(&id).await.unwrap().state.unwrap();
    assert_eq!(state.running, Some(true));
    assert_ne!(state.started_at.unwrap(), before);
    app.remove(&id).await;
}

#[tokio::test]
async fn readiness_reports_an_unreachable_engine() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_as("/readyz", "").await;
    assert_eq!(
        (status.as_u16(), &body["checks"]["docker"]),
        (200, &json!("ok")),
        "{body}"
    );
    let app = Options::default()
        .arg("--docker-host", "unix:///nonexistent/docker.sock")
        .spawn()
        .await;
    let (status, body) = app.get_as("/readyz", "").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["docker"], "unavailable");
    assert!(
        !body.to_string().contains("nonexistent"),
        "no server paths in the body"
    );
}

/// A registry of this test's own on loopback (Debian's `docker-registry`), stopped when dropped.
struct Registry {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    async fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::support::process::free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry (scripts/test.sh installs it)");
        let up =
            crate::support::process::eventually(20, || std::net::TcpStream::connect(&addr).is_ok())
                .await;
        assert!(up, "the registry did not listen on {addr}");
        Registry {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn docker_cli(args: &[&str]) {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn an_image_the_engine_lacks_is_pulled_and_a_failed_pull_is_the_reason() {
    let registry = Registry::start().await;
    let image = format!(
        "{}/wss-pull-test:{}",
        registry.addr,
        uuid::Uuid::new_v4().simple()
    );
    docker_cli(&["tag", &crate::helpers::test_image(), &image]);
    docker_cli(&["push", "-q", &image]);
    docker_cli(&["rmi", &image]);
    let app = TestApp::spawn().await;
    let created = app
        .created(
            "/workspaces",
            Some(json!({ "name": "pulled", "image": image })),
        )
        .await;
    assert_eq!(created["status"], "provisioning");
    let id = created["id"].as_str().unwrap().to_owned();
    let ws = app.wait_provisioned(&id).await;
    assert_eq!(ws["status"], "online", "{ws}");
    assert_eq!(app.sh(&id, "echo pulled").await, "pulled\n");
    app.remove(&id).await;

    let absent = format!("{}/wss-pull-test:absent", registry.addr);
    let created = app
        .created(
            "/workspaces",
            Some(json!({ "name": "absent", "image": absent })),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let ws = app.wait_provisioned(&id).await;
    assert_eq!(ws["status"], "failed", "{ws}");
    let reason = ws["last_error"].as_str().unwrap();
    assert!(
        reason.contains("not found") || reason.contains("unknown"),
        "{reason}"
    );
    app.remove(&id).await;
    let _ = std::process::Command::new("docker")
        .args(["rmi", &image])
        .output();
}

#[tokio::test]
async fn status_follows_the_engine_and_restart_brings_a_gone_container_back() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "followed" })).await;
    let status = async || app.get_as(&format!("/workspaces/{id}"), &app.admin).await.1;

    // Stopped behind the server's back: offline, in the listing too; a restart starts it.
    crate::helpers::stop_container(&id).await;
    assert_eq!(status().await["status"], "offline");
    let (_, listed) = app.get_as("/workspaces", &app.admin).await;
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id.as_str())
        .cloned();
    assert_eq!(row.unwrap()["status"], "offline");
    assert_eq!(app.restart_workspace(&id).await, 200);
    assert_eq!(status().await["status"], "online");

    // Removed behind its back: failed, with what to do; a restart creates it again, and the
    // workspace's files (its volume) are still there.
    app.sh(&id, "echo kept > /configs/kept.txt").await;
    docker()
        .remove_container(
            &container_of(&id),
            Some(bollard::query_parameters::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    let ws = status().await;
    assert_eq!(ws["status"], "failed", "{ws}");
    assert!(
        ws["last_error"].as_str().unwrap().contains("restart"),
        "{ws}"
    );
    assert_eq!(app.restart_workspace(&id).await, 200);
    let ws = status().await;
    assert_eq!(
        (ws["status"].clone(), ws["last_error"].clone()),
        (json!("online"), json!(null))
    );
    assert_eq!(
        inspect(&id).await.unwrap().state.unwrap().running,
        Some(true)
    );
    assert_eq!(app.sh(&id, "cat /configs/kept.txt").await, "kept\n");
    app.remove(&id).await;
}
