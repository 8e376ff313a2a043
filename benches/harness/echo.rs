//! Keystroke echo: a byte's round trip through the server's terminal, a raw PTY, the Engine API.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bollard::exec::StartExecResults;
use futures_util::{SinkExt, StreamExt};
use portable_pty::CommandBuilder;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

use crate::Bench;
use crate::common::{env_usize, percentile, pty, row, start_tty, tty_exec};
use crate::support::terminal::{Output, read_into};

/// Microseconds since `started`.
fn micros(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e6
}

/// Round trips of one byte through `cat` behind the server's terminal, in µs.
async fn ws_echo(b: &Bench, id: &str, n: usize) -> Vec<f64> {
    let mut socket = b.typed(id, "stty raw -echo; cat\r").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Drain the prompt and anything else already sent.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), socket.next()).await {}
    let mut samples = Vec::with_capacity(n);
    let mut out = Output::counted();
    for _ in 0..n {
        let started = Instant::now();
        socket
            .send(Message::Binary(vec![b'x'].into()))
            .await
            .unwrap();
        assert!(read_into(&mut socket, "x", &mut out).await, "no echo");
        samples.push(micros(started));
    }
    let _ = socket.close(None).await;
    samples
}

/// The same round trip through a TTY exec of the Engine API, without the server, in µs.
async fn direct_api_echo(b: &Bench, n: usize) -> Vec<f64> {
    let script = "stty raw -echo; echo ready; exec cat";
    let exec = tty_exec(&b.docker, &b.container, script, true).await;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = start_tty(&b.docker, &exec).await
    else {
        panic!("detached");
    };
    let mut next = async || output.next().await.unwrap().unwrap().into_bytes();
    let mut seen = String::new();
    while !seen.contains("ready") {
        seen.push_str(&String::from_utf8_lossy(&next().await));
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        input.write_all(b"x").await.unwrap();
        input.flush().await.unwrap();
        while !next().await.contains(&b'x') {}
        samples.push(micros(started));
    }
    let _ = input.write_all(&[4]).await;
    samples
}

/// The same round trip straight through a PTY running `cat`, in µs.
fn raw_pty_echo(n: usize) -> Vec<f64> {
    let pair = pty(80, 24);
    let mut cmd = CommandBuilder::new("sh");
    cmd.args(["-c", "stty raw -echo; echo ready; exec cat"]);
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let mut writer = pair.master.take_writer().unwrap();
    let mut buf = [0u8; 256];
    let mut seen = String::new();
    while !seen.contains("ready") {
        let n = reader.read(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        writer.write_all(b"x").unwrap();
        writer.flush().unwrap();
        loop {
            let n = reader.read(&mut buf).unwrap();
            if buf[..n].contains(&b'x') {
                break;
            }
        }
        samples.push(micros(started));
    }
    let _ = child.kill();
    samples
}

/// Figure 2: keystroke echo latency.
pub async fn echo(b: &Bench) {
    let echoes = env_usize("WSS_BENCH_ECHOES", 500);
    let mut raw = tokio::task::spawn_blocking(move || raw_pty_echo(echoes))
        .await
        .unwrap();
    let mut docker = ws_echo(b, &b.local, echoes).await;
    let mut api = direct_api_echo(b, echoes).await;
    let mut eic = ws_echo(b, &b.remote, echoes).await;
    let (r50, r99) = (percentile(&mut raw, 0.5), percentile(&mut raw, 0.99));
    let (a50, a99) = (percentile(&mut api, 0.5), percentile(&mut api, 0.99));
    for (name, samples) in [("Docker", &mut docker), ("EIC", &mut eic)] {
        let (p50, p99) = (percentile(samples, 0.5), percentile(samples, 0.99));
        row(
            &format!("keystroke echo, {name} (p50 / p99, n={echoes})"),
            format!("{p50:.0} / {p99:.0} µs"),
            &format!("raw PTY {r50:.0} / {r99:.0} µs"),
            format!("+{:.0} µs p50", p50 - r50),
            "< 100 µs p50 added",
        );
        if name == "Docker" {
            row(
                "keystroke echo, Docker",
                format!("{p50:.0} / {p99:.0} µs"),
                &format!("Engine API TTY exec, no server {a50:.0} / {a99:.0} µs"),
                format!("+{:.0} µs p50 by the server", p50 - a50),
                "—",
            );
        }
    }
}
