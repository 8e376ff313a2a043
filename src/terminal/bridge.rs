//! The bridge: PTY output to the client, client input and control messages to the PTY, pings,
//! idle close, and cancellation both ways. Generic over `Sink`/`Stream` of its own frames, so it
//! is tested with channels; the WebSocket adapter lives in `http/terminal.rs`.

use std::time::Duration;

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use futures_util::stream::Peekable;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Stops;
use super::protocol::{CLOSE_GOING_AWAY, ClientFrame, Control, ServerFrame};
use crate::backend::{ByteStream, TerminalSession};

/// Timings of a session.
#[derive(Clone, Copy, Debug)]
pub struct BridgeConfig {
    /// How often the server pings the client.
    pub ping_every: Duration,
    /// How long a session may pass with no input and no output.
    pub idle_after: Duration,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            ping_every: Duration::from_secs(30),
            idle_after: Duration::from_secs(30 * 60),
        }
    }
}

/// What a session did, for its audit row (never its content).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub exit_code: Option<i64>,
    /// How it ended: `exited`, `client_closed`, `idle`, `shutdown` or `error`.
    pub end: &'static str,
    pub error: Option<String>,
}

/// Largest output frame the bridge builds by joining chunks that are already waiting, in bytes.
const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Joins `first` with output chunks that are ready now (never waiting), up to `MAX_FRAME_BYTES`.
/// An end or an error is left in the stream for the main loop.
fn coalesce(first: Bytes, output: &mut Peekable<ByteStream>) -> Bytes {
    let mut joined: Option<BytesMut> = None;
    let mut len = first.len();
    while len < MAX_FRAME_BYTES {
        match Pin::new(&mut *output).peek().now_or_never() {
            Some(Some(Ok(_))) => {}
            _ => break,
        }
        let Some(Some(Ok(next))) = output.next().now_or_never() else {
            break;
        };
        let buf = joined.get_or_insert_with(|| {
            let mut b = BytesMut::with_capacity(MAX_FRAME_BYTES);
            b.extend_from_slice(&first);
            b
        });
        buf.extend_from_slice(&next);
        len = buf.len();
    }
    joined.map_or(first, BytesMut::freeze)
}

/// Keystrokes queued for the shell before the bridge stops reading the client.
const INPUT_QUEUE: usize = 64;

