//! The `workspace-server` binary: parse configuration, start logging, serve until a signal.

use clap::Parser;
use tracing_subscriber::EnvFilter;
use workspace_server::app::App;
use workspace_server::config::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "workspace-server stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    if let Some(token) = app.generated_admin_token() {
        // Shown once, on stderr, and never logged: set ADMIN_TOKEN to keep a stable token.
        eprintln!(
            "\nNo ADMIN_TOKEN was set, so this run generated one (valid until the server stops):\n\n    \
             ADMIN_TOKEN={token}\n\nSet ADMIN_TOKEN yourself to keep the same token across restarts.\n"
        );
    }
    tracing::info!(addr = %app.local_addr()?, "workspace-server listening");
    app.serve(shutdown_signal()).await
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown requested");
}
