//! Scale, on a fresh server: a thousand idle terminals, and two hundred concurrent execs.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::Bench;
use crate::common::{env_usize, row};
use crate::support::process::{fds, rss_kib};
use crate::support::terminal::{Output, Socket, read_into};

/// How many of `open` echo a line of their own within 30 s each.
async fn echoing(open: &mut [Socket]) -> usize {
    for (i, socket) in open.iter_mut().enumerate() {
        socket
            .send(Message::Text(format!("echo s{i}-$((1+1))\r").into()))
            .await
            .unwrap();
    }
    let mut echoed = 0;
    for (i, socket) in open.iter_mut().enumerate() {
        let marker = format!("s{i}-2");
        let mut out = Output::counted();
        let read = read_into(socket, &marker, &mut out);
        if let Ok(true) = tokio::time::timeout(Duration::from_secs(30), read).await {
            echoed += 1;
        }
    }
    echoed
}

/// Figure 4: idle terminals, what each costs the server, and whether all echo. Answers the
/// memory per terminal, in KiB.
pub async fn terminals(b: &Bench) -> f64 {
    let sessions = env_usize("WSS_BENCH_SESSIONS", 1000);
    let pid = b.server.pid();
    // One request first, so that what the server sets up on its first use is in the baseline.
    let _ = b
        .server
        .call("GET", &format!("/workspaces/{}", b.local), None)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss0, fd0) = (rss_kib(pid), fds(pid));
    let started = Instant::now();
    let mut open = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        open.push(b.terminal(&b.local).await);
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss1, fd1) = (rss_kib(pid), fds(pid));
    let echoed = echoing(&mut open).await;
    let per = (rss1.saturating_sub(rss0)) as f64 / sessions as f64;
    row(
        &format!("{sessions} idle terminals: server memory per session"),
        format!("{per:.1} KiB"),
        &format!(
            "RSS {rss0} → {rss1} KiB; opened in {:.1} s",
            opened_in.as_secs_f64()
        ),
        "—".into(),
        "< 100 KiB",
    );
    let fds_per = (fd1.saturating_sub(fd0)) as f64 / sessions as f64;
    row(
        &format!("{sessions} idle terminals: descriptors per session; all echo"),
        format!("{fds_per:.1} fds"),
        &format!("{echoed}/{sessions} echoed"),
        "—".into(),
        "all echo",
    );
    for socket in open.iter_mut() {
        let _ = socket.close(None).await;
    }
    per
}

/// Figure 4, continued: concurrent execs of `sleep 1`, all of which must succeed.
pub async fn concurrent_execs(b: &Bench) {
    let concurrent = env_usize("WSS_BENCH_CONCURRENT", 200);
    let started = Instant::now();
    let runs = (0..concurrent).map(|_| async {
        let (_, out) = b.server.exec(&b.local, &["sleep", "1"]).await;
        out["exit_code"] == 0
    });
    let ok = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count();
    row(
        &format!("{concurrent} concurrent execs of `sleep 1`"),
        format!("{ok}/{concurrent} ok"),
        &format!("wall {:.1} s", started.elapsed().as_secs_f64()),
        "—".into(),
        "all succeed",
    );
}
