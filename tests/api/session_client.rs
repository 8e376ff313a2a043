//! A client of resumable terminal sessions (SPEC §12) as the SPEC asks one to behave: it reads
//! the `session` frame, counts the output bytes it gets, and resumes from that count.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::helpers::TestApp;
use crate::support::terminal::Socket;

/// An attached socket and what it has received.
pub struct Attached {
    pub socket: Socket,
    /// The first frame: `{"type":"session",…}`.
    pub first: Value,
    /// Output received since `first.offset`.
    pub bytes: Vec<u8>,
    /// A later `session` frame (a viewer moved on with a snapshot).
    pub resets: Vec<Value>,
    pub close: Option<(CloseCode, String)>,
}

impl Attached {
    pub fn id(&self) -> String {
        self.first["session"].as_str().unwrap().to_owned()
    }

    /// The client's position in the session's output.
    pub fn offset(&self) -> u64 {
        self.first["offset"].as_u64().unwrap() + self.bytes.len() as u64
    }

    pub async fn send(&mut self, text: &str) {
        self.socket.send(Message::Text(text.into())).await.unwrap();
    }

    /// Reads one frame (10 s at most); `false` once the socket closed.
    pub async fn read_frame(&mut self) -> bool {
        let frame = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
            .await
            .expect("no frame for 10 s");
        match frame {
            Some(Ok(Message::Binary(b))) => self.bytes.extend_from_slice(&b),
            Some(Ok(Message::Text(t))) => match serde_json::from_str::<Value>(&t) {
                Ok(v) if v["type"] == "session" => self.resets.push(v),
                _ => panic!("unexpected text frame {t:?}"),
            },
            Some(Ok(Message::Close(f))) => {
                self.close = f.map(|f| (f.code, f.reason.to_string()));
                return false;
            }
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return false,
        }
        true
    }

    /// Reads until the output holds `needle` after byte `from`, or the socket closes.
    pub async fn read_until(&mut self, needle: &str, from: usize) -> bool {
        let wanted = needle.as_bytes();
        loop {
            let start = from.min(self.bytes.len());
            if self.bytes[start..]
                .windows(wanted.len())
                .any(|w| w == wanted)
            {
                return true;
            }
            if !self.read_frame().await {
                return false;
            }
        }
    }
}

/// Opens `?{query}` on workspace `id` with the admin token; the first frame is read.
pub async fn attach(app: &TestApp, id: &str, query: &str) -> Attached {
    attach_as(app, id, query, Some(&app.admin)).await.unwrap()
}

/// The same with `token` (none: the query carries a ticket).
pub async fn attach_as(
    app: &TestApp,
    id: &str,
    query: &str,
    token: Option<&str>,
) -> Result<Attached, WsError> {
    let url = format!("ws://{}/workspaces/{id}/terminal?{query}", app.addr);
    attach_url(&url, token).await
}

/// Opens the terminal URL `url` with `token` (none: the URL carries a ticket); the first frame
/// is read.
pub async fn attach_url(url: &str, token: Option<&str>) -> Result<Attached, WsError> {
    let mut req = url.into_client_request().unwrap();
    if let Some(token) = token {
        req.headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    }
    let (mut socket, _) = connect_async(req).await?;
    let first = match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected the session frame, got {other:?}"),
    };
    Ok(Attached {
        socket,
        first,
        bytes: Vec::new(),
        resets: Vec::new(),
        close: None,
    })
}

/// The HTTP status a refused upgrade got.
pub fn refused(result: Result<Attached, WsError>) -> u16 {
    match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(a) => panic!("expected a refusal, got {:?}", a.first),
    }
}
