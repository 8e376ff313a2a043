//! The HTTP surface: the router, its middleware, and one module per area of the API.

mod auth;
pub(crate) mod browser;
pub mod canvas;
mod console;
mod error;
pub(crate) mod exec;
mod extract;
pub(crate) mod files;
pub(crate) mod health;
mod layers;

pub use console::CONSOLE_CSP;
pub use layers::CANVAS_CSP;
mod plugins;
mod relay;
pub mod replica;
mod routes;

mod terminal;
mod tokens;
mod workspaces;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};

pub use self::error::ApiError;
pub use self::layers::ORG_HEADER;
pub use self::routes::{OPEN_PATHS, ROUTES};
use crate::app::AppState;

/// Largest JSON body accepted by the registry routes, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The larger body limit of file writes.
fn files_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(files::MAX_FILES_BODY_BYTES)
}

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    let open = Router::new()
        .route("/health", get(health::health))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(health::openapi))
        .route("/console", get(console::page))
        .route("/console/workspaces/{id}", get(console::page))
        .route("/console/assets/{name}", get(console::asset));

    let api = Router::new()
        .route(
            "/workspaces",
            post(workspaces::create).get(workspaces::list),
        )
        .route(
            "/workspaces/{id}",
            get(workspaces::get)
                .patch(workspaces::patch)
                .delete(workspaces::delete),
        )
        .route("/workspaces/{id}/restart", post(workspaces::restart))
        .route(
            "/workspaces/{id}/host-key",
            delete(workspaces::unpin_host_key),
        )
        .route(
            "/workspaces/{id}/tokens",
            post(tokens::create_workspace_token).get(tokens::list_workspace_tokens),
        )
        .route(
            "/workspaces/{id}/tokens/{token_id}",
            delete(tokens::revoke_workspace_token),
        )
        .route("/workspaces/{id}/terminal/ticket", post(terminal::ticket))
        .route("/workspaces/{id}/terminal", get(terminal::terminal))
        .route(
            "/workspaces/{id}/terminal/sessions",
            get(terminal::sessions::list),
        )
        .route(
            "/workspaces/{id}/terminal/sessions/{sid}",
            delete(terminal::sessions::kill),
        )
        .route("/workspaces/{id}/activity", get(workspaces::activity))
        .route("/workspaces/{id}/exec", post(exec::exec))
        .route("/workspaces/{id}/exec/{exec_id}", get(exec::run))
        .route("/workspaces/{id}/exec/{exec_id}/output", get(exec::output))
        .route("/workspaces/{id}/exec/{exec_id}/signal", post(exec::signal))
        .route(
            "/workspaces/{id}/files",
            get(files::list).put(files::replace.layer(files_limit())),
        )
        .route(
            "/workspaces/{id}/files/{*path}",
            get(files::read)
                .put(files::write.layer(files_limit()))
                .delete(files::delete),
        )
        .route(
            "/org/tokens",
            post(tokens::create_org_token).get(tokens::list_org_tokens),
        )
        .route("/org/tokens/{token_id}", delete(tokens::revoke_org_token))
        .route("/plugins", get(plugins::registry))
        .route("/plugins/sources", get(plugins::sources))
        .route(
            "/workspaces/{id}/plugins",
            get(plugins::installed).post(plugins::install.layer(DefaultBodyLimit::max(
                state.config.plugin_install_body_max_bytes,
            ))),
        )
        .route(
            "/workspaces/{id}/plugins/{name}",
            delete(plugins::uninstall),
        )
        .route(
            "/workspaces/{id}/plugins/{name}/download",
            get(plugins::download),
        )
        .route(
            "/orgs/{id}/plugins/allowlist",
            get(plugins::get_allowlist).put(plugins::put_allowlist),
        )
        .route("/auth/session", post(browser::open).delete(browser::end))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(from_fn_with_state(state.clone(), layers::rate_limit));

    let mut app = Router::new()
        .merge(open)
        .merge(api)
        .merge(replica::routes(state.clone()))
        .fallback(canvas::fallback)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
        // Outside the routes, so unknown paths look the same as known ones to a stranger.
        .layer(from_fn_with_state(state.clone(), layers::tenant_guard));
    if let Some(cors) = layers::cors(&state.config.cors_origins()) {
        app = app.layer(cors);
    }
    app = app.layer(axum::middleware::from_fn(layers::security_headers));
    app.layer(from_fn_with_state(state.clone(), layers::record_metrics))
        .layer(layers::request_ids())
        .with_state(state)
}
