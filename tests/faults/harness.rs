//! What the fault tests break, each a real component the test owns: the server as its own process,
//! a private Docker engine in a network namespace, a private sshd, a private PostgreSQL cluster.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub const TOKEN: &str = "fault-test-admin-token";

pub fn state_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("WSS_TEST_STATE").unwrap_or_else(|_| "/tmp/workspace-server-test".into()),
    )
}

pub fn test_image() -> String {
    std::env::var("WSS_TEST_IMAGE").unwrap_or_else(|_| "workspace-server-test:busybox".into())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
}

fn sigterm(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
}

fn sigkill(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Every live process below `pid`, with its command line.
pub fn descendants(pid: u32) -> Vec<(u32, String)> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid: u32 = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
        if state != "Z" {
            parent_of.push((p, ppid));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(at) = frontier.pop() {
        for &(p, ppid) in &parent_of {
            if ppid == at {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                    .unwrap_or_default();
                found.push((p, cmd));
                frontier.push(p);
            }
        }
    }
    found
}

/// Polls `check` until it holds or `secs` pass; returns whether it held.
pub async fn eventually(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The server binary as its own process (its children, exit status and descriptors are its own).
pub struct Server {
    child: Child,
    pub base: String,
    pub log: PathBuf,
    pub client: reqwest::Client,
}

impl Server {
    /// Starts the server on `data` with `args` and extra environment.
    pub async fn start(data: &Path, args: &[String], env: &[(&str, String)]) -> Server {
        let port = free_port();
        let log = data.join(format!("server-{port}.log"));
        let aws = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/aws");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_workspace-server"));
        cmd.args([
            format!("--port={port}"),
            format!("--data-dir={}", data.display()),
            format!("--admin-token={TOKEN}"),
            "--rate-limit=0".into(),
            format!("--workspace-image={}", test_image()),
            "--workspace-privileged=false".into(),
            format!("--aws-cli={aws}"),
            "--log=info".into(),
        ])
        .args(args)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            client: reqwest::Client::new(),
        };
        let up = eventually(30, || {
            std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_ok()
        })
        .await;
        assert!(up, "server did not listen: {}", server.log_text());
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Still running (not crashed).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then waits up to `secs` for the exit; returns the exit code.
    pub async fn sigterm(&mut self, secs: u64) -> Option<i32> {
        sigterm(self.pid());
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "server still up {secs}s after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request as admin; returns status and JSON body (null when not JSON).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(TOKEN)
            .header("Accept", "application/json")
            .timeout(Duration::from_secs(60));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A local workspace, once it is online.
    pub async fn local_workspace(&self) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/workspaces",
                Some(json!({ "name": "f", "tier": 3 })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        self.wait_online(&id).await;
        id
    }

    pub async fn wait_online(&self, id: &str) {
        for _ in 0..300 {
            let (_, body) = self.call("GET", &format!("/workspaces/{id}"), None).await;
            match body["status"].as_str() {
                Some("online") => return,
                Some("failed") => panic!("provisioning failed: {body}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("workspace {id} not online");
    }

    /// An EC2 workspace on instance `instance` (reached through the `aws` stand-in).
    pub async fn eic_workspace(&self, instance: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/workspaces",
                Some(json!({ "name": "e", "tier": 3, "instance_id": instance })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// A buffered exec (`Accept: application/json`).
    pub async fn exec(&self, id: &str, argv: &[&str]) -> (u16, Value) {
        self.call(
            "POST",
            &format!("/workspaces/{id}/exec"),
            Some(json!({ "argv": argv })),
        )
        .await
    }

    /// A streamed exec: its NDJSON lines, parsed, once the stream ends (or breaks).
    pub fn exec_stream(&self, id: &str, argv: &[&str]) -> tokio::task::JoinHandle<Vec<Value>> {
        let req = self
            .client
            .post(self.url(&format!("/workspaces/{id}/exec")))
            .bearer_auth(TOKEN)
            .json(&json!({ "argv": argv, "timeout_s": 120 }));
        tokio::spawn(async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            let mut body = res.bytes_stream();
            let mut text = Vec::new();
            while let Some(Ok(chunk)) = body.next().await {
                text.extend_from_slice(&chunk);
            }
            String::from_utf8_lossy(&text)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or(Value::String(l.to_owned())))
                .collect()
        })
    }

    /// Activity rows of `kind` for a workspace.
    pub async fn activity(&self, id: &str, kind: &str) -> Vec<Value> {
        let (status, body) = self
            .call(
                "GET",
                &format!("/workspaces/{id}/activity?type={kind}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body.as_array()
            .cloned()
            .or_else(|| body["activity"].as_array().cloned())
            .unwrap_or_default()
    }

    /// How many exec rows of a workspace ran exactly `argv`.
    pub async fn exec_rows(&self, id: &str, argv: &[&str]) -> usize {
        self.activity(id, "exec")
            .await
            .iter()
            .filter(|r| r["request_body"]["argv"] == json!(argv))
            .count()
    }

    pub async fn terminal(&self, id: &str) -> Socket {
        let url = format!(
            "{}/workspaces/{id}/terminal",
            self.base.replace("http", "ws")
        );
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        socket
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.alive() {
            sigterm(self.pid());
            for _ in 0..100 {
                if !self.alive() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Sends keystrokes and reads output until it contains `needle`.
pub async fn type_and_expect(socket: &mut Socket, keys: &str, needle: &str) {
    use futures_util::SinkExt;
    socket.send(Message::Text(keys.into())).await.unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => seen.push_str(&String::from_utf8_lossy(&b)),
            Ok(Some(Ok(_))) => {}
            other => panic!("no {needle:?} in {seen:?}: {other:?}"),
        }
    }
}

/// How a terminal session ended: the text frames before the close, and the close code and reason.
pub async fn terminal_end(
    socket: &mut Socket,
    secs: u64,
) -> (Vec<String>, Option<(CloseCode, String)>) {
    let mut texts = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => texts.push(t.to_string()),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return (texts, frame.map(|f| (f.code, f.reason.to_string())));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("the socket broke instead of closing: {e}"),
            Ok(None) => panic!("the socket ended without a close frame"),
            Err(_) => panic!("no close within {secs}s"),
        }
    }
}

/// A Docker engine of the test's own, in its own network namespace (so its bridge set-up cannot
/// touch the main engine's), sharing the machine's filesystem and cgroups.
pub struct Engine {
    dir: tempfile::TempDir,
    netns: String,
    daemon: Option<Child>,
}

impl Engine {
    pub fn socket(&self) -> String {
        format!("unix://{}/docker.sock", self.dir.path().display())
    }

    pub async fn start() -> Engine {
        let netns = format!(
            "wss-fault-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        run(Command::new("ip").args(["netns", "add", &netns]));
        run(Command::new("ip").args(["netns", "exec", &netns, "ip", "link", "set", "lo", "up"]));
        let mut engine = Engine {
            dir: tempfile::Builder::new()
                .prefix("wss-engine")
                .tempdir()
                .unwrap(),
            netns,
            daemon: None,
        };
        engine.resume().await;
        // The test image, copied from the main engine (there is no registry).
        let mut save = Command::new("docker")
            .args(["save", &test_image()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = Command::new("docker")
            .args(["-H", &engine.socket(), "load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success());
        assert!(load.status.success(), "{load:?}");
        engine
    }

    /// Starts (or starts again) the daemon on the same state.
    pub async fn resume(&mut self) {
        let d = self.dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.netns))
            .arg("dockerd")
            .arg(format!("--host={}", self.socket()))
            .arg(format!("--data-root={}", d.join("data").display()))
            .arg(format!("--exec-root={}", d.join("exec").display()))
            .arg(format!("--pidfile={}", d.join("docker.pid").display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        let socket = self.socket();
        let up = eventually(60, || {
            Command::new("docker")
                .args(["-H", &socket, "info"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .await;
        assert!(up, "private dockerd did not answer");
    }

    /// Stops the daemon as an operator would (SIGTERM: it stops its containers and exits).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            sigterm(child.id());
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let socket = self.socket();
        if self.daemon.is_some() {
            // Containers first, so nothing of theirs outlives the daemon.
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "docker -H {socket} rm -f $(docker -H {socket} ps -aq) 2>/dev/null"
                ))
                .status();
        }
        if let Some(mut child) = self.daemon.take() {
            sigterm(child.id());
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// An sshd of the test's own on a free port, with the test sshd's config (keys, user).
pub struct Sshd {
    listener: Option<Child>,
}

impl Sshd {
    pub async fn start(port: u16) -> Sshd {
        let config = state_dir().join("sshd/sshd_config");
        assert!(config.exists(), "no test sshd config: run scripts/test.sh");
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(&config)
            .args(["-o", &format!("Port={port}"), "-o", "PidFile=none"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = eventually(10, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
        assert!(up, "private sshd did not listen");
        Sshd {
            listener: Some(child),
        }
    }

    /// Kills the listener and every session process it forked, as a crash of the host's sshd.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.listener.take() {
            let below = descendants(child.id());
            sigkill(child.id());
            for (pid, _) in below {
                sigkill(pid);
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL cluster of the test's own on a free port (trust auth, loopback).
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl Postgres {
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn as_postgres(&self, tool: &str) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
        cmd
    }

    pub fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is not installed: run scripts/test.sh")
            .flatten()
            .map(|e| e.path().join("bin"))
            .max()
            .unwrap();
        let dir = tempfile::Builder::new().prefix("wss-pg").tempdir().unwrap();
        run(Command::new("chown").arg("postgres:").arg(dir.path()));
        let pg = Postgres {
            dir,
            bin,
            port: free_port(),
        };
        run(pg
            .as_postgres("initdb")
            .arg("-D")
            .arg(pg.dir.path().join("data"))
            .args(["-A", "trust", "-U", "postgres"]));
        pg.resume();
        pg
    }

    pub fn resume(&self) {
        let d = self.dir.path();
        run(self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(d.join("data"))
            .arg("-l")
            .arg(d.join("server.log"))
            .args(["-w", "-t", "60", "start", "-o"])
            .arg(format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
                self.port,
                d.display()
            )));
    }

    /// `pg_ctl stop -m fast`: connections are cut, the cluster shuts down.
    pub fn stop(&self) {
        run(self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-w", "-m", "fast", "stop"]));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
