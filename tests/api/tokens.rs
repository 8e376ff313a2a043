//! Workspace and org tokens: limits, listing, revocation.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

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
