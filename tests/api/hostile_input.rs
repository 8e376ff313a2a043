//! Bad input stays a 4xx and changes nothing (SPEC §11): doubled headers, overlong names and
//! paths, colliding bulk writes, huge argvs, malformed control frames, invented HTTP methods.

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TestApp, json_of};
use crate::support::terminal::read_until;

#[tokio::test]
async fn two_authorization_headers_are_refused_not_resolved() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/workspaces"))
        .header("Authorization", format!("Bearer {}", app.admin))
        .header("Authorization", "Bearer wrong")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "more than one Authorization header");
}

#[tokio::test]
async fn overlong_names_and_colliding_bulk_writes_are_400_and_write_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "bad-input" })).await;
    let long_name = "n".repeat(300);
    let long_path = vec!["d"; 2500].join("/");
    for path in [long_name.as_str(), long_path.as_str()] {
        let (status, body) = app
            .call(
                Method::PUT,
                &format!("/workspaces/{id}/files/{path}"),
                &app.admin,
                Some(json!({ "content": "x" })),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        let (status, _) = app
            .get_as(&format!("/workspaces/{id}/files/{path}"), &app.admin)
            .await;
        assert_eq!(status, 400);
    }
    for files in [
        json!({ "a//b": "1", "a/b": "2" }),
        json!({ "first": "1", "first/second": "2" }),
    ] {
        let (status, body) = app
            .call(
                Method::PUT,
                &format!("/workspaces/{id}/files"),
                &app.admin,
                Some(json!({ "files": files })),
            )
            .await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(app.sh(&id, "ls -A /configs | wc -l").await.trim(), "0");
    app.remove(&id).await;
}

#[tokio::test]
async fn an_argv_past_4096_elements_or_256_kib_is_413() {
    let app = TestApp::spawn().await;
    // A registered EC2 workspace: the argv is refused before any connection is tried.
    let id = app
        .create_workspace(json!({ "name": "argv", "instance_id": "i-0123456789abcdef0" }))
        .await;
    for argv in [
        json!(vec!["x"; 100_000]),
        json!(["echo", "y".repeat(300 * 1024)]),
    ] {
        let (status, body) = app.exec(&id, json!({ "argv": argv })).await;
        assert_eq!(status, 413, "{body}");
    }
}

#[tokio::test]
async fn invented_http_methods_do_not_grow_metrics() {
    let app = TestApp::spawn().await;
    let size = async || app.metrics().await.len();
    // The series of `/metrics` itself, and of the route's `other` method, exist once each has
    // been asked once.
    let first = Method::from_bytes(b"FIRSTX").unwrap();
    app.request(first, "/health").send().await.unwrap();
    size().await;
    let before = size().await;
    for i in 0..200 {
        let method = Method::from_bytes(format!("M{i:05}X").as_bytes()).unwrap();
        let _ = app.request(method, "/health").send().await.unwrap();
    }
    let text = app.metrics().await;
    assert!(text.contains("method=\"other\""), "{text}");
    assert!(!text.contains("M00001X"));
    assert!(text.len() < before + 1024, "{before} → {}", text.len());
}

#[tokio::test]
async fn a_control_frame_with_bad_fields_is_refused_and_never_typed() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "frames" })).await;
    let url = format!("ws://{}/workspaces/{id}/terminal", app.addr);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", app.admin).parse().unwrap(),
    );
    let (mut socket, _) = connect_async(req).await.unwrap();
    socket
        .send(Message::Text(r#"{"type":"resize","cols":"abc"}"#.into()))
        .await
        .unwrap();
    let refusal = loop {
        match socket.next().await {
            Some(Ok(Message::Text(t))) => break t.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("no refusal: {other:?}"),
        }
    };
    assert!(refusal.starts_with("Error: resize needs"), "{refusal}");
    socket
        .send(Message::Text("echo done-$((6*7))\r".into()))
        .await
        .unwrap();
    let seen = read_until(&mut socket, "done-42").await;
    assert!(!seen.contains("abc"), "the frame was typed: {seen:?}");
    drop(socket);
    app.remove(&id).await;
}
