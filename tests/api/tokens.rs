//! Workspace and org tokens: limits, listing, revocation.

use serde_json::json;

use crate::helpers::{TestApp, json_of};

#[tokio::test]
async fn a_workspace_holds_at_most_fifty_live_tokens() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "t" })).await;
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(app.workspace_token(&ws).await.1);
    }
    let path = format!("/workspaces/{ws}/tokens");
    let res = app
        .post(&path)
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"].as_str().unwrap().contains("50"));

    // Revoking one makes room for one more.
    let res = app
        .delete(&format!("{path}/{}", ids[0]))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.workspace_token(&ws).await;
    let res = app
        .post(&path)
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
}

#[tokio::test]
async fn tokens_are_listed_by_prefix_and_never_shown_again() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "t" })).await;
    let (token, id) = app.workspace_token(&ws).await;
    let res = app
        .get(&format!("/workspaces/{ws}/tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
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
    let res = app.delete(&path).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .get(&format!("/workspaces/{ws}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .delete(&path)
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "already revoked");

    let (org, org_id) = app.org_token(None).await;
    let res = app
        .delete(&format!("/org/tokens/{org_id}"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .get("/workspaces")
        .bearer_auth(&org)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn deleting_a_workspace_revokes_its_tokens() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "t" })).await;
    let (token, _) = app.workspace_token(&ws).await;
    let res = app
        .delete(&format!("/workspaces/{ws}"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "removed");
    let res = app
        .get(&format!("/workspaces/{ws}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .get(&format!("/workspaces/{ws}"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    let (_, body) = json_of(res).await;
    assert_eq!(body["status"], "removed");
    let res = app
        .get(&format!("/workspaces/{ws}/tokens"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    let (_, body) = json_of(res).await;
    assert_eq!(body["count"], 0);
}

#[tokio::test]
async fn org_tokens_of_an_org_list_only_that_org() {
    let app = TestApp::spawn().await;
    let x = app.create_workspace(json!({ "name": "x" })).await;
    let y = app.create_workspace(json!({ "name": "y" })).await;
    let (x_token, x_id) = app.org_token(Some(&x)).await;
    let (_, y_id) = app.org_token(Some(&y)).await;
    let res = app
        .get("/org/tokens")
        .bearer_auth(&x_token)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<_> = body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(x_id)]);
    let res = app
        .delete(&format!("/org/tokens/{y_id}"))
        .bearer_auth(&x_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "another org's token is invisible");
    let res = app
        .post("/org/tokens")
        .bearer_auth(&x_token)
        .json(&json!({ "name": "n", "org_id": y }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
