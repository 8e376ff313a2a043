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
