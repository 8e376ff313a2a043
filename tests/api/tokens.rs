//! Workspace and org tokens: limits, listing, revocation, and the sockets a revoked token opened.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::TestApp;
use crate::session_client::{attach, attach_as, refused as refused_status};
use crate::support::terminal::{Socket, terminal_end, type_and_expect};

#[tokio::test]
async fn a_workspace_holds_at_most_fifty_live_tokens() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "t" })).await;
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(app.workspace_token(&ws).await.1);
    }
    let path = format!("/workspaces/{ws}/tokens");
    let (status, body) = app.call(Method::POST, &path, &app.admin, None).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"].as_str().unwrap().contains("50"));

    // Revoking one makes room for one more.
    let revoke = format!("{path}/{}", ids[0]);
    let (status, _) = app.call(Method::DELETE, &revoke, &app.admin, None).await;
    assert_eq!(status, 200);
    app.workspace_token(&ws).await;
    let (status, _) = app.call(Method::POST, &path, &app.admin, None).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn tokens_are_listed_by_prefix_and_never_shown_again() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "t" })).await;
    let (token, id) = app.workspace_token(&ws).await;
    let (status, body) = app
        .get_as(&format!("/workspaces/{ws}/tokens"), &token)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1);
    let listed = &body["tokens"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["prefix"], &token[..8]);
    assert!(listed["created_at"].is_string());
    assert!(
        listed["last_used_at"].is_string(),
        "the list call itself used the token"
    );
    assert!(!body.to_string().contains(&token));
}

#[tokio::test]
async fn a_revoked_token_no_longer_opens_anything() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "t" })).await;
    let (token, id) = app.workspace_token(&ws).await;
    let path = format!("/workspaces/{ws}/tokens/{id}");
    assert_eq!(app.call(Method::DELETE, &path, &token, None).await.0, 200);
    assert_eq!(
        app.get_as(&format!("/workspaces/{ws}"), &token).await.0,
        401
    );
    let (status, _) = app.call(Method::DELETE, &path, &app.admin, None).await;
    assert_eq!(status, 404, "already revoked");

    let (org, org_id) = app.org_token(None).await;
    let path = format!("/org/tokens/{org_id}");
    assert_eq!(
        app.call(Method::DELETE, &path, &app.admin, None).await.0,
        200
    );
    assert_eq!(app.get_as("/workspaces", &org).await.0, 401);
}

#[tokio::test]
async fn deleting_a_workspace_revokes_its_tokens() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "t" })).await;
    let (token, _) = app.workspace_token(&ws).await;
    let path = format!("/workspaces/{ws}");
    let (status, body) = app.call(Method::DELETE, &path, &app.admin, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "removed");
    assert_eq!(app.get_as(&path, &token).await.0, 401);
    assert_eq!(app.get_as(&path, &app.admin).await.1["status"], "removed");
    let (_, body) = app.get_as(&format!("{path}/tokens"), &app.admin).await;
    assert_eq!(body["count"], 0);
}

#[tokio::test]
async fn org_tokens_of_an_org_list_only_that_org() {
    let app = TestApp::spawn().await;
    let x = app.create_workspace(json!({ "name": "x" })).await;
    let y = app.create_workspace(json!({ "name": "y" })).await;
    let (x_token, x_id) = app.org_token(Some(&x)).await;
    let (_, y_id) = app.org_token(Some(&y)).await;
    let (status, body) = app.get_as("/org/tokens", &x_token).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<_> = body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(x_id)]);
    let path = format!("/org/tokens/{y_id}");
    let (status, _) = app.call(Method::DELETE, &path, &x_token, None).await;
    assert_eq!(status, 404, "another org's token is invisible");
    let body = json!({ "name": "n", "org_id": y });
    let (status, _) = app
        .call(Method::POST, "/org/tokens", &x_token, Some(body))
        .await;
    assert_eq!(status, 403);
}

/// A ticket minted with `token` for workspace `id`.
async fn ticket_of(app: &TestApp, id: &str, token: &str) -> String {
    let path = format!("/workspaces/{id}/terminal/ticket");
    let (status, body) = app.call(Method::POST, &path, token, None).await;
    assert_eq!(status, 200, "{body}");
    body["ticket"].as_str().unwrap().to_owned()
}

