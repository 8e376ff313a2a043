//! A resumable terminal session (SPEC §12): a shell that outlives its sockets. It owns the PTY's
//! output through a pump task that feeds the replay ring and the screen model, and its input
//! through a writer task; sockets come and go as attachments (`attach.rs`), each reading the ring
//! at its own offset.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::ring::Ring;
use super::screen::Screen;
use crate::backend::{ByteStream, TermSize, TerminalControl, TerminalSession};
use crate::sync::Locked;

/// Keystrokes queued for the shell before writers wait.
const INPUT_QUEUE: usize = 64;
/// Most output a writer may be behind before the shell is paused, in bytes; at most half the
/// replay buffer, so a writer never loses bytes to a slow connection.
const WRITER_WINDOW: u64 = 256 * 1024;

/// Whether an attachment may type and resize.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Write,
    View,
}

/// What a session did, for its audit row (never its content).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub attaches: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Input and resize frames of viewers, dropped.
    pub dropped: u64,
}

/// The state the pump and the attachments share.
pub(super) struct State {
    pub ring: Ring,
    pub screen: Screen,
    pub size: TermSize,
    /// `Some` once the output has ended: the exit code, if the shell exited with one.
    pub exit: Option<Option<i64>>,
    /// The position of each attached writer, by attachment.
    pub writers: HashMap<u64, u64>,
    pub attached: usize,
    next_attachment: u64,
    /// How far a writer may lag before the pump waits for it.
    window: u64,
    pub tally: Tally,
}

/// A live session.
pub struct Session {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub(super) state: Mutex<State>,
    /// The end of the output, sent on each change; attachments wait on it.
    pub(super) end: watch::Sender<u64>,
    /// Woken when a writer moves on or leaves: the pump may read again.
    pub(super) progress: Notify,
    /// The number of attached sockets, sent on each change; the lifetime waits on it.
    attached: watch::Sender<usize>,
    pub(super) input: mpsc::Sender<Bytes>,
    pub(super) control: Arc<dyn TerminalControl>,
    /// Cancelled when the session ends: the pump stops, attachments close.
    pub(super) ended: CancellationToken,
}

/// How a session's life ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The grace after its last socket left ran out.
    Grace,
    /// It was deleted.
    Killed,
    /// The server is shutting down.
    Shutdown,
}

