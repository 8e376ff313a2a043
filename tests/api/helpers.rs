//! `TestApp`: the real server on port 0 with a real database, and a real HTTP client.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use workspace_server::app::App;
use workspace_server::config::Config;

mod options;
pub mod statuses;

pub use self::options::{Db, Options};
pub use crate::support::test_image;

/// How long a local workspace may take to come online.
const PROVISION_WAIT: Duration = Duration::from_secs(60);

/// A running server and what is needed to talk to it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub admin: String,
    pub db: Db,
    pub client: reqwest::Client,
    pub generated_admin_token: Option<String>,
    data: std::path::PathBuf,
    options: Options,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    metrics: std::sync::Arc<workspace_server::metrics::Metrics>,
    _dir: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Options::default().spawn().await
    }

    async fn start(mut options: Options) -> TestApp {
        let mut dir = None;
        let mut fresh_dir = || {
            let tmp = std::sync::Arc::new(tempfile::tempdir().unwrap());
            let path = tmp.path().to_owned();
            dir = Some(tmp);
            path
        };
        let (db, data) = match options.db.clone() {
            Some(Db::Sqlite(path)) => (Db::Sqlite(path.clone()), path),
            // Beside PostgreSQL the data directory holds exec output (kept by a restart).
            Some(Db::Postgres(url)) => {
                let data = options.data.clone().unwrap_or_else(&mut fresh_dir);
                (Db::Postgres(url), data)
            }
            None => {
                let path = fresh_dir();
                (Db::Sqlite(path.clone()), path)
            }
        };
        options.db = Some(db.clone());
        let mut args = vec!["workspace-server".to_owned(), "--port".into(), "0".into()];
        args.extend(["--data-dir".into(), data.display().to_string()]);
        if let Db::Postgres(url) = &db {
            args.extend(["--database-url".into(), url.clone()]);
        }
        if let Some(token) = &options.admin_token {
            // `=` form: a generated token may begin with `-`.
            args.push(format!("--admin-token={token}"));
        }
        args.extend(options.args.iter().cloned());
        let config = Config::from_args(args).expect("test config");
        let app = App::build(config).await.expect("server builds");
        let addr = app.local_addr().unwrap();
        let generated_admin_token = app.generated_admin_token().map(str::to_owned);
        let metrics = app.state().metrics.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve(async move {
            let _ = stopped.await;
        }));
        TestApp {
            addr,
            admin: options
                .admin_token
                .clone()
                .or(generated_admin_token.clone())
                .unwrap_or_default(),
            db,
            client: reqwest::Client::new(),
            generated_admin_token,
            data,
            options,
            stop: Some(stop),
            task: Some(task),
            metrics,
            _dir: dir,
        }
    }

    /// Stops the server and waits until it has shut down.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().expect("server shut down cleanly");
        }
    }

    /// Stops this server and starts a new one on the same database and admin token.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        self.options.data = Some(self.data.clone());
        let mut next = TestApp::start(self.options.clone()).await;
        next._dir = self._dir.take();
        next
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.data.clone()
    }

    /// A second handle on the server's own database, for what no route may write.
    pub async fn store(&self) -> std::sync::Arc<dyn workspace_server::store::Store> {
        match &self.db {
            Db::Sqlite(dir) => workspace_server::store::open(None, dir).await.unwrap(),
            Db::Postgres(url) => {
                workspace_server::store::open(Some(url), std::path::Path::new("."))
                    .await
                    .unwrap()
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// Sends `method path` with `token` (none when empty) and an optional JSON body;
    /// returns the status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.request(method, path);
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        json_of(req.send().await.unwrap()).await
    }

    /// `GET path` with `token`.
    pub async fn get_as(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    /// Registers a remote workspace (works without Docker) as admin; returns its id.
    pub async fn create_workspace(&self, body: Value) -> String {
        let mut body = body;
        if body.get("instance_id").is_none() {
            body["instance_id"] = json!("i-0123456789abcdef0");
        }
        let value = self.created("/workspaces", Some(body)).await;
        value["id"].as_str().unwrap().to_owned()
    }

    /// `POST path` as admin, asserting 201; returns the body.
    pub async fn created(&self, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(Method::POST, path, &self.admin, body).await;
        assert_eq!(status, StatusCode::CREATED, "{value}");
        value
    }

    /// Creates a local Docker workspace as admin and waits until it is `online`; returns its id.
    pub async fn create_local(&self, body: Value) -> String {
        let value = self.created("/workspaces", Some(body)).await;
        let id = value["id"].as_str().unwrap().to_owned();
        let ws = self.wait_provisioned(&id).await;
        assert_eq!(ws["status"], "online", "{ws}");
        id
    }

    /// Polls a workspace until it leaves `provisioning`; returns it.
    pub async fn wait_provisioned(&self, id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PROVISION_WAIT;
        loop {
            let (_, ws) = self.get_as(&format!("/workspaces/{id}"), &self.admin).await;
            if ws["status"] != "provisioning" || tokio::time::Instant::now() > deadline {
                return ws;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Deletes a workspace as admin (and with it, a local workspace's container and volume).
    pub async fn remove(&self, id: &str) {
        let (status, body) = self
            .call(
                Method::DELETE,
                &format!("/workspaces/{id}"),
                &self.admin,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// `POST /workspaces/{id}/restart` as admin; returns the status.
    pub async fn restart_workspace(&self, id: &str) -> StatusCode {
        let path = format!("/workspaces/{id}/restart");
        self.call(Method::POST, &path, &self.admin, None).await.0
    }

    /// Runs argv through the exec API in buffered mode; returns status and the JSON record.
    pub async fn exec(&self, id: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .post(&format!("/workspaces/{id}/exec"))
            .bearer_auth(&self.admin)
            .header("Accept", "application/json")
            .json(&body)
            .send()
            .await
            .unwrap();
        json_of(res).await
    }

    /// The standard output of argv run in workspace `id`, asserting it exited 0.
    pub async fn sh(&self, id: &str, script: &str) -> String {
        let (status, out) = self.exec(id, json!({ "argv": ["sh", "-c", script] })).await;
        assert_eq!(
            (status.as_u16(), &out["exit_code"]),
            (200, &json!(0)),
            "{out}"
        );
        out["stdout"].as_str().unwrap().to_owned()
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let res = self.get("/metrics").send().await.unwrap();
        res.text().await.unwrap()
    }

    /// A new workspace token for workspace `id`, created as admin.
    pub async fn workspace_token(&self, id: &str) -> (String, String) {
        let value = self
            .created(&format!("/workspaces/{id}/tokens"), None)
            .await;
        (
            value["auth_token"].as_str().unwrap().to_owned(),
            value["id"].as_str().unwrap().to_owned(),
        )
    }

    /// A new org token, anchored to `org` when given; returns (token, id).
    pub async fn org_token(&self, org: Option<&str>) -> (String, String) {
        let mut body = json!({ "name": "test" });
        if let Some(org) = org {
            body["org_id"] = json!(org);
        }
        let value = self.created("/org/tokens", Some(body)).await;
        (
            value["auth_token"].as_str().unwrap().to_owned(),
            value["id"].as_str().unwrap().to_owned(),
        )
    }

    /// A browser session opened with `bearer`: the `name=value` of its cookie.
    pub async fn browser_session(&self, bearer: &str) -> String {
        let res = self
            .post("/auth/session")
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        set.split(';').next().unwrap().to_owned()
    }
}

/// Runs a browser script of `tests/browser/` with node (Debian's chromium under playwright-core)
/// and answers the one JSON line it prints.
pub async fn browser_script(script: &str, args: &[&str]) -> Value {
    let path = format!("{}/tests/browser/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new("node")
        .arg(path)
        .args(args)
        .output()
        .await
        .expect("node runs (scripts/test.sh installs the browser test's packages)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "no result from the browser: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        statuses::keep(&self.metrics);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Status and JSON body of a response (`Value::Null` for an empty body).
pub async fn json_of(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let bytes = res.bytes().await.unwrap();
    if bytes.is_empty() {
        return (status, Value::Null);
    }
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

/// The test machine's Docker engine, for checking what the server did there.
pub fn docker() -> bollard::Docker {
    bollard::Docker::connect_with_unix_defaults().expect("Docker engine")
}

/// The container of local workspace `id`.
pub fn container_of(id: &str) -> String {
    format!("ws-{}", &id[..12])
}

/// Stops local workspace `id`'s container behind the server's back.
pub async fn stop_container(id: &str) {
    docker()
        .stop_container(
            &container_of(id),
            None::<bollard::query_parameters::StopContainerOptions>,
        )
        .await
        .expect("stop container");
}
