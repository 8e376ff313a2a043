//! An axum WebSocket as the terminal protocol's frames, for the bridge and for attachments.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};

use crate::services::revocations::Watch;
use crate::terminal::{ClientFrame, ServerFrame};

/// The socket's two halves: a sink of server frames and a stream of client frames. With a
/// `watch`, the stream ends in `Revoked` once the socket's token is revoked.
pub fn frames(
    socket: WebSocket,
    watch: Option<Watch>,
) -> (
    impl Sink<ServerFrame> + Unpin,
    impl Stream<Item = ClientFrame> + Unpin,
) {
    let (sink, stream) = socket.split();
    let sink =
        sink.with(|frame: ServerFrame| async move { Ok::<_, axum::Error>(to_message(frame)) });
    let stream = stream.map(|message| match message {
        Ok(Message::Binary(bytes)) => ClientFrame::Input(bytes),
        Ok(Message::Text(text)) => ClientFrame::from_text(text.as_str()),
        Ok(Message::Close(_)) | Err(_) => ClientFrame::Close,
        Ok(_) => ClientFrame::Other,
    });
    let revoked = watch.as_ref().map(|w| w.revoked().clone());
    let revoked = revoked.unwrap_or_default();
    let stream =
        stream
            .take_until(revoked.clone().cancelled_owned())
            .chain(futures_util::stream::once(async move {
                // Held until the socket's last frame: the token's sockets are counted until then.
                drop(watch);
                match revoked.is_cancelled() {
                    true => ClientFrame::Revoked,
                    false => ClientFrame::Close,
                }
            }));
    (Box::pin(sink), Box::pin(stream))
}

/// Sends `Error: <message>\r\n` and closes with 1011.
pub async fn report_error(mut socket: WebSocket, message: String) {
    for frame in ServerFrame::error(&message) {
        if socket.send(to_message(frame)).await.is_err() {
            break;
        }
    }
}

fn to_message(frame: ServerFrame) -> Message {
    match frame {
        ServerFrame::Output(bytes) => Message::Binary(bytes),
        ServerFrame::Text(text) => Message::Text(text.into()),
        ServerFrame::Ping => Message::Ping(Bytes::new()),
        ServerFrame::Close { code, reason } => Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })),
    }
}
