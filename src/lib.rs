//! workspace-server: a browser terminal, exec, files and plugins for agent workspaces, whether a
//! workspace is a local Docker container or an EC2 instance reached through EC2 Instance Connect.
//!
//! # Layout
//!
//! - [`app`] wires state and serves; [`config`] is the typed start-up configuration.
//! - [`http`] is the only module that knows axum: routes, extractors, middleware, `ApiError`.
//!   Its handlers parse, call one service function and map the answer.
//! - [`services`]: one module per use case (workspaces, tokens, terminal, exec, files, plugins,
//!   allowlists, health); each writes its own audit rows through [`audit`]. Beside them:
//!   [`access`] (authentication and workspace access), [`observe`] (status follows the engine).
//! - Domain: [`workspace`] (ids, records, `Placement`), [`auth`] (tokens, `Caller`, decisions),
//!   [`exec`] (the run loop), [`files`] (`RelPath`), [`plugins`], [`terminal`] (the bridge).
//! - Ports: [`store`] (SQLite and PostgreSQL behind one trait), [`backend`] (where workspaces run).
//! - Support: [`metrics`], [`ratelimit`], [`sync`] (the policy for poisoned locks).

pub mod access;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backend;
pub mod cli;
pub mod config;
pub mod control_plane;
pub mod exec;
pub mod files;
pub mod http;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod plugins;
pub mod ratelimit;
pub mod services;
pub mod store;
pub mod sync;
pub mod terminal;
pub mod workspace;
