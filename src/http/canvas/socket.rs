//! The canvas's WebSockets: the client's socket joined to one opened to the canvas, frames copied
//! both ways until either side closes.

use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{Proxied, unavailable};

pub(super) async fn websocket(
    upgrade: WebSocketUpgrade,
    base: &str,
    path: &str,
    headers: &HeaderMap,
) -> Response {
    let Ok(mut request) = format!("{base}{path}").into_client_request() else {
        return unavailable();
    };
    if let Some(protocols) = headers.get(header::SEC_WEBSOCKET_PROTOCOL) {
        request
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, protocols.clone());
    }
    let upstream = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(e) => {
            tracing::warn!(error = %e, "canvas WebSocket failed");
            return unavailable();
        }
    };
    let mut response = upgrade.on_upgrade(move |client| pump(client, upstream));
    response.extensions_mut().insert(Proxied);
    response
}

/// Copies frames both ways until either side closes.
async fn pump(
    client: WebSocket,
    upstream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) {
    let (mut client_tx, mut client_rx) = client.split();
    let (mut up_tx, mut up_rx) = upstream.split();
    let to_canvas = async {
        while let Some(Ok(msg)) = client_rx.next().await {
            let msg = match msg {
                AxMessage::Text(t) => TMessage::Text(t.as_str().into()),
                AxMessage::Binary(b) => TMessage::Binary(b),
                AxMessage::Ping(b) => TMessage::Ping(b),
                AxMessage::Pong(b) => TMessage::Pong(b),
                AxMessage::Close(_) => break,
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
                TMessage::Close(_) => break,
                TMessage::Frame(_) => continue,
            };
            if client_tx.send(msg).await.is_err() {
                break;
            }
        }
        let _ = client_tx.close().await;
    };
    tokio::select! { () = to_canvas => {}, () = to_client => {} }
}
