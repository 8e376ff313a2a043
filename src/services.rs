//! The use cases, between the HTTP layer and the ports (store, backends). A service takes what it
//! needs, writes its own audit rows and answers a typed result or a [`ServiceError`]; handlers
//! only parse, call one service function and map the answer.

pub mod allowlist;
pub mod error;
pub mod exec;
pub mod files;
pub mod health;
pub mod plugins;
pub mod replicas;
pub mod revocations;
pub mod terminal;
pub mod tokens;
pub mod views;
pub mod workspaces;

use std::sync::Arc;

pub use self::error::ServiceError;
use crate::backend::Backends;
use crate::store::Store;
use crate::workspace::{Status, Workspace};

/// The ports most services need.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub backends: Backends,
}

/// Every service, as the HTTP layer holds them.
#[derive(Clone)]
pub struct Services {
    pub workspaces: Arc<workspaces::Workspaces>,
    pub tokens: Arc<tokens::Tokens>,
    pub terminal: Arc<terminal::Terminals>,
    pub exec: Arc<exec::Execs>,
    pub files: Arc<files::Files>,
    pub plugins: Arc<plugins::Plugins>,
    pub allowlists: Arc<allowlist::Allowlists>,
    pub health: Arc<health::Health>,
    /// This replica, among the others on one database (SPEC §16).
    pub replicas: Arc<replicas::Replicas>,
    /// The live terminal sockets of each token, closed when it is revoked.
    pub revocations: Arc<revocations::Revocations>,
}

/// Refuses to work on a removed workspace; a removed one can still be read and deleted.
pub fn live(ws: &Workspace) -> Result<(), ServiceError> {
    if ws.status == Status::Removed {
        return Err(ServiceError::Conflict("workspace has been removed".into()));
    }
    Ok(())
}
