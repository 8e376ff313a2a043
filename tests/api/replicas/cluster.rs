//! Two server processes on one fresh PostgreSQL database behind HAProxy on loopback, started
//! from the configuration `docs/deployment.md` shows (`docs/infra/haproxy-replicas.cfg`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::session_client::{Attached, attach_url};
use crate::support::fresh_postgres_url;
use crate::support::process::{eventually, free_port};
use crate::support::server::{Server, TOKEN, admin_call};

/// Two replicas and the load balancer in front of them.
pub struct Cluster {
    pub a: Server,
    pub b: Server,
    /// The load balancer's base URL.
    pub lb: String,
    /// The flags every replica of this cluster starts with (its database).
    pub args: [String; 1],
    haproxy: Child,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn host_port(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

impl Cluster {
    pub async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let args = [format!("--database-url={}", fresh_postgres_url().await)];
        let mut replicas = Vec::new();
        for name in ["a", "b"] {
            let data = dir.path().join(name);
            std::fs::create_dir_all(&data).unwrap();
            replicas.push(Server::start(&data, &args, &[]).await);
        }
        let (b, a) = (replicas.pop().unwrap(), replicas.pop().unwrap());
        let lb_port = free_port();
        let config = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/infra/haproxy-replicas.cfg"
        );
        let haproxy = Command::new("haproxy")
            .args(["-db", "-f", config])
            .env("WSS_LB_BIND", format!("127.0.0.1:{lb_port}"))
            .env("WSS_REPLICA_A", host_port(&a))
            .env("WSS_REPLICA_B", host_port(&b))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (scripts/test.sh installs it)");
        let cluster = Cluster {
            a,
            b,
            lb: format!("http://127.0.0.1:{lb_port}"),
            args,
            haproxy,
            client: reqwest::Client::new(),
            _dir: dir,
        };
        let up = eventually(20, || {
            std::net::TcpStream::connect(format!("127.0.0.1:{lb_port}")).is_ok()
        })
        .await;
        assert!(up, "haproxy did not listen");
        cluster
    }

    /// One more replica on the same database, with a data directory of its own.
    pub async fn another(&self, name: &str) -> Server {
        let data = self._dir.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        Server::start(&data, &self.args, &[]).await
    }

    /// A request as admin through the load balancer.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        admin_call(&self.client, &format!("{}{path}", self.lb), method, body).await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.haproxy.kill();
        let _ = self.haproxy.wait();
    }
}

/// The terminal of workspace `id` on `base` (`http://…`) with `query`, as admin.
pub async fn terminal(base: &str, id: &str, query: &str) -> Attached {
    let url = format!(
        "{}/workspaces/{id}/terminal?{query}",
        base.replacen("http", "ws", 1)
    );
    attach_url(&url, Some(TOKEN)).await.unwrap()
}

/// The NDJSON output of run `exec_id` read from `server` from byte `since`.
pub async fn output(server: &Server, id: &str, exec_id: &str, since: u64) -> Vec<Value> {
    let res = server
        .client
        .get(server.url(&format!(
            "/workspaces/{id}/exec/{exec_id}/output?since={since}"
        )))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
