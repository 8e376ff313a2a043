//! The EIC terminal: an `ssh -tt` client on the session's own connection, under a local PTY.
//! The PTY comes from `rustix` (safe calls for the pair, its size and non-blocking I/O); the
//! master is read and written through tokio's `AsyncFd`, so a burst of output is read in reads of
//! up to 64 KiB per wake-up, with no thread per terminal. `setsid --ctty` (util-linux) makes the
//! PTY ssh's controlling terminal, so a resize reaches it as SIGWINCH.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;

use rustix::fs::{Mode, OFlags};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};
use tokio::io::AsyncReadExt;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot, watch};

use super::conn::Conn;
use crate::backend::{BackendError, TermSize, TerminalControl, TerminalSession};
use crate::sync::Locked;

/// Output chunks queued before the reader stops reading the PTY (backpressure to the shell).
const OUTPUT_QUEUE: usize = 16;
/// The most output read per chunk.
const READ_CHUNK: usize = 64 * 1024;

fn winsize(size: TermSize) -> Winsize {
    Winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::Failed(format!("{what}: {e}"))
}

/// Resize, exit status and kill of the ssh client; holds the session's connection while open.
struct PtyControl {
    master: Arc<AsyncFd<OwnedFd>>,
    kill: Mutex<Option<oneshot::Sender<()>>>,
    exit: watch::Receiver<Option<Option<i64>>>,
    _conn: Conn,
}

#[async_trait]
impl TerminalControl for PtyControl {
    async fn resize(&self, size: TermSize) -> Result<(), BackendError> {
        tcsetwinsize(self.master.get_ref(), winsize(size))
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
        if let Some(kill) = self.kill.locked().take() {
            let _ = kill.send(());
        }
        let mut exit = self.exit.clone();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            exit.wait_for(Option::is_some),
        )
        .await;
    }
}

/// A new PTY pair at `size`: the master (non-blocking) and the slave, opened as a file.
fn pair(size: TermSize) -> std::io::Result<(OwnedFd, File)> {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    tcsetwinsize(&master, winsize(size))?;
    let name = ptsname(&master, Vec::new())?;
    let path = std::ffi::OsString::from_vec(name.into_bytes());
    // NOCTTY: a server that is a session leader (PID 1, a systemd service) must not take the
    // terminal as its own, or its hang-up would reach the server.
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC;
    let slave = File::from(rustix::fs::open(path.as_os_str(), flags, Mode::empty())?);
    rustix::io::ioctl_fionbio(&master, true)?;
    Ok((master, slave))
}

/// Starts the login shell at `size` on `conn`, which is the session's own: it is closed (master
/// and tunnel with it) when the session ends.
pub fn open(conn: Conn, size: TermSize) -> Result<TerminalSession, BackendError> {
    let (program, args) = conn.client_argv(None);
    let (master, slave) = pair(size).map_err(|e| failed("opening a PTY", e))?;
    let stdio = || slave.try_clone().map(Stdio::from);
    let stdio = (stdio(), stdio(), stdio());
    let (Ok(stdin), Ok(stdout), Ok(stderr)) = stdio else {
        return Err(failed("opening a PTY", "the terminal could not be shared"));
    };
    let mut child = tokio::process::Command::new("setsid")
        .arg("--ctty")
        .arg(program)
        .args(args)
        // ssh asks the instance for a terminal of its own TERM: the same as the Docker path's,
        // so colours, `clear` and full-screen programs work.
        .env("TERM", "xterm-256color")
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed("starting ssh", e))?;
    drop(slave);
    // `new` is deprecated because an arbitrary `AsRawFd` may close or swap its descriptor under
    // the reactor; an `OwnedFd` owned by the `AsyncFd` cannot, so here it is sound (and the
    // replacement, `register`, is `unsafe`, which this crate forbids).
    #[allow(deprecated)]
    let master = AsyncFd::new(master);
    let master = Arc::new(master.map_err(|e| failed("polling the PTY", e))?);

    let (exit_tx, exit) = watch::channel(None);
    let (kill, killed) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let status = tokio::select! {
            status = child.wait() => status,
            _ = killed => {
                let _ = child.start_kill();
                child.wait().await
            }
        };
        let code = status.ok().and_then(|s| s.code()).map(i64::from);
        let _ = exit_tx.send(Some(code));
    });

    let (out_tx, out_rx) = mpsc::channel::<std::io::Result<Bytes>>(OUTPUT_QUEUE);
    tokio::spawn(read_output(master.clone(), out_tx));
    let output: crate::backend::ByteStream =
        Box::pin(futures_util::stream::unfold(out_rx, |mut rx| async move {
            let item = rx.recv().await?;
            Some((item.map_err(|e| failed("reading the PTY", e)), rx))
        }));

    // Keystrokes: an in-memory pipe for the bridge, written to the PTY as it becomes writable.
    let (input, mut from_bridge) = tokio::io::duplex(16 * 1024);
    let writer = master.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = from_bridge.read(&mut buf).await {
            if n == 0 || write_all(&writer, &buf[..n]).await.is_err() {
                break;
            }
        }
    });

    let control = PtyControl {
        master,
        kill: Mutex::new(Some(kill)),
        exit,
        _conn: conn,
    };
    Ok(TerminalSession {
        output,
        input: Box::pin(input),
        control: Arc::new(control),
    })
}

/// Reads the master until ssh has closed its side (EIO) or the session is gone: everything that
/// is ready at a wake-up, up to `READ_CHUNK`, goes out as one chunk.
async fn read_output(master: Arc<AsyncFd<OwnedFd>>, out: mpsc::Sender<std::io::Result<Bytes>>) {
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let Ok(mut ready) = master.readable().await else {
            return;
        };
        let mut filled = 0;
        let mut ended = false;
        while filled < READ_CHUNK {
            let read = ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut chunk[filled..])?));
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    ended = true;
                    break;
                }
                Ok(Ok(n)) => filled += n,
                // Nothing more for now: readiness is cleared, the next wait wakes on more.
                Err(_would_block) => break,
            }
        }
        // Copied out at its size: the 64 KiB buffer is reused, never held by a queued chunk.
        if filled > 0 {
            let bytes = Bytes::copy_from_slice(&chunk[..filled]);
            if out.send(Ok(bytes)).await.is_err() {
                return;
            }
        }
        if ended {
            return;
        }
    }
}

/// Writes all of `bytes` to the master, waiting while its input buffer is full.
async fn write_all(master: &AsyncFd<OwnedFd>, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let mut ready = master.writable().await?;
        match ready.try_io(|fd| Ok(rustix::io::write(fd.get_ref(), bytes)?)) {
            Ok(Ok(n)) => bytes = &bytes[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}
