//! Slow clients cannot hold connections forever (SPEC §11): a deadline for request headers (408),
//! an idle limit for keep-alive connections, and a bound on open connections (refused, not
//! queued); a response still streaming and an upgraded WebSocket are not idle.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Options, TestApp};
use crate::support::terminal::read_until;

async fn app(header: &str, idle: &str, max: &str) -> TestApp {
    Options::default()
        .arg("--header-read-timeout", header)
        .arg("--keep-alive-timeout", idle)
        .arg("--max-connections", max)
        .spawn()
        .await
}

/// Everything the server sends until it closes the connection (10 s at most).
async fn until_closed(tcp: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut all)).await;
    String::from_utf8_lossy(&all).into_owned()
}

/// Sends a whole `GET /health` and reads its answer, leaving the connection open.
async fn health(tcp: &mut TcpStream) -> String {
    tcp.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("\"ok\"}") {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn headers_that_do_not_arrive_in_time_get_408_and_the_connection_closes() {
    let app = app("1s", "30s", "100").await;
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    // Quiet first, so the connection is already being watched as idle when the headers begin.
    tokio::time::sleep(Duration::from_millis(300)).await;
    tcp.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = until_closed(&mut tcp).await;
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_closes_but_a_slow_response_or_a_websocket_does_not() {
    let app = app("30s", "1s", "100").await;
    // Nothing sent at all, and idle after an answer: both closed, without a 408.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let mut kept = TcpStream::connect(app.addr).await.unwrap();
    assert!(health(&mut kept).await.starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    assert_eq!(until_closed(&mut silent).await, "");
    assert_eq!(until_closed(&mut kept).await, "");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // A response that takes longer than the idle limit is not idle.
    let id = app.create_local(json!({ "name": "slow" })).await;
    let (status, out) = app
        .exec(&id, json!({ "argv": ["sh", "-c", "sleep 2; echo late"] }))
        .await;
    assert_eq!(
        (status.as_u16(), out["stdout"].as_str()),
        (200, Some("late\n")),
        "{out}"
    );

    // Nor is a terminal: it keeps its own ping and idle rules.
    let url = format!("ws://{}/workspaces/{id}/terminal", app.addr);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", app.admin).parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    socket
        .send(Message::Text("echo still-$((40+2))\r".into()))
        .await
        .unwrap();
    read_until(&mut socket, "still-42").await;
    let _ = socket.close(None).await;
    while socket.next().await.is_some() {}
    app.remove(&id).await;
}

#[tokio::test]
async fn past_max_connections_new_ones_are_refused_not_queued() {
    let app = app("30s", "30s", "3").await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut tcp = TcpStream::connect(app.addr).await.unwrap();
        assert!(health(&mut tcp).await.starts_with("HTTP/1.1 200"));
        held.push(tcp);
    }
    let mut over = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    let answer = until_closed(&mut over).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once, not queued"
    );
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = TcpStream::connect(app.addr).await.unwrap();
        again
            .write_all(b"GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = until_closed(&mut again).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a freed place was not reused: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
