//! The benchmark harness, run by `scripts/bench.sh harness` (which starts Docker and the sshd).

#[path = "../../tests/support/mod.rs"]
mod support;

mod common;
mod echo;
mod exec;
mod files;
mod replicas;
mod runs;
mod scale;
mod sessions;
mod ssh;
mod terminal;

use std::path::Path;
use std::time::Instant;

use bollard::Docker;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use common::ROUNDS;
use support::server::{Launch, Server};
use support::terminal::Socket;

/// What the figures measure, side by side in one run against this machine's physical limits and
/// the tools users would pick instead: the server (its own process, so that its memory and
/// descriptors are its own), a workspace on each path, and the Engine API for the references.
pub struct Bench {
    pub server: Server,
    pub docker: Docker,
    /// A local workspace, and its container.
    pub local: String,
    pub container: String,
    /// An EC2 workspace, through the `aws` stand-in and the test sshd.
    pub remote: String,
    pub cpus: usize,
}

impl Bench {
    /// The server on `data`, with a workspace on each path.
    async fn start(data: &Path) -> Bench {
        let server = launch(data).await;
        let local = server.local_workspace().await;
        let remote = server.eic_workspace(&instance(1)).await;
        Bench {
            server,
            docker: Docker::connect_with_unix_defaults()
                .unwrap()
                .negotiate_version()
                .await
                .unwrap(),
            container: format!("ws-{}", &local[..12]),
            local,
            remote,
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        }
    }

    /// The same workspaces on a fresh server process on `data` (with `args`), started once this
    /// one has stopped.
    async fn restart(self, data: &Path, args: &[String]) -> Bench {
        drop(self.server);
        Bench {
            server: launch_with(data, args).await,
            ..self
        }
    }

    pub async fn terminal(&self, id: &str) -> Socket {
        self.server.terminal_at(id, PLAIN).await
    }

    /// A terminal on workspace `id` in which `keys` have been typed.
    pub async fn typed(&self, id: &str, keys: &str) -> Socket {
        self.typed_at(id, PLAIN, keys).await
    }

    /// The same, with the terminal opened by `query`.
    pub async fn typed_at(&self, id: &str, query: &str, keys: &str) -> Socket {
        let mut socket = self.server.terminal_at(id, query).await;
        socket.send(Message::Text(keys.into())).await.unwrap();
        socket
    }
}

/// The query of the figures' plain terminals.
pub const PLAIN: &str = "?cols=200&rows=50";

/// The instance of EC2 workspace number `n` of this run (each has one of its own).
pub fn instance(n: u64) -> String {
    format!("i-{:017x}", 0xbe_0000 + n)
}

/// The server as the figures want it: quiet logs, and a client that keeps its connections, as
/// one timing requests would.
async fn launch(data: &Path) -> Server {
    launch_with(data, &[]).await
}

pub async fn launch_with(data: &Path, args: &[String]) -> Server {
    let launch = Launch {
        args,
        log: "warn",
        keep_alive: true,
        ..Launch::default()
    };
    Server::launch(data, launch).await
}

#[tokio::main]
async fn main() {
    let data = tempfile::tempdir().unwrap();
    let bench = Bench::start(data.path()).await;
    let started = Instant::now();
    println!(
        "machine: {} CPUs; image {}; {ROUNDS} rounds per figure; median [min–max]\n",
        bench.cpus,
        support::test_image()
    );
    println!("| figure | server | reference | ratio | goal |");
    println!("| --- | --- | --- | --- | --- |");
    if wanted("terminal") {
        terminal::throughput(&bench).await;
    }
    if wanted("echo") {
        echo::echo(&bench).await;
    }
    if wanted("exec") {
        exec::exec(&bench).await;
        runs::keeping(&bench).await;
    }
    if wanted("files") {
        files::files(&bench).await;
    }
    if wanted("sessions") {
        terminal::flow_control(&bench).await;
        sessions::throughput(&bench).await;
        sessions::resume_latency(&bench).await;
    }
    if wanted("replicas") {
        replicas::proxied(data.path()).await;
    }
    let bench = if wanted("scale") {
        // Scale on a fresh server process, so that the earlier figures do not colour its memory.
        let bench = bench.restart(data.path(), &[]).await;
        let plain_kib = scale::terminals(&bench).await;
        scale::concurrent_execs(&bench).await;
        // Detached sessions on a fresh server too, allowed as many as the figure opens.
        let max = format!("--terminal-sessions-max={}", sessions::detached_count());
        // The engine is still ending the thousand terminals' shells: let it settle first.
        tokio::time::sleep(std::time::Duration::from_secs(20)).await;
        let bench = bench.restart(data.path(), &[max]).await;
        sessions::detached(&bench, plain_kib).await;
        bench
    } else {
        bench
    };
    println!("\nwhole harness: {:.0} s", started.elapsed().as_secs_f64());
    let path = format!("/workspaces/{}", bench.local);
    let _ = bench.server.call("DELETE", &path, None).await;
}

/// Whether a group of figures is to run: all of them, unless `WSS_BENCH_ONLY` names some
/// (comma-separated: terminal, echo, exec, files, sessions, replicas, scale).
fn wanted(group: &str) -> bool {
    match std::env::var("WSS_BENCH_ONLY") {
        Ok(only) if !only.trim().is_empty() => only.split(',').any(|g| g.trim() == group),
        _ => true,
    }
}
