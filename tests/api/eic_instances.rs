//! The EC2 path against an instance set up as the workspace AMIs are: host keys pinned and
//! re-pinned, the AWS CLI's version read at start-up, root-owned bases reached through sudo.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::eic::{aws_calls, eic_workspace, instance};
use crate::helpers::{Db, Options};

#[tokio::test]
async fn the_host_key_is_pinned_and_a_changed_one_is_refused() {
    let app = Options::default().eic().spawn().await;
    let id = eic_workspace(&app, &instance()).await;
    assert_eq!(app.exec(&id, json!({ "argv": ["true"] })).await.0, 200);
    let Db::Sqlite(dir) = app.db.clone() else {
        unreachable!()
    };
    let store = workspace_server::store::open(None, &dir).await.unwrap();
    let ws_id = workspace_server::workspace::WorkspaceId::parse(&id).unwrap();
    let pinned = store.workspace(ws_id).await.unwrap().unwrap().host_key;
    assert!(
        pinned
            .as_deref()
            .is_some_and(|k| k.starts_with("ssh-ed25519 ")),
        "{pinned:?}"
    );

    // Another key than the sshd's: a new connection (after a restart) must refuse it.
    let other =
        ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, ssh_key::Algorithm::Ed25519).unwrap();
    store
        .set_host_key(ws_id, &other.public_key().to_openssh().unwrap())
        .await
        .unwrap();
    let app = app.restart().await;
    let (status, body) = app.exec(&id, json!({ "argv": ["true"] })).await;
    assert_eq!(status, 502, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("host key") && message.contains("docs/infra/workspace-terminal.md"),
        "{message}"
    );

    // An instance rebuilt under the same id: the admin drops the pin, the next connection pins
    // the instance's key again, and the drop is audited.
    let url = format!("/workspaces/{id}/host-key");
    let (token, _) = app.workspace_token(&id).await;
    assert_eq!(app.call(Method::DELETE, &url, &token, None).await.0, 401);
    let (status, body) = app.call(Method::DELETE, &url, &app.admin, None).await;
    assert_eq!(
        (status.as_u16(), body),
        (200, json!({ "status": "unpinned" }))
    );
    let (status, body) = app.exec(&id, json!({ "argv": ["true"] })).await;
    assert_eq!(status, 200, "{body}");
    let store = app.store().await;
    assert_eq!(
        store.workspace(ws_id).await.unwrap().unwrap().host_key,
        pinned
    );
    let (_, rows) = app
        .get_as(
            &format!("/workspaces/{id}/activity?type=workspace"),
            &app.admin,
        )
        .await;
    assert!(rows.to_string().contains("host key unpinned"), "{rows}");

    // A new instance id is a new instance: its old pin goes with the PATCH.
    store
        .set_host_key(ws_id, &other.public_key().to_openssh().unwrap())
        .await
        .unwrap();
    let patch = json!({ "instance_id": instance() });
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/workspaces/{id}"),
            &app.admin,
            Some(patch),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.exec(&id, json!({ "argv": ["true"] })).await;
    assert_eq!(
        status, 200,
        "the new instance's key is pinned, not refused: {body}"
    );
    assert_eq!(
        store.workspace(ws_id).await.unwrap().unwrap().host_key,
        pinned
    );
}

#[tokio::test]
async fn files_live_under_the_runtime_base() {
    let app = Options::default().eic().spawn().await;
    // hermes's base is the OS user's own; /configs and /opt/configs belong to root, as on the
    // workspace AMIs, and are written under sudo, the files given to 1000:1000.
    for (runtime, base, owner) in [
        ("hermes", "/home/ubuntu/.hermes", None),
        ("claude-code", "/configs", Some((1000, 1000))),
        ("langgraph", "/opt/configs", Some((1000, 1000))),
    ] {
        let i = instance();
        let id = app
            .create_workspace(json!({ "name": "ec2", "runtime": runtime, "instance_id": i }))
            .await;
        let dir = format!("t-{}", &i[2..]);
        let url = format!("/workspaces/{id}/files");
        let files =
            json!({ "files": { format!("{dir}/a.txt"): "A", format!("{dir}/sub/b;c"): "B" } });
        let (status, body) = app.call(Method::PUT, &url, &app.admin, Some(files)).await;
        assert_eq!(
            (status.as_u16(), body),
            (200, json!({ "status": "replaced", "files": 2 })),
            "{runtime}"
        );
        let written = format!("{base}/{dir}/sub/b;c");
        assert_eq!(std::fs::read_to_string(&written).unwrap(), "B");
        if let Some(owner) = owner {
            use std::os::unix::fs::MetadataExt;
            for path in [
                written.clone(),
                format!("{base}/{dir}/sub"),
                format!("{base}/{dir}"),
            ] {
                let meta = std::fs::metadata(&path).unwrap();
                assert_eq!((meta.uid(), meta.gid()), owner, "{path}");
            }
        }
        let (_, read) = app.get_as(&format!("{url}/{dir}/a.txt"), &app.admin).await;
        assert_eq!(
            read,
            json!({ "path": format!("{dir}/a.txt"), "content": "A", "size": 1 })
        );
        let (_, list) = app
            .get_as(&format!("{url}?path={dir}&depth=2"), &app.admin)
            .await;
        let paths: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                format!("{dir}/a.txt"),
                format!("{dir}/sub"),
                format!("{dir}/sub/b;c")
            ]
        );
        assert_eq!(
            app.call(Method::DELETE, &format!("{url}/{dir}"), &app.admin, None)
                .await
                .0,
            200
        );
        assert_eq!(
            app.get_as(&format!("{url}/{dir}/a.txt"), &app.admin)
                .await
                .0,
            404
        );
        assert_eq!(
            aws_calls("send-ssh-public-key", &i).len(),
            1,
            "all over one connection"
        );
    }
}

#[tokio::test]
async fn an_aws_cli_without_open_tunnel_is_reported_at_start_up() {
    // The real AWS CLI of Debian 12 (2.9.19, no `open-tunnel`), from the image the tests built.
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("aws");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\nexec docker run --rm -i debian:bookworm-slim aws \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    // An EC2-only tenant: the EC2 path is all there is, so readiness fails.
    let app = Options::default()
        .arg("--aws-cli", wrapper.to_str().unwrap())
        .arg("--docker-host", "none")
        .spawn()
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        let (status, body) = app.get_as("/readyz", "").await;
        if status == 503 {
            break body;
        }
        assert!(Instant::now() < deadline, "never reported: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(body["checks"]["eic"], "aws cli too old", "{body}");
    let id = eic_workspace(&app, &instance()).await;
    let (status, body) = app.exec(&id, json!({ "argv": ["true"] })).await;
    assert_eq!(status, 503, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("2.9.19")
            && message.contains("2.12.0")
            && message.contains("workspace-terminal.md"),
        "{message}"
    );

    // The stand-in answers as Debian 13's CLI does: ready, with Docker on as well.
    let app = Options::default().eic().spawn().await;
    let (status, body) = app.get_as("/readyz", "").await;
    assert_eq!(
        (status.as_u16(), &body["checks"]["eic"]),
        (200, &json!("ok")),
        "{body}"
    );
}
