//! Attachments driven by channels and a fake shell.

use bytes::Bytes;
use futures_channel::mpsc as fmpsc;
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

use super::*;
use crate::backend::{BackendError, TermSize, TerminalSession};
use crate::terminal::fake::FakeControl as Fake;
use crate::terminal::session::Starter;

struct Shell {
    out: fmpsc::UnboundedSender<Result<Bytes, BackendError>>,
    typed: tokio::io::DuplexStream,
    fake: Arc<Fake>,
    session: Arc<Session>,
    starter: Option<Starter>,
}

fn shell(replay: usize) -> Shell {
    let (out, output) = fmpsc::unbounded();
    let (input, typed) = tokio::io::duplex(1024);
    let fake = Arc::new(Fake::default());
    let size = TermSize { cols: 20, rows: 5 };
    let parts = TerminalSession {
        output: Box::pin(output),
        input: Box::pin(input),
        control: fake.clone(),
    };
    let (session, starter) = Session::start("s1".into(), parts, size, replay);
    Shell {
        out,
        typed,
        fake,
        session,
        starter: Some(starter),
    }
}

struct Client {
    send: fmpsc::UnboundedSender<ClientFrame>,
    recv: fmpsc::Receiver<ServerFrame>,
    done: tokio::task::JoinHandle<Left>,
}

fn client(sh: &Shell, mode: Mode, start: Start) -> Client {
    client_until(sh, mode, start, Stops::default())
}

fn client_until(sh: &Shell, mode: Mode, start: Start, stops: Stops) -> Client {
    let (send, rx) = fmpsc::unbounded();
    // A small socket buffer: a client that does not read soon holds its attachment up.
    let (tx, recv) = fmpsc::channel(4);
    let done = tokio::spawn(attach(
        sh.session.clone(),
        mode,
        start,
        tx,
        rx,
        stops,
        BridgeConfig::default(),
    ));
    Client { send, recv, done }
}

fn frame(f: Option<ServerFrame>) -> serde_json::Value {
    match f {
        Some(ServerFrame::Text(t)) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected a session frame, got {other:?}"),
    }
}

/// Reads output frames until `n` bytes came.
async fn output(c: &mut Client, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        match c.recv.next().await {
            Some(ServerFrame::Output(b)) => got.extend_from_slice(&b),
            Some(ServerFrame::Ping) => {}
            other => panic!("expected output, got {other:?}"),
        }
    }
    got
}

#[tokio::test]
async fn a_new_session_starts_at_offset_zero_and_a_resume_replays_exactly_what_was_missed() {
    let mut sh = shell(1024);
    let mut first = client(&sh, Mode::Write, Start::New);
    sh.starter.take().unwrap().start();
    let f = frame(first.recv.next().await);
    assert_eq!(
        f,
        serde_json::json!({"type":"session","session":"s1","offset":0,"live":0})
    );
    sh.out
        .unbounded_send(Ok(Bytes::from_static(b"hello ")))
        .unwrap();
    assert_eq!(output(&mut first, 6).await, b"hello ");
    // The socket goes; output goes on while nobody is attached.
    drop(first.send);
    assert_eq!(first.done.await.unwrap(), Left::ClientClosed);
    sh.out
        .unbounded_send(Ok(Bytes::from_static(b"world")))
        .unwrap();
    sh.out.unbounded_send(Ok(Bytes::from_static(b"!"))).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut again = client(&sh, Mode::Write, Start::At(6));
    let f = frame(again.recv.next().await);
    assert_eq!(
        (f["offset"].as_u64(), f["live"].as_u64()),
        (Some(6), Some(12))
    );
    assert_eq!(output(&mut again, 6).await, b"world!");
    // Input and resizes reach the shell.
    again
        .send
        .unbounded_send(ClientFrame::from_text("ls\r"))
        .unwrap();
    let mut typed = [0u8; 3];
    sh.typed.read_exact(&mut typed).await.unwrap();
    assert_eq!(&typed, b"ls\r");
    again
        .send
        .unbounded_send(ClientFrame::from_text(
            r#"{"type":"resize","cols":30,"rows":9}"#,
        ))
        .unwrap();
    // The shell ends: the rest of its output, then the exit code.
    sh.out
        .unbounded_send(Ok(Bytes::from_static(b"bye")))
        .unwrap();
    sh.out.close_channel();
    assert_eq!(output(&mut again, 3).await, b"bye");
    assert_eq!(again.recv.next().await, Some(ServerFrame::exited(Some(3))));
    assert_eq!(again.done.await.unwrap(), Left::Exited);
    assert_eq!(
        sh.fake.resizes.lock().unwrap().as_slice(),
        [TermSize { cols: 30, rows: 9 }]
    );
    let tally = sh.session.tally();
    assert_eq!(
        (tally.attaches, tally.bytes_in, tally.bytes_out),
        (2, 3, 15)
    );
}