/// A new session's id: 32 hex digits from a random UUID.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Session {
    /// Takes over `shell` (opened at `size`) and starts its pump and input writer. The pump
    /// waits for `start` so that the first socket sees the first byte at offset 0.
    pub fn start(
        id: String,
        shell: TerminalSession,
        size: TermSize,
        replay_bytes: usize,
    ) -> (Arc<Self>, Starter) {
        let TerminalSession {
            output,
            mut input,
            control,
        } = shell;
        let (keys, mut queued) = mpsc::channel::<Bytes>(INPUT_QUEUE);
        let session = Arc::new(Self {
            id,
            created_at: Utc::now(),
            state: Mutex::new(State {
                ring: Ring::new(replay_bytes),
                screen: Screen::new(size),
                size,
                exit: None,
                writers: HashMap::new(),
                attached: 0,
                next_attachment: 0,
                window: WRITER_WINDOW.min(replay_bytes as u64 / 2).max(1),
                tally: Tally::default(),
            }),
            end: watch::Sender::new(0),
            progress: Notify::new(),
            attached: watch::Sender::new(0),
            input: keys,
            control,
            ended: CancellationToken::new(),
        });
        // Input has a task of its own, so a shell that stops reading never stalls its output.
        let ended = session.ended.clone();
        tokio::spawn(async move {
            loop {
                let bytes = tokio::select! {
                    bytes = queued.recv() => bytes,
                    () = ended.cancelled() => None,
                };
                let Some(bytes) = bytes else { break };
                if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                    break;
                }
            }
            let _ = input.shutdown().await;
        });
        let starter = Starter {
            session: session.clone(),
            output: Some(output),
        };
        (session, starter)
    }

    /// Bytes held in the replay buffer.
    pub fn held(&self) -> usize {
        self.state.locked().ring.held()
    }

    pub fn attached(&self) -> usize {
        *self.attached.borrow()
    }

    /// The live offset, the size and whether the shell has exited, for listings.
    pub fn summary(&self) -> (u64, TermSize, bool) {
        let s = self.state.locked();
        (s.ring.end(), s.size, s.exit.is_some())
    }

    pub fn tally(&self) -> Tally {
        self.state.locked().tally.clone()
    }

    /// The exit code, once the shell has ended (`Some(None)`: ended without one).
    pub fn exit(&self) -> Option<Option<i64>> {
        self.state.locked().exit
    }

    /// Registers an attachment; answers its id.
    pub(super) fn join(&self, state: &mut State, mode: Mode, position: u64) -> u64 {
        let id = state.next_attachment;
        state.next_attachment += 1;
        state.attached += 1;
        state.tally.attaches += 1;
        if mode == Mode::Write {
            state.writers.insert(id, position);
        }
        self.attached.send_replace(state.attached);
        id
    }

    pub(super) fn leave(&self, attachment: u64) {
        let mut s = self.state.locked();
        s.writers.remove(&attachment);
        s.attached = s.attached.saturating_sub(1);
        self.attached.send_replace(s.attached);
        drop(s);
        self.progress.notify_one();
    }

    /// Runs until the session should end: `grace` after its last socket left, when it is killed,
    /// or at `shutdown`.
    pub async fn lifetime(&self, grace: Duration, shutdown: &CancellationToken) -> End {
        let mut attached = self.attached.subscribe();
        loop {
            while *attached.borrow_and_update() > 0 {
                tokio::select! {
                    _ = attached.changed() => {}
                    () = self.ended.cancelled() => return End::Killed,
                    () = shutdown.cancelled() => return End::Shutdown,
                }
            }
            tokio::select! {
                _ = attached.changed() => {}
                () = tokio::time::sleep(grace) => return End::Grace,
                () = self.ended.cancelled() => return End::Killed,
                () = shutdown.cancelled() => return End::Shutdown,
            }
        }
    }

    /// Ends the session: the shell and everything it started are killed, sockets close.
    pub async fn kill(&self) {
        self.ended.cancel();
        self.control.kill().await;
    }

    /// Whether every attached writer is within its window of the end.
    fn room(&self) -> bool {
        let s = self.state.locked();
        let end = s.ring.end();
        s.writers
            .values()
            .all(|p| end.saturating_sub(*p) < s.window)
    }
}

/// Starts a session's pump; dropping it unused starts it too (nothing is lost either way).
pub struct Starter {
    session: Arc<Session>,
    output: Option<ByteStream>,
}

impl Starter {
    pub fn start(self) {
        drop(self);
    }
}

impl Drop for Starter {
    fn drop(&mut self) {
        if let Some(output) = self.output.take() {
            tokio::spawn(pump(self.session.clone(), output));
        }
    }
}

/// Reads the shell's output into the ring and the screen until it ends. While a writer lags
/// more than the window, it stops reading, so the shell is paused by the PTY (§5.3's
/// backpressure); with no writer it reads on, and old output drops off the ring.
async fn pump(session: Arc<Session>, mut output: ByteStream) {
    loop {
        loop {
            let progressed = session.progress.notified();
            tokio::pin!(progressed);
            progressed.as_mut().enable();
            if session.room() {
                break;
            }
            tokio::select! {
                () = progressed => {}
                () = session.ended.cancelled() => return,
            }
        }
        let next = tokio::select! {
            next = output.next() => next,
            () = session.ended.cancelled() => None,
        };
        let Some(Ok(bytes)) = next else {
            if let Some(Err(e)) = next {
                tracing::warn!(session = %session.id, error = %e, "terminal output failed");
            }
            let code = session.control.exit_code().await.ok().flatten();
            let end = {
                let mut s = session.state.locked();
                s.exit = Some(code);
                s.ring.end()
            };
            // Sent even when unchanged: attachments look at the exit too.
            session.end.send_replace(end);
            return;
        };
        let end = {
            let mut s = session.state.locked();
            s.ring.push(&bytes);
            s.screen.process(&bytes);
            s.tally.bytes_out += bytes.len() as u64;
            s.ring.end()
        };
        session.end.send_replace(end);
    }
}
