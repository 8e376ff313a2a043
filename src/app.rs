//! Wiring: shared state, `App::build` (binds its own listener) and `serve` until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod serve;

use crate::access::Access;
use crate::auth::generate_token;
use crate::backend::docker::DockerBackend;
use crate::backend::eic::EicBackend;
use crate::backend::{Backend, Backends};
use crate::config::Config;
use crate::control_plane::ControlPlane;
use crate::exec::log::RunLogs;
use crate::metrics::Metrics;
use crate::plugins::registry::Registry;
use crate::ratelimit::RateLimiter;
use crate::services::allowlist::Allowlists;
use crate::services::exec::{Execs, Runs};
use crate::services::files::Files;
use crate::services::health::Health;
use crate::services::plugins::Plugins;
use crate::services::replicas::{Peer, Replicas};
use crate::services::revocations::Revocations;
use crate::services::terminal::Terminals;
use crate::services::tokens::Tokens;
use crate::services::workspaces::Workspaces;
use crate::services::{Ports, Services};
use crate::store;

/// How long in-flight requests get to finish after shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// State shared by every request handler.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub access: Arc<Access>,
    /// The use cases; handlers reach the store and the backends only through them.
    pub services: Services,
    pub metrics: Arc<Metrics>,
    pub rate_limiter: Arc<RateLimiter>,
    /// Where requests matching no API route go (`CANVAS_PROXY_URL`), and the client to go there.
    pub canvas: Option<crate::http::canvas::CanvasBase>,
    pub canvas_client: reqwest::Client,
    /// Cancelled when the server shuts down; long-lived sessions watch it.
    pub shutdown: CancellationToken,
    /// Upgraded sockets (terminal sessions), which the HTTP server no longer counts as open
    /// connections: shutdown waits for them too, so each writes its close frame and audit row.
    pub sessions: TaskTracker,
}

/// A built server: store open, migrations run, listener bound.
pub struct App {
    listener: TcpListener,
    state: AppState,
    generated_admin_token: Option<String>,
    /// Ends this replica's lease renewal (SPEC §16).
    lease: CancellationToken,
}

