//! API integration tests: the real server, a real HTTP client, real SQLite and PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod helpers;

mod auth_matrix;
mod browser_sessions;
mod canvas;
mod cli;
mod cli_shell;
mod console;
mod control_plane;
mod docker_exec;
mod docker_files;
mod docker_provision;
mod docker_terminal;
mod eic;
mod eic_instances;
mod errors;
mod exec_runs;
mod exec_signals;
mod files_raw;
mod go_clients;
mod health;
mod hostile_input;
mod openapi;
mod persistence;
mod plugin_failures;
mod plugins;
mod replicas;
mod session_client;
mod sessions;
mod sessions_eic;
mod slow_clients;
mod tenant;
mod tickets;
mod tokens;
mod workspaces;
