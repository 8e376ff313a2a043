//! Terminal output: throughput against each reference, where the CPU went, flow control.

use std::time::{Duration, Instant};

use bollard::exec::StartExecResults;
use futures_util::{SinkExt, StreamExt};
use portable_pty::CommandBuilder;
use tokio_tungstenite::tungstenite::Message;

use crate::Bench;
use crate::common::{
    ROUNDS, Stats, flood_script, machine_cpu, pty_throughput, row, start_tty, tty_exec,
};
use crate::ssh::ControlMaster;
use crate::support::process::{cpu_secs, rss_kib};
use crate::support::terminal::{Output, read_into};

/// Where the CPU went during one measured run: the server's share and the machine's load.
#[derive(Default, Clone, Copy)]
pub struct CpuUse {
    /// Server CPU milliseconds per MiB carried.
    server_ms_per_mib: f64,
    /// Fraction of all the machine's CPU time that was busy.
    machine_busy: f64,
}

/// MiB/s of the flood through the server's terminal opened by `query`, and where the CPU went
/// meanwhile.
pub async fn ws_throughput(b: &Bench, id: &str, query: &str) -> (f64, CpuUse) {
    let mut socket = b.typed_at(id, query, "stty -echo\r").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = b.server.pid();
    let (cpu0, (busy0, total0)) = (cpu_secs(pid), machine_cpu());
    let started = Instant::now();
    let flood = format!("{}; echo E$((1+1))ND\r", flood_script());
    socket.send(Message::Text(flood.into())).await.unwrap();
    let mut out = Output::counted();
    assert!(
        read_into(&mut socket, "E2ND", &mut out).await,
        "the terminal closed before the flood's end"
    );
    let secs = started.elapsed().as_secs_f64();
    let (cpu1, (busy1, total1)) = (cpu_secs(pid), machine_cpu());
    let _ = socket.close(None).await;
    let mib = out.len as f64 / 1048576.0;
    let cpu = CpuUse {
        server_ms_per_mib: (cpu1 - cpu0) * 1000.0 / mib,
        machine_busy: (busy1 - busy0) / (total1 - total0).max(1.0),
    };
    (mib / secs, cpu)
}

/// MiB/s of the same bytes read straight from a PTY on this machine.
fn raw_pty_throughput() -> f64 {
    let mut cmd = CommandBuilder::new("sh");
    cmd.args(["-c", &format!("stty -echo; {}", flood_script())]);
    pty_throughput(cmd)
}

/// MiB/s of the flood through the Engine API directly (a TTY exec read by this process): what
/// Docker itself allows, without the server.
async fn direct_api_throughput(b: &Bench) -> f64 {
    let exec = tty_exec(&b.docker, &b.container, &flood_script(), false).await;
    let started = Instant::now();
    let mut total = 0u64;
    if let StartExecResults::Attached { mut output, .. } = start_tty(&b.docker, &exec).await {
        while let Some(Ok(chunk)) = output.next().await {
            total += chunk.into_bytes().len() as u64;
        }
    }
    total as f64 / 1048576.0 / started.elapsed().as_secs_f64()
}

/// MiB/s of every throughput run, and the server's CPU use on both paths.
#[derive(Default)]
struct Runs {
    raw: Vec<f64>,
    docker: Vec<f64>,
    api: Vec<f64>,
    eic: Vec<f64>,
    ssh: Vec<f64>,
    ssh_pty: Vec<f64>,
    docker_cpu: Vec<CpuUse>,
    eic_cpu: Vec<CpuUse>,
}

async fn runs(b: &Bench) -> Runs {
    let cm = ControlMaster::open("i-00000000000bee0ab");
    let mut r = Runs::default();
    for _ in 0..ROUNDS {
        r.raw.push(
            tokio::task::spawn_blocking(raw_pty_throughput)
                .await
                .unwrap(),
        );
        let (rate, cpu) = ws_throughput(b, &b.local, crate::PLAIN).await;
        r.docker.push(rate);
        r.docker_cpu.push(cpu);
        r.api.push(direct_api_throughput(b).await);
        let (rate, cpu) = ws_throughput(b, &b.remote, crate::PLAIN).await;
        r.eic.push(rate);
        r.eic_cpu.push(cpu);
        r.ssh.push(cm.flood());
        r.ssh_pty
            .push(tokio::task::block_in_place(|| cm.flood_under_pty()));
    }
    r
}

/// Figure 1: terminal throughput on both paths against each reference, and where the CPU went.
pub async fn throughput(b: &Bench) {
    let r = runs(b).await;
    let raw = Stats::of(r.raw);
    let docker_refs = vec![("Engine API TTY exec, no server", Stats::of(r.api))];
    let eic_refs = vec![
        ("ssh -tt on a ControlMaster, no server", Stats::of(r.ssh)),
        (
            "the same ssh -tt under a local PTY, no server",
            Stats::of(r.ssh_pty),
        ),
    ];
    let paths = [
        ("Docker", Stats::of(r.docker), docker_refs),
        ("EIC", Stats::of(r.eic), eic_refs),
    ];
    for (path, server, references) in &paths {
        let figure = format!("terminal throughput, {path}");
        let pct = |of: &Stats| format!("{:.0}%", server.median / of.median * 100.0);
        let against_raw = format!("raw PTY {}", raw.mibs());
        let goal = "≥ 95% of raw PTY";
        row(
            &format!("{figure} (200 MiB base64)"),
            server.mibs(),
            &against_raw,
            pct(&raw),
            goal,
        );
        for (reference, of) in references {
            let against = format!("{reference} {}", of.mibs());
            row(&figure, server.mibs(), &against, pct(of), "—");
        }
    }
    for (path, cpu) in [("Docker", &r.docker_cpu), ("EIC", &r.eic_cpu)] {
        cpu_row(path, cpu, b.cpus);
    }
}

/// Where the CPU went during the throughput runs on `path`.
fn cpu_row(path: &str, runs: &[CpuUse], cpus: usize) {
    let per_mib = Stats::of(runs.iter().map(|c| c.server_ms_per_mib).collect());
    let busy = Stats::of(runs.iter().map(|c| c.machine_busy * 100.0).collect());
    row(
        &format!("terminal throughput, {path}: where the CPU went"),
        format!(
            "server {:.1} ms CPU per MiB [{:.1}–{:.1}]",
            per_mib.median, per_mib.min, per_mib.max
        ),
        &format!(
            "machine busy {:.0}% of {cpus} CPUs [{:.0}–{:.0}]",
            busy.median, busy.min, busy.max
        ),
        "—".into(),
        "—",
    );
}

/// Figure 6, flow control: a client that stops reading while the shell prints without end.
pub async fn flow_control(b: &Bench) {
    let socket = b.typed(&b.local, "yes flood-line-of-some-length\r").await;
    let before = rss_kib(b.server.pid());
    let mut peak = before;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak = peak.max(rss_kib(b.server.pid()));
    }
    drop(socket);
    row(
        "flow control: server RSS while a client reads nothing for 10 s",
        format!("+{} KiB (peak {} KiB)", peak.saturating_sub(before), peak),
        "client reads nothing; `yes` prints without end",
        "—".into(),
        "bounded; the shell blocks",
    );
}