/// Runs a session until the shell exits, the client leaves, it idles out or one of `stops`
/// fires.
/// Whatever the reason, the shell and everything it started are killed before this returns.
pub async fn bridge<Tx, Rx>(
    session: TerminalSession,
    mut tx: Tx,
    mut rx: Rx,
    stops: Stops,
    config: BridgeConfig,
) -> SessionStats
where
    Tx: Sink<ServerFrame> + Unpin,
    Rx: Stream<Item = ClientFrame> + Unpin,
{
    let TerminalSession {
        output,
        mut input,
        control,
    } = session;
    let mut output = output.peekable();
    // Input is written by its own task, so a shell that stops reading never stalls its output.
    let (keys, mut queued) = mpsc::channel::<Bytes>(INPUT_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(bytes) = queued.recv().await {
            if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                break;
            }
        }
        let _ = input.shutdown().await;
    });
    let mut stats = SessionStats::default();
    let mut last_activity = Instant::now();
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + config.ping_every,
        config.ping_every,
    );
    let idle_check = config.idle_after.min(Duration::from_secs(1));
    let mut idle = tokio::time::interval(idle_check);
    let mut closing: Vec<ServerFrame> = Vec::new();
    loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(Ok(bytes)) => {
                    last_activity = Instant::now();
                    // Output already waiting joins this frame: fewer, larger frames and flushes.
                    let bytes = coalesce(bytes, &mut output);
                    stats.bytes_out += bytes.len() as u64;
                    if tx.send(ServerFrame::Output(bytes)).await.is_err() {
                        stats.end = "client_closed";
                        break;
                    }
                }
                None => {
                    stats.exit_code = control.exit_code().await.ok().flatten();
                    stats.end = "exited";
                    closing.push(ServerFrame::exited(stats.exit_code));
                    break;
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "terminal output failed");
                    stats.end = "error";
                    stats.error = Some("terminal output failed".into());
                    closing.extend(ServerFrame::error("the terminal connection to the workspace failed"));
                    break;
                }
            },
            frame = rx.next() => match frame.unwrap_or(ClientFrame::Close) {
                ClientFrame::Input(bytes) => {
                    last_activity = Instant::now();
                    stats.bytes_in += bytes.len() as u64;
                    if keys.send(bytes).await.is_err() {
                        // The shell's input is closed: its output will end shortly.
                        continue;
                    }
                }
                ClientFrame::Control(Control::Resize(size)) => {
                    last_activity = Instant::now();
                    if let Err(e) = control.resize(size).await {
                        tracing::debug!(error = %e, "resize failed");
                    }
                }
                ClientFrame::Control(Control::Ping) => {
                    last_activity = Instant::now();
                    if tx.send(ServerFrame::pong()).await.is_err() {
                        stats.end = "client_closed";
                        break;
                    }
                }
                ClientFrame::BadControl(why) => {
                    let refusal = ServerFrame::Text(format!("Error: {why}\r\n"));
                    if tx.send(refusal).await.is_err() {
                        stats.end = "client_closed";
                        break;
                    }
                }
                ClientFrame::Other => {}
                ClientFrame::Close => {
                    stats.end = "client_closed";
                    break;
                }
            },
            _ = ping.tick() => {
                if tx.send(ServerFrame::Ping).await.is_err() {
                    stats.end = "client_closed";
                    break;
                }
            }
            _ = idle.tick() => {
                if last_activity.elapsed() >= config.idle_after {
                    stats.end = "idle";
                    closing.push(ServerFrame::Close { code: CLOSE_GOING_AWAY, reason: "idle timeout".into() });
                    break;
                }
            }
            stopped = stops.any() => {
                stats.end = stopped.end();
                closing.push(stopped.close_frame());
                break;
            }
        }
    }
    drop(keys);
    if stats.end != "exited" {
        control.kill().await;
    }
    writer.abort();
    for frame in closing {
        if tx.send(frame).await.is_err() {
            break;
        }
    }
    let _ = tx.close().await;
    stats
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_channel::mpsc as fmpsc;
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::backend::{BackendError, TermSize};
    use crate::terminal::fake::FakeControl as Fake;

    struct Rig {
        shell_out: fmpsc::UnboundedSender<Result<Bytes, BackendError>>,
        shell_in: tokio::io::DuplexStream,
        client: fmpsc::UnboundedSender<ClientFrame>,
        server: fmpsc::UnboundedReceiver<ServerFrame>,
        fake: Arc<Fake>,
        done: tokio::task::JoinHandle<SessionStats>,
    }

    fn rig(config: BridgeConfig) -> Rig {
        let (shell_out, output) = fmpsc::unbounded();
        let (input, shell_in) = tokio::io::duplex(1024);
        let fake = Arc::new(Fake::default());
        let session = TerminalSession {
            output: Box::pin(output),
            input: Box::pin(input),
            control: fake.clone(),
        };
        let (client, rx) = fmpsc::unbounded();
        let (tx, server) = fmpsc::unbounded();
        let done = tokio::spawn(bridge(session, tx, rx, Stops::default(), config));
        Rig {
            shell_out,
            shell_in,
            client,
            server,
            fake,
            done,
        }
    }

    #[tokio::test]
    async fn output_input_control_and_exit_flow_through_the_bridge() {
        let mut r = rig(BridgeConfig::default());
        r.shell_out
            .unbounded_send(Ok(Bytes::from_static(b"prompt$ ")))
            .unwrap();
        assert_eq!(
            r.server.next().await,
            Some(ServerFrame::Output(Bytes::from_static(b"prompt$ ")))
        );
        r.client
            .unbounded_send(ClientFrame::from_text("ls\r"))
            .unwrap();
        let mut typed = [0u8; 3];
        r.shell_in.read_exact(&mut typed).await.unwrap();
        assert_eq!(&typed, b"ls\r");
        r.client
            .unbounded_send(ClientFrame::from_text(r#"{"type":"ping"}"#))
            .unwrap();
        assert_eq!(r.server.next().await, Some(ServerFrame::pong()));
        r.client
            .unbounded_send(ClientFrame::from_text(
                r#"{"type":"resize","cols":10,"rows":5}"#,
            ))
            .unwrap();
        // Frames are handled in order: the pong after it means the resize was done.
        r.client
            .unbounded_send(ClientFrame::from_text(r#"{"type":"ping"}"#))
            .unwrap();
        assert_eq!(r.server.next().await, Some(ServerFrame::pong()));
        r.shell_out.close_channel();
        assert_eq!(r.server.next().await, Some(ServerFrame::exited(Some(3))));
        let stats = r.done.await.unwrap();
        assert_eq!(
            (stats.bytes_in, stats.bytes_out, stats.end),
            (3, 8, "exited")
        );
        assert_eq!(
            *r.fake.resizes.lock().unwrap(),
            [TermSize { cols: 10, rows: 5 }]
        );
        assert!(
            !*r.fake.killed.lock().unwrap(),
            "an exited shell needs no kill"
        );
    }

    #[tokio::test]
    async fn the_client_leaving_kills_the_shell() {
        let r = rig(BridgeConfig::default());
        r.client.unbounded_send(ClientFrame::Close).unwrap();
        let stats = r.done.await.unwrap();
        assert_eq!(stats.end, "client_closed");
        assert!(*r.fake.killed.lock().unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn pings_are_sent_and_an_idle_session_is_closed() {
        let config = BridgeConfig {
            ping_every: Duration::from_secs(30),
            idle_after: Duration::from_secs(90),
        };
        let mut r = rig(config);
        assert_eq!(r.server.next().await, Some(ServerFrame::Ping));
        let mut frames = Vec::new();
        while let Some(frame) = r.server.next().await {
            frames.push(frame);
        }
        assert_eq!(
            frames.last(),
            Some(&ServerFrame::Close {
                code: CLOSE_GOING_AWAY,
                reason: "idle timeout".into()
            })
        );
        assert_eq!(r.done.await.unwrap().end, "idle");
        assert!(*r.fake.killed.lock().unwrap());
    }
}
