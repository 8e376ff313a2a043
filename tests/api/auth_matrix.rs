//! Every route × every kind of credential → the expected status (SPEC §4).
//! Driven by the server's own route list: a route without a row here fails the test.

use reqwest::Method;
use serde_json::{Value, json};
use workspace_server::auth::hash_token;
use workspace_server::http::ROUTES;
use workspace_server::store::StoredTicket;
use workspace_server::workspace::WorkspaceId;

use crate::helpers::{TestApp, json_of};
use Group::{Admin, AdminScoped, Open, SessionEnd, SessionOpen, Workspace};

/// Which auth group a route belongs to.
#[derive(Clone, Copy, Debug)]
enum Group {
    Open,
    /// Admin group, not about one workspace.
    Admin,
    /// Admin group, about an object inside an org (org tokens of other orgs get 404).
    AdminScoped,
    /// Workspace group.
    Workspace,
    /// `POST /auth/session`: any valid bearer, and nothing else.
    SessionOpen,
    /// `DELETE /auth/session`: a session cookie from the server's own origin, and nothing else.
    SessionEnd,
}

/// A route, the JSON body it is sent, and the status an authorised caller gets.
struct Row {
    method: &'static str,
    path: &'static str,
    group: Group,
    success: u16,
    body: Option<&'static str>,
}

const fn row(
    method: &'static str,
    path: &'static str,
    group: Group,
    success: u16,
    body: Option<&'static str>,
) -> Row {
    Row {
        method,
        path,
        group,
        success,
        body,
    }
}

/// A registered EC2 workspace: creating one needs no engine.
const NEW_EC2: &str = r#"{"name":"new","instance_id":"i-0123456789abcdef0"}"#;