/// A new workspace, a token of its own, and a plain terminal (SPEC §5.3) that token opened by
/// header: (workspace id, token, token id, socket).
async fn terminal_of_a_token(app: &TestApp) -> (String, String, String, Socket) {
    let id = app.create_local(json!({ "name": "revoked" })).await;
    let (token, token_id) = app.workspace_token(&id).await;
    let url = format!("ws://{}/workspaces/{id}/terminal", app.addr);
    let mut req = url.into_client_request().unwrap();
    let bearer = format!("Bearer {token}").parse().unwrap();
    req.headers_mut().insert("Authorization", bearer);
    let mut plain = tokio_tungstenite::connect_async(req).await.unwrap().0;
    type_and_expect(&mut plain, "echo plain-$((1+1))\r", "plain-2").await;
    (id, token, token_id, plain)
}

/// Whether a close frame says the socket's token was revoked.
fn revoked(close: Option<(CloseCode, String)>) -> bool {
    close.is_some_and(|(code, reason)| u16::from(code) == 1008 && reason == "token revoked")
}

#[tokio::test]
async fn revoking_a_token_closes_the_terminals_it_opened_and_spends_its_tickets() {
    let app = TestApp::spawn().await;
    // A plain terminal on the token's header, a session through a ticket it minted, and a
    // ticket it minted that is still unused; beside them, a session of the admin's.
    let (id, token, token_id, mut plain) = terminal_of_a_token(&app).await;
    let ticket = ticket_of(&app, &id, &token).await;
    let query = format!("session=new&ticket={ticket}");
    let mut session = attach_as(&app, &id, &query, None).await.unwrap();
    let sid = session.id();
    session.send("echo session-$((2+2))\r").await;
    assert!(session.read_until("session-4", 0).await);
    let unused = ticket_of(&app, &id, &token).await;
    let mut admin = attach(&app, &id, "session=new").await;

    let path = format!("/workspaces/{id}/tokens/{token_id}");
    let asked = Instant::now();
    let (status, body) = app.call(Method::DELETE, &path, &app.admin, None).await;
    assert_eq!(status, 200, "{body}");
    // Both of the token's sockets close, told why, at once (not at the next sweep, every 3 s).
    let (_, close) = terminal_end(&mut plain, 2).await;
    assert!(revoked(close.clone()), "{close:?}");
    while session.read_frame().await {}
    assert!(revoked(session.close.clone()), "{:?}", session.close);
    // Well inside the 3 s between sweeps, which would close them too, only later.
    let took = asked.elapsed();
    assert!(took < Duration::from_millis(500), "closed after {took:?}");
    // The ticket it minted opens nothing now.
    let refused = attach_as(&app, &id, &format!("session=new&ticket={unused}"), None).await;
    assert_eq!(refused_status(refused), 401);
    // The session itself lives on (only its socket closed), and so does the admin's.
    let mut back = attach(&app, &id, &format!("session={sid}&offset=0")).await;
    back.send("echo still-$((3+3))\r").await;
    assert!(back.read_until("still-6", 0).await);
    admin.send("echo admin-$((4+4))\r").await;
    assert!(admin.read_until("admin-8", 0).await);
    // The plain terminal's one audit row says how it ended.
    drop((back, admin));
    let activity = format!("/workspaces/{id}/activity?type=terminal");
    let ended = || async {
        let (_, rows) = app.get_as(&activity, &app.admin).await;
        rows.as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["request_body"]["ended"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let mut seen = ended().await;
    for _ in 0..50 {
        if seen.iter().any(|e| e == "revoked") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = ended().await;
    }
    assert!(seen.iter().any(|e| e == "revoked"), "{seen:?}");
    app.remove(&id).await;
}

#[tokio::test]
async fn a_token_revoked_in_the_table_alone_still_closes_its_sockets_at_the_next_sweep() {
    // As when the announcement of a revocation on another replica was missed: the tables are the
    // truth, and each replica asks them about its sockets' tokens every 3 s.
    let app = TestApp::spawn().await;
    let (id, _, token_id, mut plain) = terminal_of_a_token(&app).await;
    let ws = workspace_server::workspace::WorkspaceId(id.parse().unwrap());
    let store = app.store().await;
    let token_id = token_id.parse().unwrap();
    let done = store.revoke_workspace_token(ws, token_id, chrono::Utc::now());
    assert!(done.await.unwrap());
    let (_, close) = terminal_end(&mut plain, 5).await;
    assert!(revoked(close.clone()), "{close:?}");
    app.remove(&id).await;
}
