//! One socket attached to a resumable session: the `session` frame, the replay from the client's
//! offset (or a snapshot when that is no longer kept), then live output; input and resizes from a
//! writer, none from a viewer. Generic over `Sink`/`Stream` of the protocol's frames, like the
//! bridge, so it is tested with channels.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::Instant;

use super::protocol::{CLOSE_GOING_AWAY, ClientFrame, Control, ServerFrame, SessionFrame};
use super::ring::Standing;
use super::session::{Mode, Session};
use super::{BridgeConfig, Stopped, Stops};
use crate::sync::Locked;

/// Largest output frame an attachment sends, in bytes.
const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Where an attachment starts reading.
#[derive(Clone, Copy, Debug)]
pub enum Start {
    /// A new session: from its first byte.
    New,
    /// A resume from the client's offset.
    At(u64),
}

/// How an attachment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Left {
    /// The shell ended and the socket got all its output and the exit code.
    Exited,
    /// The client went away (the session lives on).
    ClientClosed,
    Idle,
    Shutdown,
    /// The token that opened the socket was revoked (the session lives on).
    Revoked,
}

/// Attaches `tx`/`rx` to `session` until the client leaves, the shell ends or one of `stops`
/// fires.
pub async fn attach<Tx, Rx>(
    session: Arc<Session>,
    mode: Mode,
    start: Start,
    mut tx: Tx,
    mut rx: Rx,
    stops: Stops,
    config: BridgeConfig,
) -> Left
where
    Tx: Sink<ServerFrame> + Unpin,
    Rx: Stream<Item = ClientFrame> + Unpin,
{
    let mut end = session.end.subscribe();
    let (attachment, mut pos, first) = {
        let mut s = session.state.locked();
        let live = s.ring.end();
        let (pos, snapshot) = match start {
            Start::New => (s.ring.start(), None),
            Start::At(n) if s.ring.position(n) == Standing::Kept => (n, None),
            Start::At(_) => (live, Some(s.screen.snapshot())),
        };
        let frame = session_frame(&session.id, pos, live, snapshot);
        (session.join(&mut s, mode, pos), pos, frame)
    };
    let mut left = Left::ClientClosed;
    let mut last_activity = Instant::now();
    let mut ping = tokio::time::interval_at(Instant::now() + config.ping_every, config.ping_every);
    let mut idle = tokio::time::interval(config.idle_after.min(Duration::from_secs(1)));
    let mut closing = None;
    if tx.send(first).await.is_err() {
        session.leave(attachment);
        return left;
    }
    loop {
        // Checked before every frame, so a client kept busy catching up with output is stopped
        // as soon as one that is idle.
        if let Some(stopped) = stops.fired() {
            left = match stopped {
                Stopped::Shutdown => Left::Shutdown,
                Stopped::Revoked => Left::Revoked,
            };
            closing = Some(stopped.close_frame());
            break;
        }
        // What can be sent now: output past `pos`, a snapshot for a viewer left behind, or the end.
        let next = {
            let mut s = session.state.locked();
            end.borrow_and_update();
            match s.ring.position(pos) {
                _ if pos < s.ring.end() && s.ring.position(pos) == Standing::Kept => {
                    let bytes = s.ring.read(pos, MAX_FRAME_BYTES);
                    Some(ServerFrame::Output(bytes))
                }
                Standing::Dropped => {
                    pos = s.ring.end();
                    Some(session_frame(
                        &session.id,
                        pos,
                        pos,
                        Some(s.screen.snapshot()),
                    ))
                }
                _ => match s.exit {
                    Some(code) => {
                        closing = Some(ServerFrame::exited(code));
                        left = Left::Exited;
                        None
                    }
                    None => {
                        if let Some(p) = s.writers.get_mut(&attachment) {
                            *p = pos;
                        }
                        None
                    }
                },
            }
        };
        if left == Left::Exited {
            break;
        }
        if let Some(frame) = next {
            if let ServerFrame::Output(bytes) = &frame {
                pos += bytes.len() as u64;
                last_activity = Instant::now();
            }
            if tx.send(frame).await.is_err() {
                break;
            }
            if mode == Mode::Write {
                session.state.locked().writers.insert(attachment, pos);
                session.progress.notify_one();
            }
            continue;
        }
        tokio::select! {
            _ = end.changed() => {}
            frame = rx.next() => match frame.unwrap_or(ClientFrame::Close) {
                ClientFrame::Close => break,
                ClientFrame::Input(bytes) => {
                    last_activity = Instant::now();
                    if mode == Mode::View {
                        session.state.locked().tally.dropped += 1;
                        continue;
                    }
                    session.state.locked().tally.bytes_in += bytes.len() as u64;
                    let _ = session.input.send(bytes).await;
                }
                ClientFrame::Control(Control::Resize(size)) => {
                    last_activity = Instant::now();
                    if mode == Mode::View {
                        session.state.locked().tally.dropped += 1;
                        continue;
                    }
                    {
                        let mut s = session.state.locked();
                        s.size = size;
                        s.screen.resize(size);
                    }
                    if let Err(e) = session.control.resize(size).await {
                        tracing::debug!(error = %e, "resize failed");
                    }
                }
                ClientFrame::Control(Control::Ping) => {
                    last_activity = Instant::now();
                    if tx.send(ServerFrame::pong()).await.is_err() {
                        break;
                    }
                }
                ClientFrame::BadControl(why) => {
                    if tx.send(ServerFrame::Text(format!("Error: {why}\r\n"))).await.is_err() {
                        break;
                    }
                }
                ClientFrame::Other => {}
            },
            _ = ping.tick() => {
                if tx.send(ServerFrame::Ping).await.is_err() {
                    break;
                }
            }
            _ = idle.tick() => {
                if last_activity.elapsed() >= config.idle_after {
                    left = Left::Idle;
                    closing = Some(ServerFrame::Close { code: CLOSE_GOING_AWAY, reason: "idle timeout".into() });
                    break;
                }
            }
            // Acted on at the top of the loop.
            _ = stops.any() => {}
        }
    }
    session.leave(attachment);
    if let Some(frame) = closing {
        let _ = tx.send(frame).await;
    }
    let _ = tx.close().await;
    left
}

#[cfg(test)]
mod tests;

fn session_frame(id: &str, offset: u64, live: u64, snapshot: Option<String>) -> ServerFrame {
    let frame = SessionFrame {
        kind: "session".into(),
        session: id.to_owned(),
        offset,
        live,
        snapshot,
    };
    ServerFrame::Text(serde_json::to_string(&frame).unwrap_or_default())
}
