//! The route table: every route with its methods (the auth audit is generated from it), and the
//! open group.

/// Every route of the API, with the method(s) it answers: the auth audit is generated from this.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/health", &["GET"]),
    ("/readyz", &["GET"]),
    ("/metrics", &["GET"]),
    ("/openapi.json", &["GET"]),
    ("/workspaces", &["POST", "GET"]),
    ("/workspaces/{id}", &["GET", "PATCH", "DELETE"]),
    ("/workspaces/{id}/restart", &["POST"]),
    ("/workspaces/{id}/host-key", &["DELETE"]),
    ("/workspaces/{id}/tokens", &["POST", "GET"]),
    ("/workspaces/{id}/tokens/{token_id}", &["DELETE"]),
    ("/workspaces/{id}/terminal/ticket", &["POST"]),
    ("/workspaces/{id}/terminal", &["GET"]),
    ("/workspaces/{id}/terminal/sessions", &["GET"]),
    ("/workspaces/{id}/terminal/sessions/{sid}", &["DELETE"]),
    ("/workspaces/{id}/activity", &["GET"]),
    ("/workspaces/{id}/exec", &["POST"]),
    ("/workspaces/{id}/exec/{exec_id}", &["GET"]),
    ("/workspaces/{id}/exec/{exec_id}/output", &["GET"]),
    ("/workspaces/{id}/exec/{exec_id}/signal", &["POST"]),
    ("/workspaces/{id}/files", &["GET", "PUT"]),
    ("/workspaces/{id}/files/{*path}", &["GET", "PUT", "DELETE"]),
    ("/org/tokens", &["POST", "GET"]),
    ("/org/tokens/{token_id}", &["DELETE"]),
    ("/plugins", &["GET"]),
    ("/plugins/sources", &["GET"]),
    ("/workspaces/{id}/plugins", &["GET", "POST"]),
    ("/workspaces/{id}/plugins/{name}", &["DELETE"]),
    ("/workspaces/{id}/plugins/{name}/download", &["GET"]),
    ("/orgs/{id}/plugins/allowlist", &["GET", "PUT"]),
    ("/auth/session", &["POST", "DELETE"]),
    ("/console", &["GET"]),
    ("/console/workspaces/{id}", &["GET"]),
    ("/console/assets/{name}", &["GET"]),
];

/// The open group: no token and no tenant header needed.
pub const OPEN_PATHS: &[&str] = &["/health", "/readyz", "/metrics", "/openapi.json"];
