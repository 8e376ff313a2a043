//! The server binary as its own process, driven as an admin over HTTP and WebSocket.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::process::{eventually, free_port, sigterm};
use super::terminal::Socket;
use super::test_image;

pub const TOKEN: &str = "fault-test-admin-token";

/// The server binary as its own process (its children, exit status and descriptors are its own).
pub struct Server {
    child: Child,
    pub base: String,
    pub log: PathBuf,
    pub client: reqwest::Client,
}

/// How to start the server beyond its data directory.
pub struct Launch<'a> {
    /// Flags after the ones every test server gets.
    pub args: &'a [String],
    pub env: &'a [(&'a str, String)],
    /// The `--log` filter: `info`, which the tests read; a bench wants less, so that logging
    /// does not take from what it measures.
    pub log: &'a str,
    /// Whether the client keeps idle connections, as a client whose requests are timed does.
    pub keep_alive: bool,
}

impl Default for Launch<'_> {
    fn default() -> Self {
        Launch {
            args: &[],
            env: &[],
            log: "info",
            keep_alive: false,
        }
    }
}

impl Server {
    /// Starts the server on `data` with `args` and extra environment.
    pub async fn start(data: &Path, args: &[String], env: &[(&str, String)]) -> Server {
        Server::launch(
            data,
            Launch {
                args,
                env,
                ..Launch::default()
            },
        )
        .await
    }

    /// Starts the server on `data` as `launch` says (restarting on the same directory keeps its
    /// workspaces).
    pub async fn launch(data: &Path, launch: Launch<'_>) -> Server {
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
            format!("--log={}", launch.log),
        ])
        .args(launch.args)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null());
        for (k, v) in launch.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        // Without keep-alive no idle connections are kept: the descriptor counts of the load and
        // fault tests are then the server's own, not how many connections this client parked.
        let idle = if launch.keep_alive { usize::MAX } else { 0 };
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(idle)
                .build()
                .unwrap(),
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
        admin_call(&self.client, &self.url(path), method, body).await
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
        body.as_array().cloned().unwrap_or_default()
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
        self.terminal_at(id, "").await
    }

    /// A terminal opened with `query` (`?cols=…&rows=…`).
    pub async fn terminal_at(&self, id: &str, query: &str) -> Socket {
        let url = format!(
            "{}/workspaces/{id}/terminal{query}",
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

/// A request as admin to `url`; returns status and JSON body (null when not JSON).
pub async fn admin_call(
    client: &reqwest::Client,
    url: &str,
    method: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client
        .request(method, url)
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
