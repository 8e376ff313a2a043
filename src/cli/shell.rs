//! `workspace-server shell`: this terminal attached to a resumable session (SPEC §12, §13). Raw
//! mode through `crossterm` (restored by a guard whatever happens), resizes on `SIGWINCH`, and a
//! reconnect that resumes at the byte it stopped at, with what was typed meanwhile sent after.
//! `~.` at the start of a line disconnects, `~&` detaches, `~~` types a `~`.

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::Client;
use crate::terminal::protocol::{Exited, SessionFrame};

/// What a reconnection refused for its token says; no retry can change it.
const REFUSED_TOKEN: &str = "the server refused the token (401)";
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long reconnection is tried before giving up (the server keeps a session 300 s).
const GIVE_UP_AFTER: Duration = Duration::from_secs(300);
/// Escape sequences typed this long after a replay are the local terminal's answers to replayed
/// queries, and are dropped.
const REPLY_QUIET: Duration = Duration::from_millis(150);

/// Raw mode for as long as it lives.
struct Raw;

impl Raw {
    fn enter() -> anyhow::Result<Raw> {
        crossterm::terminal::enable_raw_mode().context("this is not a terminal")?;
        Ok(Raw)
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// What the keyboard asked for.
#[derive(Debug, PartialEq, Eq)]
enum Key {
    /// Bytes for the shell.
    Send(Vec<u8>),
    /// `~.`: end this client (the session's grace begins).
    Disconnect,
    /// `~&`: leave, printing how to come back.
    Detach,
}

/// The escape state: `~` is only special at the start of a line.
struct Escapes {
    at_line_start: bool,
    tilde: bool,
}

impl Escapes {
    fn new() -> Self {
        Self {
            at_line_start: true,
            tilde: false,
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Vec<Key> {
        let mut keys = Vec::new();
        let mut out = Vec::new();
        for &b in bytes {
            if self.tilde {
                self.tilde = false;
                match b {
                    b'.' => keys.push(Key::Disconnect),
                    b'&' => keys.push(Key::Detach),
                    b'~' => out.push(b'~'),
                    other => out.extend_from_slice(&[b'~', other]),
                }
                if matches!(b, b'.' | b'&') {
                    break;
                }
                self.at_line_start = false;
                continue;
            }
            if self.at_line_start && b == b'~' {
                self.tilde = true;
                continue;
            }
            self.at_line_start = matches!(b, b'\r' | b'\n');
            out.push(b);
        }
        if !out.is_empty() {
            keys.insert(0, Key::Send(out));
        }
        keys
    }
}

/// Reads this terminal's input on a thread of its own (stdin blocks).
fn keyboard() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 1024];
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || tx.blocking_send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

fn size() -> (u16, u16) {
    crossterm::terminal::size().unwrap_or((80, 24))
}

/// How one connection ended.
enum Ended {
    Exited(u8),
    Dropped,
    /// The server closed the socket because the token was revoked: no reconnection can work.
    Revoked,
    Disconnect,
    Detach,
}

pub async fn run(client: &Client, workspace: &str, resume: Option<String>) -> anyhow::Result<u8> {
    let id = client.workspace_id(workspace).await?;
    let raw = Raw::enter()?;
    let mut keys = keyboard();
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
    let mut state = State {
        session: resume,
        offset: 0,
        typed: Vec::new(),
        escapes: Escapes::new(),
    };
    let mut backoff = Duration::from_millis(200);
    let mut down_since: Option<tokio::time::Instant> = None;
    loop {
        match connect(client, &id, &state).await {
            Ok(socket) => {
                down_since = None;
                backoff = Duration::from_millis(200);
                match state.attached(socket, &mut keys, &mut winch).await? {
                    Ended::Exited(code) => return Ok(code),
                    Ended::Dropped => {}
                    Ended::Revoked => {
                        bail!("the token was revoked; the server closed the terminal")
                    }
                    left => return Ok(leave(raw, left, workspace, &state)),
                }
            }
            // No session yet: nothing to come back to.
            Err(e) if state.session.is_none() => return Err(e),
            Err(e) if e.to_string().contains("404") => {
                bail!("the session has ended")
            }
            // A refused token stays refused: retrying would only wait out the give-up time.
            Err(e) if e.to_string() == REFUSED_TOKEN => return Err(e),
            Err(_) => {}
        }
        let since = *down_since.get_or_insert_with(tokio::time::Instant::now);
        if since.elapsed() > GIVE_UP_AFTER {
            bail!("the server could not be reached again for {GIVE_UP_AFTER:?}");
        }
        status(&format!(
            "connection lost; reconnecting in {:.1} s",
            backoff.as_secs_f64()
        ));
        // Typing goes on while disconnected; it is sent once the session is back.
        let wait = tokio::time::sleep(backoff);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                Some(bytes) = keys.recv() => if let Some(left) = state.type_keys(&bytes) {
                    return Ok(leave(raw, left, workspace, &state));
                },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// `~.` or `~&`: the terminal restored, and for a detach the command that comes back.
fn leave(raw: Raw, left: Ended, workspace: &str, state: &State) -> u8 {
    drop(raw);
    match (left, &state.session) {
        (Ended::Detach, Some(sid)) => eprintln!(
            "\r\n[detached; the session runs on. Resume it with:]\n  workspace-server shell {workspace} --session {sid}"
        ),
        _ => eprintln!("\r\n[disconnected]"),
    }
    0
}

fn status(line: &str) {
    let mut err = std::io::stderr();
    let _ = write!(err, "\r\n[{line}]\r\n");
    let _ = err.flush();
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(client: &Client, id: &str, state: &State) -> anyhow::Result<Socket> {
    let (cols, rows) = size();
    let query = match &state.session {
        None => format!("session=new&cols={cols}&rows={rows}"),
        Some(sid) => format!("session={sid}&offset={}", state.offset),
    };
    let (url, auth) = client.socket(&format!("/workspaces/{id}/terminal?{query}"));
    let mut req = url.into_client_request()?;
    if let Some(auth) = auth {
        req.headers_mut().insert("Authorization", auth.parse()?);
    }
    let (socket, _) = tokio_tungstenite::connect_async(req)
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 401 => {
                anyhow::anyhow!(REFUSED_TOKEN)
            }
            tokio_tungstenite::tungstenite::Error::Http(r) => {
                anyhow::anyhow!("the server answered {}", r.status())
            }
            other => anyhow::anyhow!(other),
        })?;
    Ok(socket)
}

/// The client's place in its session.
struct State {
    session: Option<String>,
    /// Bytes of output received: where a resume starts.
    offset: u64,
    /// Typed while disconnected, to send once attached again.
    typed: Vec<u8>,
    escapes: Escapes,
}

impl State {
    /// Keys typed while they cannot be sent: kept to send later; `~.` and `~&` still act.
    fn type_keys(&mut self, bytes: &[u8]) -> Option<Ended> {
        for key in self.escapes.feed(bytes) {
            match key {
                Key::Send(b) => self.typed.extend_from_slice(&b),
                Key::Disconnect => return Some(Ended::Disconnect),
                Key::Detach => return Some(Ended::Detach),
            }
        }
        None
    }

    async fn attached(
        &mut self,
        mut socket: Socket,
        keys: &mut mpsc::Receiver<Vec<u8>>,
        winch: &mut tokio::signal::unix::Signal,
    ) -> anyhow::Result<Ended> {
        let mut out = std::io::stdout();
        let mut replaying_until = None;
        let mut quiet_until = tokio::time::Instant::now();
        let (cols, rows) = size();
        let resize = format!(r#"{{"type":"resize","cols":{cols},"rows":{rows}}}"#);
        let _ = socket.send(Message::Text(resize.into())).await;
        loop {
            tokio::select! {
                frame = socket.next() => match frame {
                    Some(Ok(Message::Binary(bytes))) => {
                        out.write_all(&bytes)?;
                        out.flush()?;
                        self.offset += bytes.len() as u64;
                        if replaying_until.is_some_and(|live| self.offset >= live) {
                            replaying_until = None;
                            quiet_until = tokio::time::Instant::now() + REPLY_QUIET;
                            self.flush_typed(&mut socket).await;
                        }
                    }
                    Some(Ok(Message::Text(text))) => {
                        let Ok(frame) = serde_json::from_str::<SessionFrame>(&text) else {
                            // `Error: …` from the server: shown as it is.
                            out.write_all(text.as_bytes())?;
                            out.flush()?;
                            continue;
                        };
                        self.session = Some(frame.session);
                        self.offset = frame.offset;
                        if let Some(snapshot) = frame.snapshot {
                            out.write_all(snapshot.as_bytes())?;
                            out.flush()?;
                        }
                        let live = frame.live;
                        quiet_until = tokio::time::Instant::now() + REPLY_QUIET;
                        if self.offset < live {
                            replaying_until = Some(live);
                        } else {
                            self.flush_typed(&mut socket).await;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        if frame.as_ref().is_some_and(|f| f.code == CloseCode::Policy) {
                            return Ok(Ended::Revoked);
                        }
                        let exited = frame
                            .filter(|f| f.code == CloseCode::Normal)
                            .and_then(|f| serde_json::from_str::<Exited>(&f.reason).ok());
                        return Ok(match exited {
                            Some(e) => Ended::Exited(e.exit_code.unwrap_or(0).clamp(0, 255) as u8),
                            None => Ended::Dropped,
                        });
                    }
                    Some(Ok(_)) => {}
                    None | Some(Err(_)) => return Ok(Ended::Dropped),
                },
                Some(bytes) = keys.recv() => {
                    let replaying = replaying_until.is_some();
                    // While replayed bytes are written (and just after), what starts with ESC is
                    // the local terminal answering a replayed query, not the user: dropped.
                    // Anything else typed meanwhile waits for the replay to end.
                    if (replaying || tokio::time::Instant::now() < quiet_until)
                        && bytes.first() == Some(&0x1b)
                    {
                        continue;
                    }
                    if replaying {
                        if let Some(left) = self.type_keys(&bytes) {
                            let _ = socket.close(None).await;
                            return Ok(left);
                        }
                        continue;
                    }
                    for key in self.escapes.feed(&bytes) {
                        match key {
                            Key::Send(b) => {
                                if socket.send(Message::Binary(b.into())).await.is_err() {
                                    return Ok(Ended::Dropped);
                                }
                            }
                            Key::Disconnect => {
                                let _ = socket.close(None).await;
                                return Ok(Ended::Disconnect);
                            }
                            Key::Detach => {
                                let _ = socket.close(None).await;
                                return Ok(Ended::Detach);
                            }
                        }
                    }
                }
                _ = winch.recv() => {
                    let (cols, rows) = size();
                    let resize = format!(r#"{{"type":"resize","cols":{cols},"rows":{rows}}}"#);
                    let _ = socket.send(Message::Text(resize.into())).await;
                }
            }
        }
    }

    async fn flush_typed(&mut self, socket: &mut Socket) {
        if !self.typed.is_empty() {
            let typed = std::mem::take(&mut self.typed);
            let _ = socket.send(Message::Binary(typed.into())).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_escapes_count_only_at_the_start_of_a_line() {
        let mut e = Escapes::new();
        assert_eq!(e.feed(b"~."), vec![Key::Disconnect]);
        let mut e = Escapes::new();
        assert_eq!(
            e.feed(b"ls ~.\r~&"),
            vec![Key::Send(b"ls ~.\r".to_vec()), Key::Detach]
        );
        let mut e = Escapes::new();
        assert_eq!(e.feed(b"~~x"), vec![Key::Send(b"~x".to_vec())]);
        let mut e = Escapes::new();
        assert_eq!(e.feed(b"~"), vec![]);
        assert_eq!(e.feed(b"q"), vec![Key::Send(b"~q".to_vec())]);
    }
}
