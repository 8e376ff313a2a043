//! Terminal tickets: single-use, 30 s, one workspace, never a bearer token.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{TestApp, json_of};

async fn issue(app: &TestApp, ws: &str, token: &str) -> String {
    let res = app
        .post(&format!("/workspaces/{ws}/terminal/ticket"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 30);
    let ticket = body["ticket"].as_str().unwrap().to_owned();
    assert_eq!(ticket.len(), 43);
    ticket
}

async fn open_with_ticket(app: &TestApp, ws: &str, ticket: &str) -> u16 {
    app.get(&format!("/workspaces/{ws}/terminal?ticket={ticket}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_ticket_opens_the_terminal_route_once() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "t" })).await;
    let (token, _) = app.workspace_token(&ws).await;
    let ticket = issue(&app, &ws, &token).await;
    // Past auth: a plain GET is not a WebSocket upgrade, so the first use reaches the 400.
    assert_eq!(open_with_ticket(&app, &ws, &ticket).await, 400);
    assert_eq!(
        open_with_ticket(&app, &ws, &ticket).await,
        401,
        "second use"
    );
}

#[tokio::test]
async fn a_ticket_is_for_its_own_workspace_only_and_is_not_a_token() {
    let app = TestApp::spawn().await;
    let a = app.create_workspace(json!({ "name": "a" })).await;
    let b = app.create_workspace(json!({ "name": "b" })).await;
    let ticket = issue(&app, &a, &app.admin).await;
    assert_eq!(open_with_ticket(&app, &b, &ticket).await, 401);
    assert_eq!(
        open_with_ticket(&app, &a, &ticket).await,
        401,
        "spent by the failed try"
    );

    let ticket = issue(&app, &a, &app.admin).await;
    let res = app
        .get(&format!("/workspaces/{a}"))
        .bearer_auth(&ticket)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a ticket is not a bearer token");
    let res = app
        .get(&format!("/workspaces/{a}?ticket={ticket}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "tickets only open the terminal route");
    assert_eq!(open_with_ticket(&app, &a, "made-up-ticket").await, 401);
}

#[tokio::test]
async fn a_ticket_expires_after_thirty_seconds() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "t" })).await;
    let ticket = issue(&app, &ws, &app.admin).await;
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(open_with_ticket(&app, &ws, &ticket).await, 401);
}
