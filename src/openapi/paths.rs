//! The operations of the document, one per route and method of `http::ROUTES`. Each is declared
//! on an empty function: utoipa reads the attribute, the router holds the real handler. Bodies
//! name the types the handlers use; every error is an [`ErrorBody`].

#![allow(dead_code)]

use super::ErrorBody;
use crate::plugins::registry::Offered;
use crate::services::allowlist::AllowlistBody;
use crate::services::health::Readiness;
use crate::services::plugins::install::{InstallBody, Installed, Uninstalled};
use crate::services::plugins::{InstalledPlugin, Sources};
use crate::services::tokens::OrgTokenBody;
use crate::services::views::{
    ActivityView, AllowlistView, Done, NewToken, OrgTokenView, Restarted, Revoked, TokenList,
    WorkspaceStatus, WorkspaceTokenView, WorkspaceView,
};
use crate::services::workspaces::request::{CreateBody, PatchBody};

mod io;

pub use io::*;

// ---- open ----

#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The process is up.", body = crate::http::health::Alive)))]
pub fn health() {}

#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Database and backends ready.", body = Readiness),
        (status = 503, description = "Something the server needs is not ready.", body = Readiness)))]
pub fn readyz() {}

#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus / OpenMetrics text.", content_type = "application/openmetrics-text", body = String)))]
pub fn metrics() {}

#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "This document.", body = Object)))]
pub fn openapi() {}

#[utoipa::path(get, path = "/console", tag = "console",
    responses((status = 200, description = "The console's page.", content_type = "text/html", body = String)))]
pub fn console() {}

#[utoipa::path(get, path = "/console/workspaces/{id}", tag = "console",
    params(("id" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "The console's page, on one workspace.", content_type = "text/html", body = String)))]
pub fn console_workspace() {}

#[utoipa::path(get, path = "/console/assets/{name}", tag = "console",
    params(("name" = String, Path, description = "Asset file name")),
    responses(
        (status = 200, description = "A vendored asset of the console.", body = String),
        (status = 404, description = "No such asset.", body = ErrorBody)))]
pub fn console_asset() {}

// ---- workspaces ----

#[utoipa::path(post, path = "/workspaces", tag = "workspaces", request_body = CreateBody,
    security(("admin_token" = []), ("org_token" = [])),
    responses(
        (status = 201, description = "Created; a local one is being provisioned.", body = WorkspaceView),
        (status = 400, description = "Invalid body.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 403, description = "Not allowed for this credential or origin.", body = ErrorBody),
        (status = 413, description = "Over a size limit.", body = ErrorBody),
        (status = 502, description = "The workspace's backend, or a system beyond the server, failed.", body = ErrorBody),
        (status = 503, description = "A backend or the database is not available.", body = ErrorBody)))]
pub fn create_workspace() {}

#[utoipa::path(get, path = "/workspaces", tag = "workspaces",
    security(("admin_token" = []), ("org_token" = [])),
    responses(
        (status = 200, description = "Every workspace the caller may see.", body = Vec<WorkspaceView>),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 400, description = "Invalid request: body, query, path or header.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody),
        (status = 429, description = "Over a rate or a quota.", body = ErrorBody)))]
pub fn list_workspaces() {}

#[utoipa::path(get, path = "/workspaces/{id}", tag = "workspaces",
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "The workspace.", body = WorkspaceView),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such workspace.", body = ErrorBody),
        (status = 400, description = "Invalid request: body, query, path or header.", body = ErrorBody)))]
pub fn get_workspace() {}

#[utoipa::path(patch, path = "/workspaces/{id}", tag = "workspaces", request_body = PatchBody,
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "Updated.", body = WorkspaceView),
        (status = 400, description = "Invalid body.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such workspace.", body = ErrorBody),
        (status = 403, description = "Not allowed for this credential or origin.", body = ErrorBody)))]
pub fn patch_workspace() {}

#[utoipa::path(delete, path = "/workspaces/{id}", tag = "workspaces",
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = []), ("org_token" = [])),
    responses(
        (status = 200, description = "Removed (its container too).", body = WorkspaceStatus),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such workspace.", body = ErrorBody),
        (status = 502, description = "The workspace's backend, or a system beyond the server, failed.", body = ErrorBody)))]
pub fn delete_workspace() {}

#[utoipa::path(post, path = "/workspaces/{id}/restart", tag = "workspaces",
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "Restarted.", body = Restarted),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 503, description = "The workspace's backend is not available.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody)))]
pub fn restart_workspace() {}

#[utoipa::path(delete, path = "/workspaces/{id}/host-key", tag = "workspaces",
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = []), ("org_token" = [])),
    responses(
        (status = 200, description = "The pinned host key is forgotten.", body = Done),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody)))]
pub fn unpin_host_key() {}

#[utoipa::path(get, path = "/workspaces/{id}/activity", tag = "workspaces",
    params(("id" = String, Path, description = "Workspace id"),
        ("type" = Option<String>, Query, description = "Only rows of this kind"),
        ("limit" = Option<u32>, Query, description = "Most rows")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "Audit rows, newest first.", body = Vec<ActivityView>),
        (status = 400, description = "Invalid query.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody)))]
pub fn activity() {}

// ---- tokens ----

#[utoipa::path(post, path = "/workspaces/{id}/tokens", tag = "tokens",
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 201, description = "A new workspace token, shown once.", body = NewToken),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody),
        (status = 429, description = "Over a rate or a quota.", body = ErrorBody)))]
pub fn create_workspace_token() {}

#[utoipa::path(get, path = "/workspaces/{id}/tokens", tag = "tokens",
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "The workspace's tokens (prefixes only).", body = TokenList<WorkspaceTokenView>),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody)))]
pub fn list_workspace_tokens() {}

