//! An axum WebSocket as the terminal protocol's frames, for the bridge and for attachments.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};

use crate::terminal::{ClientFrame, ServerFrame};

/// The socket's two halves: a sink of server frames and a stream of client frames.
pub fn frames(
    socket: WebSocket,
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
