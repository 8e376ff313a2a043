//! The canvas's WebSockets: the client's socket joined to one opened to the canvas (`relay`).

use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{Proxied, unavailable};
use crate::http::relay::relay;

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
    let mut response = upgrade.on_upgrade(move |client| relay(client, upstream, None));
    response.extensions_mut().insert(Proxied);
    response
}