#[utoipa::path(delete, path = "/workspaces/{id}/tokens/{token_id}", tag = "tokens",
    params(("id" = String, Path, description = "Workspace id"), ("token_id" = String, Path, description = "Token id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "Revoked.", body = Revoked),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such token.", body = ErrorBody),
        (status = 400, description = "Invalid request: body, query, path or header.", body = ErrorBody)))]
pub fn revoke_workspace_token() {}

#[utoipa::path(post, path = "/org/tokens", tag = "tokens", request_body = OrgTokenBody,
    security(("admin_token" = []), ("org_token" = [])),
    responses(
        (status = 201, description = "A new org token, shown once.", body = NewToken),
        (status = 400, description = "Invalid body.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 403, description = "Not allowed for this credential or origin.", body = ErrorBody)))]
pub fn create_org_token() {}

#[utoipa::path(get, path = "/org/tokens", tag = "tokens",
    security(("admin_token" = []), ("org_token" = [])),
    responses(
        (status = 200, description = "Org tokens (prefixes only).", body = TokenList<OrgTokenView>),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody)))]
pub fn list_org_tokens() {}

#[utoipa::path(delete, path = "/org/tokens/{token_id}", tag = "tokens",
    params(("token_id" = String, Path, description = "Token id")),
    security(("admin_token" = []), ("org_token" = [])),
    responses(
        (status = 200, description = "Revoked.", body = Revoked),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such token.", body = ErrorBody)))]
pub fn revoke_org_token() {}

// ---- plugins ----

#[utoipa::path(get, path = "/plugins", tag = "plugins",
    responses((status = 200, description = "The registry's plugins.", body = Vec<Offered>)))]
pub fn plugin_registry() {}

#[utoipa::path(get, path = "/plugins/sources", tag = "plugins",
    responses((status = 200, description = "The source schemes this server takes.", body = Sources)))]
pub fn plugin_sources() {}

#[utoipa::path(get, path = "/workspaces/{id}/plugins", tag = "plugins",
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "Installed plugins.", body = Vec<InstalledPlugin>),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody),
        (status = 503, description = "A backend or the database is not available.", body = ErrorBody)))]
pub fn installed_plugins() {}

#[utoipa::path(post, path = "/workspaces/{id}/plugins", tag = "plugins", request_body = InstallBody,
    params(("id" = String, Path, description = "Workspace id")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "Installed.", body = Installed),
        (status = 400, description = "Invalid body or source.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such plugin.", body = ErrorBody),
        (status = 422, description = "Refused as asked (unpinned, checksum).", body = ErrorBody),
        (status = 403, description = "Not allowed for this credential or origin.", body = ErrorBody),
        (status = 413, description = "Over a size limit.", body = ErrorBody),
        (status = 502, description = "The workspace's backend, or a system beyond the server, failed.", body = ErrorBody),
        (status = 503, description = "A backend or the database is not available.", body = ErrorBody),
        (status = 504, description = "A system beyond the server did not answer in time.", body = ErrorBody)))]
pub fn install_plugin() {}

#[utoipa::path(delete, path = "/workspaces/{id}/plugins/{name}", tag = "plugins",
    params(("id" = String, Path, description = "Workspace id"), ("name" = String, Path, description = "Plugin name")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "Removed.", body = Uninstalled),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "Not installed.", body = ErrorBody),
        (status = 503, description = "A backend or the database is not available.", body = ErrorBody)))]
pub fn uninstall_plugin() {}

#[utoipa::path(get, path = "/workspaces/{id}/plugins/{name}/download", tag = "plugins",
    params(("id" = String, Path, description = "Workspace id"), ("name" = String, Path, description = "Plugin name")),
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = []), ("browser_session" = [])),
    responses(
        (status = 200, description = "The plugin as a gzipped tar.", content_type = "application/gzip", body = Vec<u8>),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such plugin.", body = ErrorBody)))]
pub fn download_plugin() {}

#[utoipa::path(get, path = "/orgs/{id}/plugins/allowlist", tag = "plugins",
    params(("id" = String, Path, description = "Org id")),
    security(("admin_token" = []), ("org_token" = [])),
    responses(
        (status = 200, description = "The org's allowlist.", body = AllowlistView),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody)))]
pub fn get_allowlist() {}

#[utoipa::path(put, path = "/orgs/{id}/plugins/allowlist", tag = "plugins", request_body = AllowlistBody,
    params(("id" = String, Path, description = "Org id")),
    security(("admin_token" = []), ("org_token" = [])),
    responses(
        (status = 200, description = "The allowlist as replaced.", body = AllowlistView),
        (status = 400, description = "Invalid body.", body = ErrorBody),
        (status = 401, description = "No or wrong credentials.", body = ErrorBody),
        (status = 404, description = "No such workspace, or no such object in it.", body = ErrorBody)))]
pub fn put_allowlist() {}

// ---- browser sessions ----

#[utoipa::path(post, path = "/auth/session", tag = "auth",
    security(("admin_token" = []), ("org_token" = []), ("workspace_token" = [])),
    responses(
        (status = 200, description = "A browser session, set as a cookie.", body = crate::http::browser::Opened),
        (status = 401, description = "No or wrong bearer.", body = ErrorBody)))]
pub fn open_session() {}

#[utoipa::path(delete, path = "/auth/session", tag = "auth",
    security(("browser_session" = [])),
    responses(
        (status = 200, description = "Ended; the cookie is cleared.", body = crate::http::browser::Ended),
        (status = 401, description = "No session cookie from the server's own origin.", body = ErrorBody)))]
pub fn end_session() {}
