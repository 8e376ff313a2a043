//! The OpenAPI 3.1 document of the API (`GET /openapi.json`), generated with `utoipa`: the paths
//! are declared in [`paths`] against the route table, their request and response schemas are
//! derived from the very types the handlers (de)serialise, and the auth groups of SPEC §4 are its
//! security schemes. The suite checks both ways that every route of the router is in it, and that
//! every status it documents is one a test has seen the server answer.

mod paths;

use std::sync::OnceLock;

use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error answer: `{"error": …}`; an unknown plugin scheme also lists the known ones.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_schemes: Option<Vec<String>>,
}

/// A detached exec's answer (202).
#[derive(Serialize, ToSchema)]
pub struct ExecAccepted {
    pub exec_id: uuid::Uuid,
}

/// A signal's answer, once it has been sent.
#[derive(Serialize, ToSchema)]
pub struct SignalSent {
    pub exec_id: uuid::Uuid,
    pub signal: crate::backend::RunSignal,
}

/// One line of an exec's NDJSON stream: output (`{"stream","data","offset"}`) or the final record
/// (`{"exit_code",…}`); see docs/api.md.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ExecLine(serde_json::Value);

/// The names of the security schemes, one per kind of credential.
pub mod scheme {
    pub const ADMIN: &str = "admin_token";
    pub const ORG: &str = "org_token";
    pub const WORKSPACE: &str = "workspace_token";
    pub const SESSION: &str = "browser_session";
    pub const TICKET: &str = "terminal_ticket";
}

struct Credentials;

impl Modify for Credentials {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let bearer = |what: &str| {
            let mut http = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
            http.description = Some(what.to_owned());
            SecurityScheme::Http(http)
        };
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(scheme::ADMIN, bearer("The server's ADMIN_TOKEN."));
        components.add_security_scheme(
            scheme::ORG,
            bearer("An org token (POST /org/tokens): the admin group, scoped to its org."),
        );
        components.add_security_scheme(
            scheme::WORKSPACE,
            bearer("A workspace token (POST /workspaces/{id}/tokens): that workspace only."),
        );
        components.add_security_scheme(
            scheme::SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-workspace_session",
                "A browser session (POST /auth/session), from the server's own origin; named \
                 workspace_session on plain HTTP to loopback.",
            ))),
        );
        components.add_security_scheme(
            scheme::TICKET,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "ticket",
                "A one-use terminal ticket (POST /workspaces/{id}/terminal/ticket).",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "workspace-server",
        description = "Terminals, exec, files and plugins for agent workspaces. See docs/api.md."
    ),
    paths(
        paths::health, paths::readyz, paths::metrics, paths::openapi,
        paths::console, paths::console_workspace, paths::console_asset,
        paths::create_workspace, paths::list_workspaces, paths::get_workspace,
        paths::patch_workspace, paths::delete_workspace, paths::restart_workspace,
        paths::unpin_host_key, paths::activity,
        paths::create_workspace_token, paths::list_workspace_tokens,
        paths::revoke_workspace_token, paths::create_org_token, paths::list_org_tokens,
        paths::revoke_org_token,
        paths::terminal_ticket, paths::terminal, paths::terminal_sessions,
        paths::kill_terminal_session,
        paths::exec, paths::exec_run, paths::exec_output, paths::exec_signal,
        paths::list_files, paths::replace_files, paths::read_file, paths::write_file,
        paths::delete_file,
        paths::plugin_registry, paths::plugin_sources, paths::installed_plugins,
        paths::install_plugin, paths::uninstall_plugin, paths::download_plugin,
        paths::get_allowlist, paths::put_allowlist,
        paths::open_session, paths::end_session,
    ),
    modifiers(&Credentials)
)]
struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// The document as `GET /openapi.json` serves it.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| document().to_json().unwrap_or_else(|_| "{}".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_credential_as_a_scheme() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let schemes = &doc["components"]["securitySchemes"];
        for name in [
            scheme::ADMIN,
            scheme::ORG,
            scheme::WORKSPACE,
            scheme::SESSION,
            scheme::TICKET,
        ] {
            assert!(schemes.get(name).is_some(), "{name}");
        }
        assert!(doc["components"]["schemas"].get("WorkspaceView").is_some());
    }
}
