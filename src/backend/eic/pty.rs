//! The EIC terminal: an `ssh -tt` client on the pooled connection, under a local PTY
//! (`portable-pty`). Its size follows the WebSocket; its exit code closes it.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use portable_pty::{ChildKiller, CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

use super::conn::Conn;
use crate::backend::{BackendError, TermSize, TerminalControl, TerminalSession};
use crate::sync::Locked;

/// Output chunks queued before the reader stops reading the PTY (backpressure to the shell).
const OUTPUT_QUEUE: usize = 16;

fn pty_size(size: TermSize) -> PtySize {
    PtySize {
        rows: size.rows,
        cols: size.cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::Failed(format!("{what}: {e}"))
}

/// Resize, exit status and kill of the ssh client; holds the session's connection while open.
struct PtyControl {
    master: Mutex<Box<dyn MasterPty + Send>>,
    killer: Mutex<Box<dyn ChildKiller + Send + Sync>>,
    exit: watch::Receiver<Option<Option<i64>>>,
    _conn: Conn,
}

#[async_trait]
impl TerminalControl for PtyControl {
    async fn resize(&self, size: TermSize) -> Result<(), BackendError> {
        self.master
            .locked()
            .resize(pty_size(size))
            .map_err(|e| failed("resizing the PTY", e))
    }

    async fn exit_code(&self) -> Result<Option<i64>, BackendError> {
        let mut exit = self.exit.clone();
        let code = exit
            .wait_for(Option::is_some)
            .await
            .map_err(|e| failed("waiting for ssh", e))?;
        Ok(code.flatten())
    }

    async fn kill(&self) {
        let _ = self.killer.locked().kill();
        let mut exit = self.exit.clone();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            exit.wait_for(Option::is_some),
        )
        .await;
    }
}

/// Starts the login shell at `size` on `conn`, which is the session's own: it is closed (master
/// and tunnel with it) when the session ends.
pub fn open(conn: Conn, size: TermSize) -> Result<TerminalSession, BackendError> {
    let (program, args) = conn.client_argv(None);
    let pair = native_pty_system()
        .openpty(pty_size(size))
        .map_err(|e| failed("opening a PTY", e))?;
    let mut cmd = CommandBuilder::new(program);
    cmd.args(args);
    // ssh asks the instance for a terminal of its own TERM: the same as the Docker path's, so
    // colours, `clear` and full-screen programs work.
    cmd.env("TERM", "xterm-256color");
    let mut child = pair
        .slave
        .spawn_command(cmd)
        .map_err(|e| failed("starting ssh", e))?;
    drop(pair.slave);
    let killer = child.clone_killer();
    let mut reader = pair
        .master
        .try_clone_reader()
        .map_err(|e| failed("reading the PTY", e))?;
    let mut writer = pair
        .master
        .take_writer()
        .map_err(|e| failed("writing the PTY", e))?;

    let (exit_tx, exit) = watch::channel(None);
    std::thread::spawn(move || {
        let code = child.wait().ok().map(|s| i64::from(s.exit_code()));
        let _ = exit_tx.send(Some(code));
    });

    let (out_tx, out_rx) = mpsc::channel::<std::io::Result<Bytes>>(OUTPUT_QUEUE);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out_tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    let output: crate::backend::ByteStream =
        Box::pin(futures_util::stream::unfold(out_rx, |mut rx| async move {
            let item = rx.recv().await?;
            Some((item.map_err(|e| failed("reading the PTY", e)), rx))
        }));

    // Keystrokes: an in-memory pipe for the bridge, copied to the PTY by a blocking thread.
    let (input, mut from_bridge) = tokio::io::duplex(16 * 1024);
    let (key_tx, key_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = from_bridge.read(&mut buf).await {
            if n == 0 || key_tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        while let Ok(bytes) = key_rx.recv() {
            if writer
                .write_all(&bytes)
                .and_then(|()| writer.flush())
                .is_err()
            {
                break;
            }
        }
    });

    let control = PtyControl {
        master: Mutex::new(pair.master),
        killer: Mutex::new(killer),
        exit,
        _conn: conn,
    };
    Ok(TerminalSession {
        output,
        input: Box::pin(input),
        control: Arc::new(control),
    })
}
