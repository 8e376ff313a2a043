//! Resumable sessions (SPEC §12): throughput against a plain terminal, how soon a resume gets its
//! first byte against how soon a new terminal does, and what a detached session holds.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{ROUNDS, Stats, env_usize, percentile, row};
use crate::support::process::rss_kib;
use crate::support::terminal::Socket;
use crate::terminal::ws_throughput;
use crate::{Bench, PLAIN};

/// Resumes timed for the latency figure.
const RESUMES: usize = 200;

/// How many detached sessions the memory figure opens.
pub fn detached_count() -> usize {
    env_usize("WSS_BENCH_DETACHED", 1000)
}

/// Figure 7: the flood through a resumable session against the same through a plain terminal,
/// alternating, on the Docker path.
pub async fn throughput(b: &Bench) {
    let (mut plain, mut resumable) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        plain.push(ws_throughput(b, &b.local, PLAIN).await.0);
        let query = format!("{PLAIN}&session=new");
        resumable.push(ws_throughput(b, &b.local, &query).await.0);
    }
    let (plain, resumable) = (Stats::of(plain), Stats::of(resumable));
    row(
        "terminal throughput, resumable session (Docker)",
        resumable.mibs(),
        &format!("plain terminal {}", plain.mibs()),
        format!("{:.2}×", resumable.median / plain.median),
        "≥ 0.95×",
    );
}

/// Milliseconds from asking to the first output byte on a socket opened by `query`.
async fn first_byte(b: &Bench, id: &str, query: &str) -> (f64, Socket) {
    let started = Instant::now();
    let mut socket = b.server.terminal_at(id, query).await;
    while let Some(Ok(frame)) = socket.next().await {
        if let Message::Binary(_) = frame {
            return (started.elapsed().as_secs_f64() * 1000.0, socket);
        }
    }
    panic!("no output on {query}");
}

/// Figure 7, continued: a resume's first replayed byte against a new terminal's first byte (its
/// prompt), p50 and p99.
pub async fn resume_latency(b: &Bench) {
    let mut session = b.server.terminal_at(&b.local, "?session=new").await;
    let sid = match session.next().await {
        Some(Ok(Message::Text(t))) => {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            v["session"].as_str().unwrap().to_owned()
        }
        other => panic!("no session frame: {other:?}"),
    };
    session
        .send(Message::Text("echo ready\r".into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(session);
    let (mut resumes, mut opens) = (Vec::new(), Vec::new());
    for _ in 0..RESUMES {
        let query = format!("?session={sid}&offset=0");
        let (ms, socket) = first_byte(b, &b.local, &query).await;
        resumes.push(ms);
        drop(socket);
        let (ms, mut socket) = first_byte(b, &b.local, PLAIN).await;
        opens.push(ms);
        let _ = socket.close(None).await;
    }
    let p = |v: &mut Vec<f64>| (percentile(v, 0.5), percentile(v, 0.99));
    let ((r50, r99), (o50, o99)) = (p(&mut resumes), p(&mut opens));
    row(
        &format!("resume to first byte, p50 / p99 ({RESUMES} resumes)"),
        format!("{r50:.1} / {r99:.1} ms"),
        &format!("a new terminal's first byte {o50:.1} / {o99:.1} ms"),
        format!("{:.2}×", r50 / o50),
        "≤ 1×",
    );
    let path = format!("/workspaces/{}/terminal/sessions/{sid}", b.local);
    let _ = b.server.call("DELETE", &path, None).await;
}

/// Figure 8: sessions whose sockets are gone, each with a screenful of output: the server's
/// memory per session and in all, against an attached plain terminal's (figure 4, same run).
pub async fn detached(b: &Bench, plain_kib: f64) {
    let count = detached_count();
    let pid = b.server.pid();
    let _ = b
        .server
        .call("GET", &format!("/workspaces/{}", b.local), None)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss0 = rss_kib(pid);
    for _ in 0..count {
        let mut socket = b.server.terminal_at(&b.local, "?session=new").await;
        socket
            .send(Message::Text("seq 1 2000\r".into()))
            .await
            .unwrap();
        drop(socket);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss1 = rss_kib(pid);
    let metrics = b.server.client.get(b.server.url("/metrics")).send().await;
    let held = replay_bytes(&metrics.unwrap().text().await.unwrap_or_default());
    let per = rss1.saturating_sub(rss0) as f64 / count as f64;
    row(
        &format!("{count} detached sessions: server memory per session"),
        format!("{per:.1} KiB"),
        &format!("an attached plain terminal {plain_kib:.1} KiB"),
        format!("{:.2}×", per / plain_kib),
        "bounded by TERMINAL_REPLAY_BYTES",
    );
    row(
        &format!("{count} detached sessions: in all"),
        format!("+{} MiB RSS", rss1.saturating_sub(rss0) / 1024),
        &format!("replay buffers hold {} MiB", held / 1048576),
        "—".into(),
        "—",
    );
}

/// `terminal_replay_bytes` from the metrics text.
fn replay_bytes(text: &str) -> usize {
    text.lines()
        .find_map(|l| l.strip_prefix("terminal_replay_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