#[tokio::test]
async fn a_resume_older_than_the_buffer_gets_a_snapshot_of_the_screen() {
    let mut sh = shell(16);
    sh.starter.take().unwrap().start();
    sh.out
        .unbounded_send(Ok(Bytes::from_static(
            b"line one\r\nline two\r\nline three",
        )))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut late = client(&sh, Mode::Write, Start::At(0));
    let f = frame(late.recv.next().await);
    assert_eq!(
        (f["offset"].as_u64(), f["live"].as_u64()),
        (Some(30), Some(30))
    );
    let mut screen = vt100::Parser::new(5, 20, 0);
    screen.process(f["snapshot"].as_str().unwrap().as_bytes());
    assert_eq!(screen.screen().contents(), "line one\nline two\nline three");
    drop(late.send);
    late.done.await.unwrap();
}

#[tokio::test]
async fn a_viewer_sees_the_output_and_its_input_and_resizes_are_dropped() {
    let mut sh = shell(1024);
    sh.starter.take().unwrap().start();
    let mut viewer = client(&sh, Mode::View, Start::At(0));
    frame(viewer.recv.next().await);
    viewer
        .send
        .unbounded_send(ClientFrame::from_text("rm -rf /\r"))
        .unwrap();
    viewer
        .send
        .unbounded_send(ClientFrame::from_text(
            r#"{"type":"resize","cols":30,"rows":9}"#,
        ))
        .unwrap();
    sh.out
        .unbounded_send(Ok(Bytes::from_static(b"out")))
        .unwrap();
    assert_eq!(output(&mut viewer, 3).await, b"out");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut typed = [0u8; 1];
    let nothing = tokio::time::timeout(Duration::from_millis(100), sh.typed.read(&mut typed)).await;
    assert!(nothing.is_err(), "a viewer's input reached the shell");
    assert!(sh.fake.resizes.lock().unwrap().is_empty());
    assert_eq!(sh.session.tally().dropped, 2);
    drop(viewer.send);
    viewer.done.await.unwrap();
}

#[tokio::test]
async fn a_writer_that_stops_reading_pauses_the_shell_and_a_viewer_does_not() {
    let mut sh = shell(64 * 1024);
    sh.starter.take().unwrap().start();
    let chunk = Bytes::from(vec![b'x'; 1024]);
    // Only a viewer, not reading: the pump reads on and old output drops off the ring.
    let mut viewer = client(&sh, Mode::View, Start::At(0));
    for _ in 0..200 {
        sh.out.unbounded_send(Ok(chunk.clone())).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        sh.session.summary().0,
        200 * 1024,
        "a viewer slowed the shell"
    );
    frame(viewer.recv.next().await);
    // A writer that does not read: once its socket's buffer is full, the shell is paused.
    let mut writer = client(&sh, Mode::Write, Start::At(200 * 1024));
    for _ in 0..600 {
        sh.out.unbounded_send(Ok(chunk.clone())).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let read = sh.session.summary().0 - 200 * 1024;
    assert!(
        read < 600 * 1024,
        "the shell was not paused: {read} bytes read"
    );
    // Once the writer reads, the shell goes on, and the writer gets every byte.
    frame(writer.recv.next().await);
    assert_eq!(output(&mut writer, 600 * 1024).await.len(), 600 * 1024);
    drop(viewer);
}

#[tokio::test]
async fn a_revoked_socket_closes_even_while_it_is_still_catching_up_with_output() {
    const CHUNK: usize = 64 * 1024;
    let mut sh = shell(16 * CHUNK);
    let mut writer = client(&sh, Mode::Write, Start::New);
    sh.starter.take().unwrap().start();
    frame(writer.recv.next().await);
    for _ in 0..16 {
        let chunk = Bytes::from(vec![b'y'; CHUNK]);
        sh.out.unbounded_send(Ok(chunk)).unwrap();
    }
    output(&mut writer, 16 * CHUNK).await;
    // A viewer resuming from the start has 16 frames to catch up with; its token is revoked
    // after the first.
    let stops = Stops::default();
    let mut viewer = client_until(&sh, Mode::View, Start::At(0), stops.clone());
    frame(viewer.recv.next().await);
    output(&mut viewer, CHUNK).await;
    stops.revoked.cancel();
    let mut behind = 0;
    loop {
        match viewer.recv.next().await {
            Some(ServerFrame::Output(_)) => behind += 1,
            Some(ServerFrame::Ping) => {}
            other => {
                assert_eq!(other, Some(ServerFrame::revoked()));
                break;
            }
        }
    }
    // At most what its socket's buffer already held, not the rest of the 1 MiB.
    assert!(behind <= 5, "{behind} more frames after the revocation");
    assert_eq!(viewer.done.await.unwrap(), Left::Revoked);
    // The session and its writer go on.
    sh.out
        .unbounded_send(Ok(Bytes::from_static(b"on")))
        .unwrap();
    assert_eq!(output(&mut writer, 2).await, b"on");
}