/// Every route: its method and path, its group, the status an authorised caller gets, and the
/// JSON body it is sent.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    row("GET", "/health", Open, 200, None),
    row("GET", "/readyz", Open, 200, None),
    row("GET", "/metrics", Open, 200, None),
    row("GET", "/openapi.json", Open, 200, None),
    row("POST", "/workspaces", Admin, 201, Some(NEW_EC2)),
    row("GET", "/workspaces", Admin, 200, None),
    row("GET", "/workspaces/{id}", Workspace, 200, None),
    row("PATCH", "/workspaces/{id}", Workspace, 200, Some(r#"{"name":"renamed"}"#)),
    row("DELETE", "/workspaces/{id}", AdminScoped, 200, None),
    // Registered EC2 workspace and no EIC backend on this server: past auth, 503.
    row("POST", "/workspaces/{id}/restart", Workspace, 503, None),
    row("DELETE", "/workspaces/{id}/host-key", AdminScoped, 200, None),
    row("POST", "/workspaces/{id}/tokens", Workspace, 201, None),
    row("GET", "/workspaces/{id}/tokens", Workspace, 200, None),
    row("DELETE", "/workspaces/{id}/tokens/{token_id}", Workspace, 200, None),
    row("POST", "/workspaces/{id}/terminal/ticket", Workspace, 200, None),
    // Past auth, a plain GET (no upgrade headers) is a bad request.
    row("GET", "/workspaces/{id}/terminal", Workspace, 400, None),
    row("GET", "/workspaces/{id}/terminal/sessions", Workspace, 200, None),
    // Past auth, a session that does not exist.
    row("DELETE", "/workspaces/{id}/terminal/sessions/{sid}", Workspace, 404, None),
    row("GET", "/workspaces/{id}/activity", Workspace, 200, None),
    row("POST", "/workspaces/{id}/exec", Workspace, 503, Some(r#"{"argv":["true"]}"#)),
    // Past auth, a run that does not exist.
    row("GET", "/workspaces/{id}/exec/{exec_id}", Workspace, 404, None),
    row("GET", "/workspaces/{id}/exec/{exec_id}/output", Workspace, 404, None),
    row("POST", "/workspaces/{id}/exec/{exec_id}/signal", Workspace, 404, Some(r#"{"signal":"KILL"}"#)),
    row("GET", "/workspaces/{id}/files", Workspace, 503, None),
    row("PUT", "/workspaces/{id}/files", Workspace, 503, Some(r#"{"files":{"a":"b"}}"#)),
    row("GET", "/workspaces/{id}/files/{*path}", Workspace, 503, None),
    row("PUT", "/workspaces/{id}/files/{*path}", Workspace, 503, Some(r#"{"content":"c"}"#)),
    row("DELETE", "/workspaces/{id}/files/{*path}", Workspace, 503, None),
    row("POST", "/org/tokens", Admin, 201, Some(r#"{"name":"more"}"#)),
    row("GET", "/org/tokens", Admin, 200, None),
    row("GET", "/plugins", Open, 200, None),
    row("GET", "/plugins/sources", Open, 200, None),
    row("GET", "/workspaces/{id}/plugins", Workspace, 503, None),
    row("POST", "/workspaces/{id}/plugins", Workspace, 404, Some(r#"{"source":"local://absent"}"#)),
    row("DELETE", "/workspaces/{id}/plugins/{name}", Workspace, 503, None),
    row("GET", "/workspaces/{id}/plugins/{name}/download", Workspace, 404, None),
    row("GET", "/orgs/{id}/plugins/allowlist", AdminScoped, 200, None),
    row("PUT", "/orgs/{id}/plugins/allowlist", AdminScoped, 200, Some(r#"{"plugins":["a"]}"#)),
    row("DELETE", "/org/tokens/{token_id}", AdminScoped, 200, None),
    row("POST", "/auth/session", SessionOpen, 200, None),
    row("DELETE", "/auth/session", SessionEnd, 200, None),
    // The console's page and assets hold no data: no token needed.
    row("GET", "/console", Open, 200, None),
    row("GET", "/console/workspaces/{id}", Open, 200, None),
    row("GET", "/console/assets/{name}", Open, 200, None),
];

#[derive(Clone, Copy, Debug)]
enum Cred {
    NoToken,
    BadToken,
    OtherWorkspaceToken,
    OtherOrgToken,
    OwnWorkspaceToken,
    OwnOrgToken,
    Admin,
    /// No token, but every header that a careless server might trust.
    ForgedHeaders,
    /// The admin token in the query string instead of the header.
    QueryToken,
    /// A terminal ticket for the target, never used, as `?ticket=`.
    FreshTicket,
    /// A terminal ticket for the target that has been used once already.
    UsedTicket,
    /// A terminal ticket for the target whose 30 s have passed.
    ExpiredTicket,
    /// A browser session opened by the admin, sent with the server's own `Origin`.
    AdminCookie,
    /// A browser session opened by the target's workspace token, with the server's `Origin`.
    WorkspaceCookie,
    /// The admin's browser session with another site's `Origin`.
    CookieOtherOrigin,
    /// The admin's browser session with no `Origin`.
    CookieNoOrigin,
}

const CREDS: [Cred; 16] = [
    Cred::NoToken,
    Cred::BadToken,
    Cred::OtherWorkspaceToken,
    Cred::OtherOrgToken,
    Cred::OwnWorkspaceToken,
    Cred::OwnOrgToken,
    Cred::Admin,
    Cred::ForgedHeaders,
    Cred::QueryToken,
    Cred::FreshTicket,
    Cred::UsedTicket,
    Cred::ExpiredTicket,
    Cred::AdminCookie,
    Cred::WorkspaceCookie,
    Cred::CookieOtherOrigin,
    Cred::CookieNoOrigin,
];

/// The one route a ticket opens.
const TERMINAL: &str = "/workspaces/{id}/terminal";

fn expected(row: &Row, cred: Cred) -> u16 {
    use Cred::*;
    let (group, success) = (row.group, row.success);
    match (group, cred) {
        (Group::Open, _) => success,
        (SessionOpen, OtherWorkspaceToken | OtherOrgToken | OwnWorkspaceToken | OwnOrgToken) => {
            success
        }
        (SessionOpen, Admin) => success,
        (SessionEnd, AdminCookie | WorkspaceCookie) => success,
        (SessionOpen | SessionEnd, _) => 401,
        // A session is scoped exactly as the bearer that opened it, and only from our origin.
        (_, AdminCookie) => expected(row, Admin),
        (_, WorkspaceCookie) => expected(row, OwnWorkspaceToken),
        (_, CookieOtherOrigin | CookieNoOrigin) => 401,
        (_, FreshTicket) if row.path == TERMINAL => success,
        (_, FreshTicket | UsedTicket | ExpiredTicket) => 401,
        (_, NoToken | BadToken | ForgedHeaders | QueryToken | OtherWorkspaceToken) => 401,
        (_, Admin | OwnOrgToken) => success,
        (Group::Admin, OtherOrgToken) => success,
        (Group::AdminScoped | Group::Workspace, OtherOrgToken) => 404,
        (Group::Admin | Group::AdminScoped, OwnWorkspaceToken) => 401,
        (Group::Workspace, OwnWorkspaceToken) => success,
    }
}

/// Two orgs, a target workspace in org A, and a credential of every kind.
struct Fixture {
    org_a: String,
    target: String,
    target_token: String,
    target_token_id: String,
    other_token: String,
    org_a_token: String,
    org_a_token_id: String,
    org_b_token: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let org_a = app.create_workspace(json!({ "name": "org a" })).await;
    let target = app
        .create_workspace(json!({ "name": "target", "parent_id": org_a }))
        .await;
    let org_b = app.create_workspace(json!({ "name": "org b" })).await;
    let other = app
        .create_workspace(json!({ "name": "other", "parent_id": org_b }))
        .await;
    let (target_token, target_token_id) = app.workspace_token(&target).await;
    let (other_token, _) = app.workspace_token(&other).await;
    let (org_a_token, org_a_token_id) = app.org_token(Some(&org_a)).await;
    let (org_b_token, _) = app.org_token(Some(&org_b)).await;
    Fixture {
        org_a,
        target,
        target_token,
        target_token_id,
        other_token,
        org_a_token,
        org_a_token_id,
        org_b_token,
    }
}

/// A ticket for the target in the state `cred` names, if it is a ticket kind.
async fn ticket_for(app: &TestApp, cred: Cred, f: &Fixture) -> Option<String> {
    match cred {
        Cred::FreshTicket | Cred::UsedTicket => {
            let res = app
                .post(&format!("/workspaces/{}/terminal/ticket", f.target))
                .bearer_auth(&f.target_token)
                .send()
                .await
                .unwrap();
            let (status, body) = json_of(res).await;
            assert_eq!(status, 200, "{body}");
            let ticket = body["ticket"].as_str().unwrap().to_owned();
            if let Cred::UsedTicket = cred {
                // Its one use: past auth, a plain GET is not an upgrade.
                let used = app
                    .get(&format!(
                        "/workspaces/{}/terminal?ticket={ticket}",
                        f.target
                    ))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(used.status(), 400);
            }
            Some(ticket)
        }
        Cred::ExpiredTicket => {
            // Written as the server writes one, with its 30 s already over.
            let ticket = "expired-ticket-for-the-auth-matrix-0123456789";
            let now = chrono::Utc::now().timestamp_millis();
            let id = WorkspaceId(f.target.parse().unwrap());
            let stored = StoredTicket {
                workspace_id: id,
                view_session: None,
                credential_id: None,
                expires_at_ms: now - 1_000,
            };
            app.store()
                .await
                .insert_ticket(&hash_token(ticket), &stored, now - 31_000)
                .await
                .unwrap();
            Some(ticket.to_owned())
        }
        _ => None,
    }
}

async fn send(app: &TestApp, row: &Row, cred: Cred, f: &Fixture) -> u16 {
    let token_id = if row.path.starts_with("/org/") {
        &f.org_a_token_id
    } else {
        &f.target_token_id
    };
    // An org route names the org (the target's root); every other `{id}` is the target.
    let id = if row.path.starts_with("/orgs/") {
        &f.org_a
    } else {
        &f.target
    };
    let mut path = row
        .path
        .replace("{id}", id)
        .replace("{token_id}", token_id)
        .replace("{*path}", "notes/a.txt")
        .replace(
            "{name}",
            if row.path.starts_with("/console/") {
                "xterm.js"
            } else {
                "some-plugin"
            },
        )
        .replace("{sid}", "0123456789abcdef0123456789abcdef")
        .replace("{exec_id}", "00000000-0000-4000-8000-000000000000");
    if let Cred::QueryToken = cred {
        path = format!(
            "{path}?token={0}&auth_token={0}&access_token={0}",
            app.admin
        );
    }
    if let Some(ticket) = ticket_for(app, cred, f).await {
        path = format!("{path}?ticket={ticket}");
    }
    let method = Method::from_bytes(row.method.as_bytes()).unwrap();
    let mut req = app.request(method, &path);
    if let Some(body) = row.body {
        req = req.json(&serde_json::from_str::<Value>(body).unwrap());
    }
    let cookie = match cred {
        Cred::AdminCookie | Cred::CookieOtherOrigin | Cred::CookieNoOrigin => {
            Some(app.browser_session(&app.admin).await)
        }
        Cred::WorkspaceCookie => Some(app.browser_session(&f.target_token).await),
        _ => None,
    };
    if let Some(cookie) = cookie {
        req = req.header("Cookie", cookie);
        match cred {
            Cred::CookieNoOrigin => {}
            Cred::CookieOtherOrigin => req = req.header("Origin", "http://evil.example"),
            _ => req = req.header("Origin", format!("http://{}", app.addr)),
        }
    }
    let bearer = match cred {
        Cred::NoToken | Cred::ForgedHeaders | Cred::QueryToken => None,
        Cred::AdminCookie | Cred::WorkspaceCookie => None,
        Cred::CookieOtherOrigin | Cred::CookieNoOrigin => None,
        Cred::FreshTicket | Cred::UsedTicket | Cred::ExpiredTicket => None,
        Cred::BadToken => Some("not-a-real-token-but-well-formed-0123456789a"),
        Cred::OtherWorkspaceToken => Some(f.other_token.as_str()),
        Cred::OtherOrgToken => Some(f.org_b_token.as_str()),
        Cred::OwnWorkspaceToken => Some(f.target_token.as_str()),
        Cred::OwnOrgToken => Some(f.org_a_token.as_str()),
        Cred::Admin => Some(app.admin.as_str()),
    };
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    if let Cred::ForgedHeaders = cred {
        let origin = format!("http://{}", app.addr);
        req = req
            .header("Origin", &origin)
            .header("Referer", format!("{origin}/"))
            .header("Host", app.addr.to_string())
            .header("X-Workspace-ID", &f.target)
            .header("X-Forwarded-For", "127.0.0.1")
            .header("X-Forwarded-Host", app.addr.to_string())
            .header("X-Forwarded-User", "admin");
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_route_gives_every_credential_the_expected_status() {
    let app = TestApp::spawn().await;
    for (path, methods) in ROUTES {
        for method in *methods {
            assert!(
                ROWS.iter().any(|r| r.path == *path && r.method == *method),
                "route {method} {path} has no row in the auth matrix"
            );
        }
    }
    let mut mismatches = Vec::new();
    for row in ROWS {
        for cred in CREDS {
            let f = fixture(&app).await;
            let got = send(&app, row, cred, &f).await;
            let want = expected(row, cred);
            if got != want {
                mismatches.push(format!(
                    "{} {} as {cred:?}: got {got}, want {want}",
                    row.method, row.path
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "auth matrix mismatches:\n{}",
        mismatches.join("\n")
    );
}
