//! Load, bounded: 300 concurrent terminal sessions and a stream of execs on both paths for 60 s,
//! with no errors, and the server's descriptors and memory back to their baseline afterwards.
//! The server runs as its own process so that its descriptors and RSS are its own.

#[path = "../support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use support::process::{descendants, fds, rss_kib};
use support::server::Server;
use support::terminal::{Socket, type_and_expect};

const SESSIONS: usize = 300;
const LOAD_FOR: Duration = Duration::from_secs(60);
/// Terminals opened at once (a browser tab opens one; 300 tabs do not arrive in one instant).
const OPENING: usize = 25;
/// The SQLite pool's bound (`MAX_CONNECTIONS` in src/store/sqlite.rs).
const DB_POOL: usize = 8;

/// Descriptors on the database files (the connection pool grows up to its bound under load and
/// keeps idle connections), and all the others (sockets, pipes, PTYs, everything per session).
fn fd_split(pid: u32) -> (usize, Vec<String>) {
    let mut db = 0;
    let mut others = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let target =
            std::fs::read_link(fd.path()).map_or_else(|_| "?".into(), |t| t.display().to_string());
        if target.contains("workspace-server.db") {
            db += 1;
        } else {
            others.push(target);
        }
    }
    others.sort();
    (db, others)
}

/// Opens `n` terminals, `OPENING` at a time, each checked with an echo.
async fn open_terminals(server: &Server, id: &str, n: usize) -> Vec<Socket> {
    let mut sockets = Vec::with_capacity(n);
    for batch in (0..n).collect::<Vec<_>>().chunks(OPENING) {
        let opened = join_all(batch.iter().map(|i| async move {
            let mut socket = server.terminal(id).await;
            type_and_expect(
                &mut socket,
                &format!("echo T{i}X$((1+1))\r"),
                &format!("T{i}X2"),
            )
            .await;
            socket
        }))
        .await;
        sockets.extend(opened);
    }
    sockets
}

async fn close_all(sockets: Vec<Socket>) {
    join_all(sockets.into_iter().map(|mut s| async move {
        let _ = s.close(None).await;
        // Drain to the close handshake's end, so the server sees a clean close.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            use futures_util::StreamExt;
            while let Some(Ok(_)) = s.next().await {}
        })
        .await;
    }))
    .await;
}

/// Execs one after another on `id` until `until`; returns how many ran and the failures.
async fn exec_stream(server: &Server, id: &str, until: Instant) -> (usize, Vec<String>) {
    let (mut ran, mut failures) = (0, Vec::new());
    while Instant::now() < until {
        let word = format!("n{ran}");
        let (status, body) = server.exec(id, &["echo", &word]).await;
        if status != 200 || body["stdout"] != format!("{word}\n") {
            failures.push(format!("{status} {body}"));
        }
        ran += 1;
    }
    (ran, failures)
}

/// Waits up to 20 s for the server's descriptors other than the database pool's to come back to
/// `baseline`; returns how many there are.
async fn settle_fds(pid: u32, baseline: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = fd_split(pid).1.len();
        if now <= baseline || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_terminals_and_an_exec_stream_for_a_minute_leave_no_trace() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], &[]).await;
    let pid = server.pid();
    let local = server.local_workspace().await;
    let remote = server.eic_workspace("i-0000000000010ad0f").await;

    // Warm-up: one full round, so that the baseline holds what a round keeps by design (the
    // pooled EIC connection, the engine connections hyper keeps idle, allocator arenas).
    let warm = open_terminals(&server, &local, SESSIONS).await;
    let until = Instant::now() + Duration::from_secs(3);
    let (warm_local, warm_remote) = tokio::join!(
        exec_stream(&server, &local, until),
        exec_stream(&server, &remote, until)
    );
    assert!(warm_local.0 > 0 && warm_remote.0 > 0);
    close_all(warm).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base_fds = fds(pid);
    let base_rss = rss_kib(pid);
    let (_, base_others) = fd_split(pid);

    // The load: 300 sessions open for the whole minute, a share of them typing every 5 s, while
    // execs run back to back on the Docker and the EIC path.
    let started = Instant::now();
    let mut sockets = open_terminals(&server, &local, SESSIONS).await;
    let opened_in = started.elapsed();
    let until = started + LOAD_FOR;
    let typing = async {
        let mut round = 0;
        let mut rounds = Vec::new();
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let picked: Vec<&mut Socket> =
                sockets.iter_mut().skip(round % 10).step_by(10).collect();
            let n = picked.len();
            join_all(picked.into_iter().enumerate().map(|(i, s)| async move {
                type_and_expect(
                    s,
                    &format!("echo R{round}S{i}Y$((2+2))\r"),
                    &format!("R{round}S{i}Y4"),
                )
                .await;
            }))
            .await;
            rounds.push(n);
            round += 1;
        }
        rounds
    };
    let (typed, (local_runs, local_failures), (remote_runs, remote_failures)) = tokio::join!(
        typing,
        exec_stream(&server, &local, until),
        exec_stream(&server, &remote, until)
    );
    let peak_fds = fds(pid);
    let peak_rss = rss_kib(pid);
    assert!(
        local_failures.is_empty(),
        "Docker execs failed: {local_failures:?}"
    );
    assert!(
        remote_failures.is_empty(),
        "EIC execs failed: {remote_failures:?}"
    );
    assert!(
        local_runs > 10 && remote_runs > 10,
        "{local_runs} / {remote_runs} execs"
    );
    assert!(!typed.is_empty());
    // Every session is still alive at the end of the minute.
    join_all(sockets.iter_mut().enumerate().map(|(i, s)| async move {
        type_and_expect(s, &format!("echo END{i}Z$((3+3))\r"), &format!("END{i}Z6")).await;
    }))
    .await;
    close_all(sockets).await;

    settle_fds(pid, base_others.len()).await;
    let after_fds = fds(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_rss = rss_kib(pid);
    println!(
        "opened {SESSIONS} in {opened_in:?}; execs {local_runs} Docker + {remote_runs} EIC; \
         fds {base_fds} → {peak_fds} → {after_fds}; RSS {base_rss} → {peak_rss} → {after_rss} KiB"
    );
    assert!(
        peak_fds >= base_fds + SESSIONS,
        "the sessions were not all open at once"
    );
    // Every descriptor but the database pool's is back to the baseline; the pool holds at most
    // its bound (3 descriptors per SQLite connection: the file, its WAL and shared memory).
    let (db_fds, others) = fd_split(pid);
    assert!(
        others.len() <= base_others.len(),
        "descriptors left ({base_fds} → {after_fds}): {base_others:?} → {others:?}; children {:?}",
        descendants(pid)
    );
    assert!(db_fds <= 3 * DB_POOL, "{db_fds} database descriptors");
    // Memory: the allocator keeps part of what the burst of 300 closes used (seen: +0.4 to
    // +4.5 MiB over six runs), so allow 8 MiB. A leak of 30 KiB per session (9 MiB), or of 2.5 KiB
    // per exec (about 3,800 execs run), still fails; descriptors above are checked exactly.
    assert!(
        after_rss <= base_rss + 8 * 1024,
        "RSS did not come back: {base_rss} → {after_rss} KiB"
    );
    let mut server = server;
    assert!(server.alive());
    let container = format!("ws-{}", &local[..12]);
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &container])
        .output();
}
