//! Joins a client's WebSocket to one this server opened elsewhere (the canvas, or the replica
//! holding a terminal session), copying frames both ways until either side closes; a close
//! frame passes through with its code and reason, so the client reads how the far side ended.

use axum::extract::ws::{CloseFrame as AxClose, Message as AxMessage, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as TClose;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::services::revocations::Watch;
use crate::terminal::protocol::{CLOSE_REVOKED, REVOKED_REASON};

/// A socket this server opened to another server.
pub type Upstream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Copies frames between `client` and `upstream` until either side closes, or until the token
/// of `watch` is revoked: then the client gets a close 1008 and the upstream a plain close.
pub async fn relay(client: WebSocket, upstream: Upstream, watch: Option<Watch>) {
    let (mut client_tx, mut client_rx) = client.split();
    let (mut up_tx, mut up_rx) = upstream.split();
    let to_upstream = async {
        while let Some(Ok(msg)) = client_rx.next().await {
            let msg = match msg {
                AxMessage::Text(t) => TMessage::Text(t.as_str().into()),
                AxMessage::Binary(b) => TMessage::Binary(b),
                AxMessage::Ping(b) => TMessage::Ping(b),
                AxMessage::Pong(b) => TMessage::Pong(b),
                AxMessage::Close(frame) => {
                    let frame = frame.map(|f| TClose {
                        code: CloseCode::from(f.code),
                        reason: f.reason.as_str().into(),
                    });
                    let _ = up_tx.send(TMessage::Close(frame)).await;
                    break;
                }
            };
            if up_tx.send(msg).await.is_err() {
                break;
            }
        }
        let _ = up_tx.close().await;
    };
    let to_client = async {
        while let Some(Ok(msg)) = up_rx.next().await {
            let msg = match msg {
                TMessage::Text(t) => AxMessage::Text(t.as_str().into()),
                TMessage::Binary(b) => AxMessage::Binary(b),
                TMessage::Ping(b) => AxMessage::Ping(b),
                TMessage::Pong(b) => AxMessage::Pong(b),
                TMessage::Close(frame) => {
                    let frame = frame.map(|f| AxClose {
                        code: u16::from(f.code),
                        reason: f.reason.as_str().into(),
                    });
                    let _ = client_tx.send(AxMessage::Close(frame)).await;
                    break;
                }
                TMessage::Frame(_) => continue,
            };
            if client_tx.send(msg).await.is_err() {
                break;
            }
        }
        let _ = client_tx.close().await;
    };
    let revoked = Watch::signal(watch.as_ref());
    tokio::select! {
        () = to_upstream => return,
        () = to_client => return,
        () = revoked.cancelled() => {}
    }
    let closing = AxClose {
        code: CLOSE_REVOKED,
        reason: REVOKED_REASON.into(),
    };
    let _ = client_tx.send(AxMessage::Close(Some(closing))).await;
    let _ = up_tx.send(TMessage::Close(None)).await;
}
