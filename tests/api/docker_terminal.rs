//! The terminal WebSocket on the real Docker engine (SPEC §5.3), with a real WebSocket client.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::helpers::{TestApp, stop_container};
use crate::support::terminal::{Socket, read_until};

async fn open(app: &TestApp, id: &str, query: &str) -> Result<Socket, WsError> {
    let url = format!("ws://{}/workspaces/{id}/terminal{query}", app.addr);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", app.admin).parse().unwrap(),
    );
    connect_async(req).await.map(|(socket, _)| socket)
}

/// Reads until the close frame; returns its code and reason.
async fn read_close(socket: &mut Socket) -> (CloseCode, String) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                return (frame.code, frame.reason.to_string());
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no close frame: {other:?}"),
        }
    }
}

async fn send(socket: &mut Socket, text: &str) {
    socket.send(Message::Text(text.into())).await.unwrap();
}

#[tokio::test]
async fn the_pty_has_the_requested_size_and_follows_resizes() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "t" })).await;
    let mut socket = open(&app, &id, "?cols=100&rows=30").await.unwrap();
    send(&mut socket, "stty size\r").await;
    read_until(&mut socket, "30 100").await;
    send(&mut socket, r#"{"type":"resize","cols":120,"rows":40}"#).await;
    // Binary frames are keystrokes too.
    socket
        .send(Message::Binary("stty size\r".into()))
        .await
        .unwrap();
    read_until(&mut socket, "40 120").await;
    send(&mut socket, r#"{"type":"ping"}"#).await;
    let pong = loop {
        match socket.next().await.unwrap().unwrap() {
            Message::Text(t) => break t.to_string(),
            _ => continue,
        }
    };
    assert_eq!(pong, r#"{"type":"pong"}"#);
    app.remove(&id).await;
}

#[tokio::test]
async fn the_shell_exiting_closes_the_socket_with_its_exit_code() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "t" })).await;
    let mut socket = open(&app, &id, "").await.unwrap();
    send(&mut socket, "exit 7\r").await;
    assert_eq!(
        read_close(&mut socket).await,
        (CloseCode::Normal, r#"{"exit_code":7}"#.into())
    );

    // One activity row per session, with counts and never the content.
    let (_, rows) = app
        .get_as(
            &format!("/workspaces/{id}/activity?type=terminal"),
            &app.admin,
        )
        .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let body = &rows[0]["request_body"];
    assert_eq!(
        (body["exit_code"].as_i64(), body["bytes_in"].as_u64()),
        (Some(7), Some(7))
    );
    assert!(!rows[0].to_string().contains("exit 7"));
    app.remove(&id).await;
}

#[tokio::test]
async fn closing_the_socket_ends_the_shell_and_what_it_runs() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "t" })).await;
    let mut socket = open(&app, &id, "").await.unwrap();
    send(&mut socket, "sleep 2929 & sleep 2930\r").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.sh(&id, "ps -o args").await.contains("sleep 2930"));
    socket.close(None).await.unwrap();
    drop(socket);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let ps = app.sh(&id, "ps -o args").await;
        if !ps.contains("sleep 2929") && !ps.contains("sleep 2930") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running 2 s after close:\n{ps}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.remove(&id).await;
}

#[tokio::test]
async fn a_ticket_opens_the_terminal_once_without_a_header() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "t" })).await;
    let (_, body) = app
        .call(
            Method::POST,
            &format!("/workspaces/{id}/terminal/ticket"),
            &app.admin,
            None,
        )
        .await;
    let ticket = body["ticket"].as_str().unwrap();
    let url = format!("ws://{}/workspaces/{id}/terminal?ticket={ticket}", app.addr);
    let (mut socket, _) = connect_async(url.as_str()).await.unwrap();
    send(&mut socket, "echo via-$((1+1))-ticket\r").await;
    read_until(&mut socket, "via-2-ticket").await;
    match connect_async(url.as_str()).await {
        Err(WsError::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("a spent ticket opened a socket: {other:?}"),
    }
    app.remove(&id).await;
}

#[tokio::test]
async fn a_stopped_container_is_refused_before_the_upgrade() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "t" })).await;
    stop_container(&id).await;
    match open(&app, &id, "").await {
        Err(WsError::Http(res)) => {
            assert_eq!(res.status(), 404);
            let body: serde_json::Value =
                serde_json::from_slice(res.body().as_deref().unwrap()).unwrap();
            assert_eq!(body, json!({ "error": "container not running" }));
        }
        other => panic!("opened: {other:?}"),
    }
    match open(&app, &id, "?cols=0").await {
        Err(WsError::Http(res)) => assert_eq!(res.status(), 400),
        other => panic!("opened: {other:?}"),
    }
    app.remove(&id).await;
}

/// `terminal_bytes_total{direction}` from `/metrics`.
async fn terminal_bytes(app: &TestApp, direction: &str) -> u64 {
    let text = app.metrics().await;
    let prefix = format!("terminal_bytes_total{{direction=\"{direction}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test]
async fn terminal_bytes_are_counted_while_the_session_runs() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "counted" })).await;
    let mut socket = open(&app, &id, "").await.unwrap();
    send(&mut socket, "echo count-me\r").await;
    read_until(&mut socket, "count-me").await;
    // The socket is still open: the counters have moved already.
    assert!(terminal_bytes(&app, "in").await >= "echo count-me\r".len() as u64);
    assert!(terminal_bytes(&app, "out").await >= "count-me".len() as u64);
    let text = app.metrics().await;
    assert!(text.contains("terminal_sessions_live 1"), "{text}");
    socket.close(None).await.unwrap();
    app.remove(&id).await;
}
