//! A terminal WebSocket as a client drives it: type, read until, read to the close.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a terminal sent during a read, and the close frame if the session ended.
#[derive(Debug, Default)]
pub struct Output {
    /// The output: binary frames, and the text frames the server writes its own messages in.
    /// A counted read keeps only the last bytes, enough to find the needle in.
    pub bytes: Vec<u8>,
    /// How many bytes of output arrived.
    pub len: u64,
    pub close: Option<(CloseCode, String)>,
    /// Counts the output instead of keeping it (a flood of hundreds of MiB).
    pub counted: bool,
}

impl Output {
    pub fn counted() -> Output {
        Output {
            counted: true,
            ..Output::default()
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Reads frames into `out` until the output contains `needle` (never, when it is empty) or the
/// session ends; returns whether the needle came. Only new bytes are searched, so a flood of
/// output costs no more than reading it.
pub async fn read_into(socket: &mut Socket, needle: &str, out: &mut Output) -> bool {
    let wanted = needle.as_bytes();
    let overlap = wanted.len().saturating_sub(1);
    while let Some(frame) = socket.next().await {
        let frame = frame.unwrap_or_else(|e| {
            panic!(
                "the socket broke before {needle:?} after {:?}: {e}",
                out.text()
            )
        });
        let piece: &[u8] = match &frame {
            Message::Binary(b) => b,
            Message::Text(t) => t.as_bytes(),
            Message::Close(f) => {
                out.close = f.as_ref().map(|f| (f.code, f.reason.to_string()));
                return false;
            }
            _ => continue,
        };
        out.len += piece.len() as u64;
        let from = out.bytes.len().saturating_sub(overlap);
        out.bytes.extend_from_slice(piece);
        let found =
            !wanted.is_empty() && out.bytes[from..].windows(wanted.len()).any(|w| w == wanted);
        if out.counted {
            let keep = out.bytes.len().saturating_sub(overlap);
            out.bytes.drain(..keep);
        }
        if found {
            return true;
        }
    }
    false
}

/// Reads output until it contains `needle` (20 s at most); returns all output read.
pub async fn read_until(socket: &mut Socket, needle: &str) -> String {
    let mut out = Output::default();
    let read =
        tokio::time::timeout(Duration::from_secs(20), read_into(socket, needle, &mut out)).await;
    let seen = out.text();
    assert!(
        read == Ok(true),
        "no {needle:?} in {seen:?}: {read:?}, close {:?}",
        out.close
    );
    seen
}

/// Reads output to the session's end (20 s at most): all of it, and the close frame.
pub async fn read_to_close(socket: &mut Socket) -> (String, Option<(CloseCode, String)>) {
    let mut out = Output::default();
    let read = tokio::time::timeout(Duration::from_secs(20), read_into(socket, "", &mut out)).await;
    assert!(read.is_ok(), "no end within 20 s after {:?}", out.text());
    (out.text(), out.close)
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
