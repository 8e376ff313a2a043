//! What the figures share: statistics, table rows, timed commands, PTYs and TTY execs.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use portable_pty::{PtyPair, PtySize, native_pty_system};

pub const ROUNDS: usize = 3;
/// Raw bytes fed to base64 for the throughput test: 150 MiB → 200 MiB of output.
const THROUGHPUT_RAW: u64 = 150 * 1024 * 1024;

/// The flood every throughput figure carries.
pub fn flood_script() -> String {
    format!("head -c {THROUGHPUT_RAW} /dev/zero | base64")
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median and spread (min–max) of samples.
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(mut v: Vec<f64>) -> Stats {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        Stats {
            median: v[v.len() / 2],
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    pub fn mibs(&self) -> String {
        format!("{:.0} MiB/s [{:.0}–{:.0}]", self.median, self.min, self.max)
    }

    pub fn ms(&self) -> String {
        format!("{:.1} ms [{:.1}–{:.1}]", self.median, self.min, self.max)
    }
}

pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

pub fn row(figure: &str, value: String, reference: &str, ratio: String, goal: &str) {
    println!("| {figure} | {value} | {reference} | {ratio} | {goal} |");
}

/// A row of durations: the server's against a reference's, as a ratio of medians.
pub fn times_row(figure: &str, server: &Stats, reference: &str, against: &Stats, goal: &str) {
    row(
        figure,
        server.ms(),
        &format!("{reference} {}", against.ms()),
        format!("{:.2}×", server.median / against.median),
        goal,
    );
}

/// Milliseconds a command takes, asserting it succeeds.
pub fn timed_command(program: &str, args: &[&str]) -> f64 {
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{program} {args:?}");
    started.elapsed().as_secs_f64() * 1000.0
}

/// The machine's busy and total CPU time so far, in ticks, from `/proc/stat`.
pub fn machine_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let v: Vec<f64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect();
    let total: f64 = v.iter().sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

/// Bytes read from `reader` until its end.
pub fn count_to_end(mut reader: impl Read) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    total
}

pub fn pty(cols: u16, rows: u16) -> PtyPair {
    native_pty_system()
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap()
}

/// MiB/s of what `cmd` prints under a local PTY, read from the PTY by this process.
pub fn pty_throughput(cmd: portable_pty::CommandBuilder) -> f64 {
    let pair = pty(200, 50);
    let started = Instant::now();
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let total = count_to_end(pair.master.try_clone_reader().unwrap());
    let secs = started.elapsed().as_secs_f64();
    let _ = child.wait();
    total as f64 / 1048576.0 / secs
}

/// `sh -c script` as a TTY exec of the Engine API (stdin attached when `stdin`), without the
/// server; returns its id.
pub async fn tty_exec(docker: &Docker, container: &str, script: &str, stdin: bool) -> String {
    let options = CreateExecOptions::<String> {
        cmd: Some(vec!["sh".into(), "-c".into(), script.into()]),
        attach_stdin: Some(stdin),
        attach_stdout: Some(true),
        tty: Some(true),
        ..Default::default()
    };
    docker.create_exec(container, options).await.unwrap().id
}

/// Starts TTY exec `id`, attached.
pub async fn start_tty(docker: &Docker, id: &str) -> StartExecResults {
    let options = StartExecOptions {
        tty: true,
        ..Default::default()
    };
    docker.start_exec(id, Some(options)).await.unwrap()
}