impl App {
    /// Opens the store, resolves the admin token policy and binds `BIND_ADDR:PORT`.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        // Replicas share one PostgreSQL (SPEC §16): a token generated at start would differ on
        // each of them, so a client's admin token would work on one replica only.
        let on_postgres = config
            .database_url
            .as_deref()
            .is_some_and(store::is_postgres_url);
        if on_postgres && config.admin_token().is_none() {
            anyhow::bail!(
                "ADMIN_TOKEN must be set when DATABASE_URL is PostgreSQL: every replica on one \
                 database must share it (a generated one would differ per replica)"
            );
        }
        let store = store::open(config.database_url.as_deref(), &config.data_dir)
            .await
            .context("opening the database")?;
        let generated_admin_token = match (config.admin_token(), config.is_development()) {
            (None, false) => Some(generate_token()),
            _ => None,
        };
        let admin_token = config.admin_token().or(generated_admin_token.as_deref());
        let access = Access::new(store.clone(), admin_token, config.is_development());
        let addr = SocketAddr::new(config.bind_addr, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let metrics = Arc::new(Metrics::default());
        let canvas = config
            .canvas_proxy_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(crate::http::canvas::CanvasBase::new);
        let control_plane = config
            .cp_provision_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(|url| {
                Arc::new(ControlPlane::new(
                    url,
                    config.molecule_cp_shared_secret.clone(),
                    admin_token.map(str::to_owned),
                    config.org_id().map(str::to_owned),
                ))
            });
        let access = Arc::new(access);
        let shutdown = CancellationToken::new();
        let sessions = TaskTracker::new();
        // The lease outlasts the drain at shutdown, so what this replica still holds then is
        // not taken for lost by the others.
        let lease = CancellationToken::new();
        let peer = Peer::new(
            admin_token,
            config
                .org_id()
                .map(|org| (crate::http::ORG_HEADER, org.to_owned())),
        );
        let advertised = advertised_url(&config, listener.local_addr()?)?;
        let replicas = Replicas::start(store.clone(), advertised, peer, lease.clone())
            .await
            .context("recording this replica")?;
        let ports = Ports {
            store: store.clone(),
            backends: Backends {
                local: config.docker_host().map(|host| {
                    let settings = config.container_settings();
                    Arc::new(DockerBackend::new(host, settings)) as Arc<dyn Backend>
                }),
                remote: Arc::new(EicBackend::new(
                    config.eic(),
                    store.clone(),
                    metrics.clone(),
                )),
            },
        };
        let revocations = Revocations::start(store.clone(), replicas.clone(), &shutdown);
        let services = Services {
            workspaces: Arc::new(Workspaces::new(
                ports.clone(),
                access.clone(),
                control_plane,
            )),
            tokens: Arc::new(Tokens::new(store.clone(), revocations.clone())),
            terminal: Arc::new(Terminals::new(
                ports.clone(),
                access.clone(),
                metrics.clone(),
                (config.terminal_bridge(), config.terminal_sessions()),
                (shutdown.clone(), sessions.clone()),
                replicas.clone(),
            )),
            exec: Arc::new(Execs::new(
                ports.clone(),
                metrics.clone(),
                shutdown.clone(),
                Runs::new(
                    store.clone(),
                    RunLogs::new(config.data_dir.join("exec")),
                    config.exec_retention,
                    replicas.clone(),
                ),
                std::time::Duration::from_secs(config.exec_detached_max_s),
            )),
            files: Arc::new(Files::new(ports.clone(), config.files_max_bytes)),
            plugins: Arc::new(Plugins::new(
                ports.clone(),
                access.clone(),
                config.plugin_staging(),
                config.plugin_allow_unpinned,
                Arc::new(Registry::new(config.plugins_dir.clone())),
            )),
            allowlists: Arc::new(Allowlists::new(store.clone())),
            health: Arc::new(Health::new(ports)),
            replicas,
            revocations,
        };
        // Runs an earlier server left running (it did not shut down cleanly) are over.
        let cut = services.exec.runs.recover().await;
        match cut.context("closing exec runs an earlier server left")? {
            0 => {}
            n => tracing::warn!(
                runs = n,
                "exec runs cut off by the end of an earlier server"
            ),
        }
        let state = AppState {
            rate_limiter: Arc::new(RateLimiter::new(config.rate_limit)),
            access,
            services,
            config: Arc::new(config),
            metrics,
            canvas,
            canvas_client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .context("building the canvas client")?,
            shutdown,
            sessions,
        };
        Ok(App {
            listener,
            state,
            generated_admin_token,
            lease,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin token generated at start when none was configured; shown once by `main`.
    pub fn generated_admin_token(&self) -> Option<&str> {
        self.generated_admin_token.as_deref()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then cancels sessions and drains requests for at most
    /// `SHUTDOWN_GRACE`.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let cancel = self.state.shutdown.clone();
        let sessions = self.state.sessions.clone();
        let replicas = self.state.services.replicas.clone();
        let limits = self.state.config.connection_limits();
        let router = crate::http::router(self.state);
        let signalled = cancel.clone();
        tokio::spawn(async move {
            shutdown.await;
            signalled.cancel();
        });
        let stopping = async {
            cancel.cancelled().await;
            tokio::time::Instant::now() + SHUTDOWN_GRACE
        };
        let (served, deadline) = tokio::join!(
            crate::app::serve::serve(
                self.listener,
                router,
                limits,
                cancel.clone(),
                SHUTDOWN_GRACE
            ),
            stopping
        );
        sessions.close();
        if tokio::time::timeout_at(deadline, sessions.wait())
            .await
            .is_err()
        {
            tracing::warn!("terminal sessions still closing after the shutdown grace period");
        }
        self.lease.cancel();
        replicas.retire().await;
        Ok(served?)
    }
}

/// The address other replicas reach this one at: `REPLICA_ADVERTISE_URL`, else the bound address
/// when it is a specific one (a wildcard bind says nothing another host can use).
fn advertised_url(config: &Config, bound: SocketAddr) -> anyhow::Result<Option<String>> {
    match config
        .replica_advertise_url
        .as_deref()
        .filter(|u| !u.is_empty())
    {
        Some(url) if url.starts_with("http://") => Ok(Some(url.trim_end_matches('/').to_owned())),
        Some(_) => anyhow::bail!("REPLICA_ADVERTISE_URL must be an http:// address"),
        None if bound.ip().is_unspecified() => Ok(None),
        None => Ok(Some(format!("http://{bound}"))),
    }
}
