//! The command-line client (SPEC §13), in the same binary as the server: `workspaces`, `shell`,
//! `exec` and `cp`, against a server at `--url` with `--token`.

mod client;
mod cp;
mod exec;
mod shell;

use clap::{Parser, Subcommand};

pub use self::client::Client;

/// The subcommands, as the first argument names them.
pub const COMMANDS: &[&str] = &["workspaces", "shell", "exec", "cp"];

#[derive(Parser, Debug)]
#[command(name = "workspace-server", about = "A client of a workspace server")]
pub struct Cli {
    /// The server.
    #[arg(
        long,
        global = true,
        env = "WORKSPACE_SERVER_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// The bearer token: an admin, org or workspace token.
    #[arg(
        long,
        global = true,
        env = "WORKSPACE_SERVER_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Lists the workspaces the token can see.
    Workspaces {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Attaches this terminal to a resumable session in a workspace. `~.` at the start of a
    /// line disconnects, `~&` detaches leaving the session running, `~~` sends a `~`.
    Shell {
        /// The workspace, by id or unique name.
        workspace: String,
        /// Resumes this session instead of opening a new one.
        #[arg(long)]
        session: Option<String>,
    },
    /// Runs a command in a workspace; exits with its exit code (124 on timeout).
    Exec {
        workspace: String,
        /// Seconds before the command is killed (1-120; the server's default when absent).
        #[arg(long)]
        timeout: Option<f64>,
        /// `K=V`, repeatable.
        #[arg(long = "env", value_parser = parse_env)]
        env: Vec<(String, String)>,
        #[arg(long)]
        cwd: Option<String>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
    /// Copies a file or directory to or from a workspace: one side is `<workspace>:<path>`.
    Cp { from: String, to: String },
}

fn parse_env(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{raw:?} is not K=V")),
    }
}

/// Runs the command line `args` (the program name first); answers the process's exit code.
pub async fn run(args: Vec<String>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let client = match Client::new(&cli.url, cli.token.as_deref()) {
        Ok(client) => client,
        Err(e) => return fail(&e),
    };
    let done = match cli.command {
        Command::Workspaces { json } => client.print_workspaces(json).await.map(|()| 0),
        Command::Shell { workspace, session } => shell::run(&client, &workspace, session).await,
        Command::Exec {
            workspace,
            timeout,
            env,
            cwd,
            argv,
        } => exec::run(&client, &workspace, timeout, env, cwd, argv).await,
        Command::Cp { from, to } => cp::run(&client, &from, &to).await.map(|()| 0),
    };
    done.unwrap_or_else(|e| fail(&e))
}

fn fail(e: &anyhow::Error) -> u8 {
    eprintln!("workspace-server: {e:#}");
    1
}
