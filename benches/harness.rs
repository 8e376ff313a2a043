//! The benchmark harness (`scripts/bench.sh harness`): the server against the physical limits on
//! this machine and the tools users would pick instead, measured side by side in one run.
//! Needs the Docker engine, the busybox test image and the test sshd (the script starts them).

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::{SinkExt, StreamExt};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const TOKEN: &str = "bench-admin-token";
/// Raw bytes fed to base64 for the throughput test: 150 MiB → 200 MiB of output.
const THROUGHPUT_RAW: u64 = 150 * 1024 * 1024;
const ROUNDS: usize = 3;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median and spread (min–max) of samples.
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Stats {
        median: v[v.len() / 2],
        min: v[0],
        max: v[v.len() - 1],
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn row(figure: &str, value: String, reference: &str, ratio: String, goal: &str) {
    println!("| {figure} | {value} | {reference} | {ratio} | {goal} |");
}

/// The server as a child process, so its memory and descriptors are its own.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the server on `data` (restarting on the same directory keeps its workspaces).
    fn start(image: &str, data: &std::path::Path) -> Server {
        let port = free_port();
        let aws = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/aws");
        let child = Command::new(env!("CARGO_BIN_EXE_workspace-server"))
            .args([
                format!("--port={port}"),
                format!("--data-dir={}", data.display()),
                format!("--admin-token={TOKEN}"),
                "--rate-limit=0".into(),
                format!("--workspace-image={image}"),
                "--workspace-privileged=false".into(),
                format!("--aws-cli={aws}"),
                "--log=warn".into(),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, base }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// CPU seconds (user + system) the server has used so far.
    fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
        ticks / clock_ticks()
    }

    fn ws(&self) -> String {
        self.base.replacen("http://", "ws://", 1)
    }
}

impl Drop for Server {
    /// SIGTERM, as an operator would stop it: the server then closes its pooled ssh masters
    /// (a SIGKILL would leave them running). SIGKILL only if it is still up after 10 s.
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/proc` reports CPU time in USER_HZ ticks, which Linux fixes at 100 per second.
fn clock_ticks() -> f64 {
    100.0
}

/// The machine's busy and total CPU time so far, in ticks, from `/proc/stat`.
fn machine_cpu() -> (f64, f64) {
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

/// Where the CPU went during one measured run: the server's share and the machine's load.
#[derive(Default, Clone, Copy)]
struct CpuUse {
    /// Server CPU seconds per MiB carried.
    server_ms_per_mib: f64,
    /// Fraction of all the machine's CPU time that was busy.
    machine_busy: f64,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let res = client
        .post(url)
        .bearer_auth(TOKEN)
        .header("Accept", "application/json")
        .json(&body)
        .send()
        .await
        .unwrap();
    res.json().await.unwrap_or(Value::Null)
}

async fn local_workspace(client: &reqwest::Client, base: &str) -> String {
    let created = post(
        client,
        format!("{base}/workspaces"),
        json!({ "name": "bench" }),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    loop {
        let ws: Value = client
            .get(format!("{base}/workspaces/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ws["status"] != "provisioning" {
            assert_eq!(ws["status"], "online", "{ws}");
            return id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn eic_workspace(client: &reqwest::Client, base: &str, n: u64) -> String {
    let body = json!({ "name": "bench-ec2", "runtime": "hermes", "instance_id": format!("i-{:017x}", 0xbe_0000 + n) });
    post(client, format!("{base}/workspaces"), body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn terminal(server: &Server, id: &str) -> Socket {
    let mut req = format!("{}/workspaces/{id}/terminal?cols=200&rows=50", server.ws())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// Reads output until `marker` appears (checking only what is new); returns the bytes read.
async fn read_until(socket: &mut Socket, marker: &[u8]) -> u64 {
    let mut total = 0u64;
    let mut tail: Vec<u8> = Vec::new();
    while let Some(msg) = socket.next().await {
        if let Message::Binary(b) = msg.unwrap() {
            total += b.len() as u64;
            tail.extend_from_slice(&b);
            if tail.windows(marker.len()).any(|w| w == marker) {
                return total;
            }
            let keep = tail.len().saturating_sub(marker.len());
            tail.drain(..keep);
        }
    }
    panic!(
        "the terminal closed before {:?}",
        String::from_utf8_lossy(marker)
    );
}

fn flood_command() -> String {
    format!("head -c {THROUGHPUT_RAW} /dev/zero | base64; echo E$((1+1))ND\r")
}

/// MiB/s of the flood through the server's terminal, and where the CPU went meanwhile.
async fn ws_throughput(server: &Server, id: &str) -> (f64, CpuUse) {
    let mut socket = terminal(server, id).await;
    socket
        .send(Message::Text("stty -echo\r".into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (cpu0, (busy0, total0)) = (server.cpu_secs(), machine_cpu());
    let started = Instant::now();
    socket
        .send(Message::Text(flood_command().into()))
        .await
        .unwrap();
    let bytes = read_until(&mut socket, b"E2ND").await;
    let secs = started.elapsed().as_secs_f64();
    let (cpu1, (busy1, total1)) = (server.cpu_secs(), machine_cpu());
    let _ = socket.close(None).await;
    let mib = bytes as f64 / 1048576.0;
    let cpu = CpuUse {
        server_ms_per_mib: (cpu1 - cpu0) * 1000.0 / mib,
        machine_busy: (busy1 - busy0) / (total1 - total0).max(1.0),
    };
    (mib / secs, cpu)
}

/// MiB/s of the same bytes read straight from a PTY on this machine.
fn raw_pty_throughput() -> f64 {
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 50,
            cols: 200,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new("sh");
    cmd.args([
        "-c",
        &format!("stty -echo; head -c {THROUGHPUT_RAW} /dev/zero | base64"),
    ]);
    let started = Instant::now();
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = child.wait();
    total as f64 / 1048576.0 / secs
}

/// MiB/s of the flood through the Engine API directly (a TTY exec read by this process): what
/// Docker itself allows, without the server.
async fn direct_api_throughput(docker: &Docker, container: &str) -> f64 {
    let cmd = format!("head -c {THROUGHPUT_RAW} /dev/zero | base64");
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions::<String> {
                cmd: Some(vec!["sh".into(), "-c".into(), cmd]),
                attach_stdout: Some(true),
                tty: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut total = 0u64;
    let options = bollard::exec::StartExecOptions {
        tty: true,
        ..Default::default()
    };
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&exec.id, Some(options)).await.unwrap()
    {
        while let Some(Ok(chunk)) = output.next().await {
            total += chunk.into_bytes().len() as u64;
        }
    }
    total as f64 / 1048576.0 / started.elapsed().as_secs_f64()
}

/// Round trips of one byte through `cat` behind the server's terminal, in µs.
async fn ws_echo(server: &Server, id: &str, n: usize) -> Vec<f64> {
    let mut socket = terminal(server, id).await;
    socket
        .send(Message::Text("stty raw -echo; cat\r".into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Drain the prompt and anything else already sent.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), socket.next()).await {}
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        socket
            .send(Message::Binary(vec![b'x'].into()))
            .await
            .unwrap();
        loop {
            if let Message::Binary(b) = socket.next().await.unwrap().unwrap()
                && b.contains(&b'x')
            {
                break;
            }
        }
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let _ = socket.close(None).await;
    samples
}

/// The same round trip through a TTY exec of the Engine API, without the server, in µs.
async fn direct_api_echo(docker: &Docker, container: &str, n: usize) -> Vec<f64> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions::<String> {
                cmd: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "stty raw -echo; echo ready; exec cat".into(),
                ]),
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                tty: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let options = bollard::exec::StartExecOptions {
        tty: true,
        ..Default::default()
    };
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = docker.start_exec(&exec.id, Some(options)).await.unwrap()
    else {
        panic!("detached");
    };
    use tokio::io::AsyncWriteExt;
    let mut seen = String::new();
    while !seen.contains("ready") {
        seen.push_str(&String::from_utf8_lossy(
            &output.next().await.unwrap().unwrap().into_bytes(),
        ));
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        input.write_all(b"x").await.unwrap();
        input.flush().await.unwrap();
        while !output
            .next()
            .await
            .unwrap()
            .unwrap()
            .into_bytes()
            .contains(&b'x')
        {}
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let _ = input.write_all(&[4]).await;
    samples
}

/// The same round trip straight through a PTY running `cat`, in µs.
fn raw_pty_echo(n: usize) -> Vec<f64> {
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 24,
            cols: 80,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
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
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let _ = child.kill();
    samples
}

async fn time_exec(client: &reqwest::Client, base: &str, id: &str) -> f64 {
    let started = Instant::now();
    let out = post(
        client,
        format!("{base}/workspaces/{id}/exec"),
        json!({ "argv": ["true"] }),
    )
    .await;
    assert_eq!(out["exit_code"], 0, "{out}");
    started.elapsed().as_secs_f64() * 1000.0
}

/// `true` through the Engine API directly: create, start (attached), inspect.
async fn direct_api_exec(docker: &Docker, container: &str) -> f64 {
    let started = Instant::now();
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions::<String> {
                cmd: Some(vec!["true".into()]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&exec.id, None).await.unwrap()
    {
        while output.next().await.is_some() {}
    }
    let inspect = docker.inspect_exec(&exec.id).await.unwrap();
    assert_eq!(inspect.exit_code, Some(0));
    started.elapsed().as_secs_f64() * 1000.0
}

fn timed_command(program: &str, args: &[&str]) -> f64 {
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

/// An ssh ControlMaster to the test sshd through the same stand-in tunnel, outside the server.
struct ControlMaster {
    dir: tempfile::TempDir,
    child: Child,
}

impl ControlMaster {
    fn open(instance: &str) -> ControlMaster {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(ok.success());
        let public = std::fs::read_to_string(dir.path().join("key.pub")).unwrap();
        let aws = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/aws");
        let pushed = Command::new(aws)
            .args([
                "--region",
                "us-east-2",
                "ec2-instance-connect",
                "send-ssh-public-key",
                "--instance-id",
                instance,
                "--instance-os-user",
                "ubuntu",
                "--ssh-public-key",
                public.trim(),
            ])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(pushed.success());
        let ctl = dir.path().join("ctl");
        let child = Command::new("ssh")
            .args(["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ControlMaster=yes"])
            .arg("-o").arg(format!("ControlPath={}", ctl.display()))
            .arg("-o").arg(format!("ProxyCommand={aws} --region us-east-2 ec2-instance-connect open-tunnel --instance-id {instance}"))
            .arg("-i").arg(&key)
            .args(["-N", "-l", "ubuntu", instance])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if ctl.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        ControlMaster { dir, child }
    }

    /// MiB/s of the flood through this master with a PTY (`ssh -tt`), read by this process.
    fn flood(&self) -> f64 {
        let ctl = format!("ControlPath={}", self.dir.path().join("ctl").display());
        let started = Instant::now();
        let mut child = Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                &ctl,
                "-o",
                "ControlMaster=no",
                "-tt",
                "-l",
                "ubuntu",
                "x",
                "--",
            ])
            .arg(format!("head -c {THROUGHPUT_RAW} /dev/zero | base64"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        let _ = child.wait();
        total as f64 / 1048576.0 / started.elapsed().as_secs_f64()
    }

    /// MiB/s of the flood through this master by `ssh -tt` under a local PTY, read from the PTY:
    /// the EIC terminal's own shape, without the server.
    fn flood_under_pty(&self) -> f64 {
        let ctl = format!("ControlPath={}", self.dir.path().join("ctl").display());
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 50,
                cols: 200,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new("ssh");
        cmd.args([
            "-F",
            "/dev/null",
            "-o",
            &ctl,
            "-o",
            "ControlMaster=no",
            "-tt",
            "-l",
            "ubuntu",
            "x",
            "--",
        ]);
        cmd.arg(format!("head -c {THROUGHPUT_RAW} /dev/zero | base64"));
        let started = Instant::now();
        let mut child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        let _ = child.wait();
        total as f64 / 1048576.0 / started.elapsed().as_secs_f64()
    }

    fn exec_true(&self) -> f64 {
        let ctl = format!("ControlPath={}", self.dir.path().join("ctl").display());
        timed_command(
            "ssh",
            &[
                "-F",
                "/dev/null",
                "-o",
                &ctl,
                "-o",
                "ControlMaster=no",
                "-T",
                "-l",
                "ubuntu",
                "x",
                "--",
                "true",
            ],
        )
    }
}

impl Drop for ControlMaster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::main]
async fn main() {
    let image =
        std::env::var("WSS_TEST_IMAGE").unwrap_or_else(|_| "workspace-server-test:busybox".into());
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&image, data.path());
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let local = local_workspace(&client, &base).await;
    let container = format!("ws-{}", &local[..12]);
    let remote = eic_workspace(&client, &base, 1).await;
    let docker = Docker::connect_with_unix_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .unwrap();
    let bench_started = Instant::now();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("machine: {cpus} CPUs; image {image}; {ROUNDS} rounds per figure; median [min–max]\n");
    println!("| figure | server | reference | ratio | goal |");
    println!("| --- | --- | --- | --- | --- |");

    // 1. Terminal throughput.
    let cm = ControlMaster::open("i-00000000000bee0ab");
    let mut ssh_pty = Vec::new();
    let (mut dock_cpu, mut eic_cpu) = (Vec::new(), Vec::new());
    let (mut raw, mut dock, mut eic, mut api_t, mut ssh_t) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        raw.push(
            tokio::task::spawn_blocking(raw_pty_throughput)
                .await
                .unwrap(),
        );
        let (rate, cpu) = ws_throughput(&server, &local).await;
        dock.push(rate);
        dock_cpu.push(cpu);
        api_t.push(direct_api_throughput(&docker, &container).await);
        let (rate, cpu) = ws_throughput(&server, &remote).await;
        eic.push(rate);
        eic_cpu.push(cpu);
        ssh_t.push(cm.flood());
        ssh_pty.push(tokio::task::block_in_place(|| cm.flood_under_pty()));
    }
    drop(cm);
    let ssh_pty = stats(ssh_pty);
    let (raw, dock, eic, api_t, ssh_t) = (
        stats(raw),
        stats(dock),
        stats(eic),
        stats(api_t),
        stats(ssh_t),
    );
    let mibs = |s: &Stats| format!("{:.0} MiB/s [{:.0}–{:.0}]", s.median, s.min, s.max);
    let pct = |a: &Stats, b: &Stats| format!("{:.0}%", a.median / b.median * 100.0);
    row(
        "terminal throughput, Docker (200 MiB base64)",
        mibs(&dock),
        &format!("raw PTY {}", mibs(&raw)),
        pct(&dock, &raw),
        "≥ 95% of raw PTY",
    );
    row(
        "terminal throughput, Docker",
        mibs(&dock),
        &format!("Engine API TTY exec, no server {}", mibs(&api_t)),
        pct(&dock, &api_t),
        "—",
    );
    row(
        "terminal throughput, EIC (200 MiB base64)",
        mibs(&eic),
        &format!("raw PTY {}", mibs(&raw)),
        pct(&eic, &raw),
        "≥ 95% of raw PTY",
    );
    row(
        "terminal throughput, EIC",
        mibs(&eic),
        &format!("ssh -tt on a ControlMaster, no server {}", mibs(&ssh_t)),
        pct(&eic, &ssh_t),
        "—",
    );
    row(
        "terminal throughput, EIC",
        mibs(&eic),
        &format!(
            "the same ssh -tt under a local PTY, no server {}",
            mibs(&ssh_pty)
        ),
        pct(&eic, &ssh_pty),
        "—",
    );
    for (name, runs) in [("Docker", &dock_cpu), ("EIC", &eic_cpu)] {
        let per_mib = stats(runs.iter().map(|c| c.server_ms_per_mib).collect());
        let busy = stats(runs.iter().map(|c| c.machine_busy * 100.0).collect());
        row(
            &format!("terminal throughput, {name}: where the CPU went"),
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

    // 2. Keystroke echo latency.
    let echoes = env_usize("WSS_BENCH_ECHOES", 500);
    let mut raw_echo = tokio::task::spawn_blocking(move || raw_pty_echo(echoes))
        .await
        .unwrap();
    let mut ws_echo_d = ws_echo(&server, &local, echoes).await;
    let mut api_echo = direct_api_echo(&docker, &container, echoes).await;
    let mut ws_echo_e = ws_echo(&server, &remote, echoes).await;
    let (r50, r99) = (
        percentile(&mut raw_echo, 0.5),
        percentile(&mut raw_echo, 0.99),
    );
    let (a50, a99) = (
        percentile(&mut api_echo, 0.5),
        percentile(&mut api_echo, 0.99),
    );
    for (name, samples) in [("Docker", &mut ws_echo_d), ("EIC", &mut ws_echo_e)] {
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

    // 3. Exec latency.
    let runs = env_usize("WSS_BENCH_EXECS", 30);
    let (mut server_d, mut api, mut cli) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        server_d.push(time_exec(&client, &base, &local).await);
        api.push(direct_api_exec(&docker, &container).await);
        cli.push(timed_command("docker", &["exec", &container, "true"]));
    }
    let (server_d, api, cli) = (stats(server_d), stats(api), stats(cli));
    let ms = |s: &Stats| format!("{:.1} ms [{:.1}–{:.1}]", s.median, s.min, s.max);
    row(
        "exec `true`, Docker path",
        ms(&server_d),
        &format!("Engine API {}", ms(&api)),
        format!("{:.2}×", server_d.median / api.median),
        "≤ 1.2× direct API",
    );
    row(
        "exec `true`, Docker path",
        ms(&server_d),
        &format!("`docker exec` {}", ms(&cli)),
        format!("{:.2}×", server_d.median / cli.median),
        "—",
    );
    let (mut pooled, mut fresh, mut master) = (Vec::new(), Vec::new(), Vec::new());
    time_exec(&client, &base, &remote).await;
    let cm = ControlMaster::open("i-00000000000bee0aa");
    for i in 0..runs {
        pooled.push(time_exec(&client, &base, &remote).await);
        let fresh_ws = eic_workspace(&client, &base, 100 + i as u64).await;
        fresh.push(time_exec(&client, &base, &fresh_ws).await);
        master.push(cm.exec_true());
    }
    drop(cm);
    let (pooled, fresh, master) = (stats(pooled), stats(fresh), stats(master));
    row(
        "exec `true`, EIC pooled",
        ms(&pooled),
        &format!("ssh ControlMaster {}", ms(&master)),
        format!("{:.2}×", pooled.median / master.median),
        "≤ 1.2× ControlMaster",
    );
    row(
        "exec `true`, EIC pooled vs unpooled",
        ms(&pooled),
        &format!("unpooled {}", ms(&fresh)),
        format!("{:.1}× faster", fresh.median / pooled.median),
        "≥ 5× faster",
    );

    // 5. Files: 10 MiB through the API against `docker cp`.
    let content = "a".repeat(10 * 1024 * 1024);
    let file_url = format!("{base}/workspaces/{local}/files/bench.txt");
    let (mut put, mut cp_in, mut cp_out) = (Vec::new(), Vec::new(), Vec::new());
    let host_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(host_file.path(), &content).unwrap();
    let host_path = host_file.path().display().to_string();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let res = client
            .put(&file_url)
            .bearer_auth(TOKEN)
            .json(&json!({ "content": content }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        put.push(started.elapsed().as_secs_f64() * 1000.0);
        cp_in.push(timed_command(
            "docker",
            &["cp", &host_path, &format!("{container}:/configs/cp.txt")],
        ));
        cp_out.push(timed_command(
            "docker",
            &[
                "cp",
                &format!("{container}:/configs/cp.txt"),
                "/tmp/wss-bench-cp.txt",
            ],
        ));
    }
    let (put, cp_in, cp_out) = (stats(put), stats(cp_in), stats(cp_out));
    row(
        "write 10 MiB file",
        ms(&put),
        &format!("`docker cp` in {}", ms(&cp_in)),
        format!("{:.2}×", put.median / cp_in.median),
        "—",
    );
    // The API caps reads at 5 MiB: the read figure is for a 5 MiB file.
    let half = "b".repeat(5 * 1024 * 1024);
    client
        .put(format!("{base}/workspaces/{local}/files/half.txt"))
        .bearer_auth(TOKEN)
        .json(&json!({ "content": half }))
        .send()
        .await
        .unwrap();
    let mut get = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let body = client
            .get(format!("{base}/workspaces/{local}/files/half.txt"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(body.len() > 5 * 1024 * 1024);
        get.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let get = stats(get);
    row(
        "read 5 MiB file (the read cap)",
        ms(&get),
        &format!("`docker cp` out of 10 MiB {}", ms(&cp_out)),
        format!("{:.2}×", get.median / cp_out.median),
        "—",
    );

    // 6. Flow control: a client that stops reading while the shell prints without end.
    let mut socket = terminal(&server, &local).await;
    socket
        .send(Message::Text("yes flood-line-of-some-length\r".into()))
        .await
        .unwrap();
    let before = server.rss_kib();
    let mut peak = before;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak = peak.max(server.rss_kib());
    }
    drop(socket);
    row(
        "flow control: server RSS while a client reads nothing for 10 s",
        format!("+{} KiB (peak {} KiB)", peak.saturating_sub(before), peak),
        "client reads nothing; `yes` prints without end",
        "—".into(),
        "bounded; the shell blocks",
    );

    // 4. Scale, on a fresh server process (so earlier phases do not colour its memory).
    drop(server);
    let server = Server::start(&image, data.path());
    let base = server.base.clone();
    let sessions = env_usize("WSS_BENCH_SESSIONS", 1000);
    let _ = client
        .get(format!("{base}/workspaces/{local}"))
        .bearer_auth(TOKEN)
        .send()
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss0, fd0) = (server.rss_kib(), server.fds());
    let started = Instant::now();
    let mut open = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        open.push(terminal(&server, &local).await);
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss1, fd1) = (server.rss_kib(), server.fds());
    let mut echoed = 0;
    for (i, socket) in open.iter_mut().enumerate() {
        socket
            .send(Message::Text(format!("echo s{i}-$((1+1))\r").into()))
            .await
            .unwrap();
    }
    for (i, socket) in open.iter_mut().enumerate() {
        let marker = format!("s{i}-2");
        if tokio::time::timeout(
            Duration::from_secs(30),
            read_until(socket, marker.as_bytes()),
        )
        .await
        .is_ok()
        {
            echoed += 1;
        }
    }
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
    row(
        &format!("{sessions} idle terminals: descriptors per session; all echo"),
        format!(
            "{:.1} fds",
            (fd1.saturating_sub(fd0)) as f64 / sessions as f64
        ),
        &format!("{echoed}/{sessions} echoed"),
        "—".into(),
        "all echo",
    );
    for socket in open.iter_mut() {
        let _ = socket.close(None).await;
    }
    drop(open);
    let concurrent = env_usize("WSS_BENCH_CONCURRENT", 200);
    let started = Instant::now();
    let runs = (0..concurrent).map(|_| {
        let client = client.clone();
        let url = format!("{base}/workspaces/{local}/exec");
        async move { post(&client, url, json!({ "argv": ["sleep", "1"] })).await["exit_code"] == 0 }
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
    println!(
        "\nwhole harness: {:.0} s",
        bench_started.elapsed().as_secs_f64()
    );
    let _ = client
        .delete(format!("{base}/workspaces/{local}"))
        .bearer_auth(TOKEN)
        .send()
        .await;
}
