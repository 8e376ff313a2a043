//! The `workspace-server` binary: parse configuration, start logging, serve until a signal.

use tracing_subscriber::EnvFilter;
use workspace_server::app::App;
use workspace_server::config::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // `workspace-server healthcheck`: for container HEALTHCHECKs, with no curl in the image.
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck().await;
    }
    // `workspace-server workspaces|shell|exec|cp …`: the command-line client.
    let args: Vec<String> = std::env::args().collect();
    // The server takes no bare words, so one that names a command means the client.
    if args
        .iter()
        .skip(1)
        .any(|a| workspace_server::cli::COMMANDS.contains(&a.as_str()))
    {
        return std::process::ExitCode::from(workspace_server::cli::run(args).await);
    }
    let config = Config::from_env().unwrap_or_else(|e| e.exit());
    // Colours only on a terminal: a log file or journal gets plain `key=value` lines.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
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

/// Asks this machine's server (`PORT`, default 8080) for `/health`; exit 0 when it answers 200.
async fn healthcheck() -> std::process::ExitCode {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<bool, std::io::Error>(response.starts_with(b"HTTP/1.1 200"))
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), check).await {
        Ok(Ok(true)) => std::process::ExitCode::SUCCESS,
        _ => std::process::ExitCode::FAILURE,
    }
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
