//! A terminal WebSocket as a client drives it: type, read until, read to the close.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads output until it contains `needle` (20 s at most); returns all output read.
pub async fn read_until(socket: &mut Socket, needle: &str) -> String {
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => seen.push_str(&String::from_utf8_lossy(&b)),
            Ok(Some(Ok(_))) => {}
            other => panic!("no {needle:?} in {seen:?}: {other:?}"),
        }
    }
    seen
}

/// Sends keystrokes and reads output until it contains `needle`.
pub async fn type_and_expect(socket: &mut Socket, keys: &str, needle: &str) {
    socket.send(Message::Text(keys.into())).await.unwrap();
    read_until(socket, needle).await;
}

/// How a terminal session ended: the text frames before the close, and the close code and reason.
pub async fn terminal_end(
    socket: &mut Socket,
    secs: u64,
) -> (Vec<String>, Option<(CloseCode, String)>) {
    let mut texts = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => texts.push(t.to_string()),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return (texts, frame.map(|f| (f.code, f.reason.to_string())));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("the socket broke instead of closing: {e}"),
            Ok(None) => panic!("the socket ended without a close frame"),
            Err(_) => panic!("no close within {secs}s"),
        }
    }
}
