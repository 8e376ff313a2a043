//! The error model: bad input gets a clear 4xx in the `{"error": …}` shape and changes nothing.

use serde_json::json;

use crate::helpers::{TestApp, json_of};

async fn workspace_count(app: &TestApp) -> usize {
    let res = app
        .get("/workspaces")
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    json_of(res).await.1.as_array().unwrap().len()
}

#[tokio::test]
async fn malformed_and_invalid_bodies_are_400_and_create_nothing() {
    let app = TestApp::spawn().await;
    let bodies = [
        "{\"name\": ",
        "[]",
        "",
        r#"{"name": "x", "tier": 9, "instance_id": "i-0123456789abcdef0"}"#,
        r#"{"name": "x", "tier": "3", "instance_id": "i-0123456789abcdef0"}"#,
        r#"{"name": "", "instance_id": "i-0123456789abcdef0"}"#,
        r#"{"name": "x", "instance_id": "--help"}"#,
        r#"{"name": "x", "image": "a; rm -rf /", "instance_id": "i-0123456789abcdef0"}"#,
        r#"{"name": "x", "instance_id": "i-0123456789abcdef0", "teir": 2}"#,
        r#"{"name": "x", "instance_id": "i-0123456789abcdef0", "parent_id": "not-a-uuid"}"#,
    ];
    for body in bodies {
        let res = app
            .post("/workspaces")
            .bearer_auth(&app.admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, value) = json_of(res).await;
        assert_eq!(status, 400, "{body} -> {value}");
        assert!(
            value["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{value}"
        );
    }
    assert_eq!(workspace_count(&app).await, 0);
}

#[tokio::test]
async fn an_unknown_field_is_named_in_the_error() {
    let app = TestApp::spawn().await;
    let res = app
        .post("/workspaces")
        .bearer_auth(&app.admin)
        .json(&json!({ "name": "x", "instance_id": "i-0123456789abcdef0", "teir": 2 }))
        .send()
        .await
        .unwrap();
    let (status, value) = json_of(res).await;
    assert_eq!(status, 400);
    assert!(value["error"].as_str().unwrap().contains("teir"), "{value}");
}

#[tokio::test]
async fn an_oversized_body_is_413_in_json() {
    let app = TestApp::spawn().await;
    let big = json!({ "name": "x".repeat(2 * 1024 * 1024) });
    let res = app
        .post("/workspaces")
        .bearer_auth(&app.admin)
        .json(&big)
        .send()
        .await
        .unwrap();
    let (status, value) = json_of(res).await;
    assert_eq!(status, 413);
    assert!(value["error"].is_string());
    assert_eq!(workspace_count(&app).await, 0);
}

#[tokio::test]
async fn malformed_ids_are_400_and_unknown_ones_404() {
    let app = TestApp::spawn().await;
    for bad in [
        "not-a-uuid",
        "..%2F..%2Fetc",
        "0123abcd456789abcdef0123456789ab",
    ] {
        let res = app
            .get(&format!("/workspaces/{bad}"))
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap();
        let (status, value) = json_of(res).await;
        assert_eq!(status, 400, "{bad}: {value}");
        assert_eq!(value["error"], "invalid id");
    }
    let unknown = uuid::Uuid::new_v4();
    let res = app
        .get(&format!("/workspaces/{unknown}"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    let (status, value) = json_of(res).await;
    assert_eq!(
        (status.as_u16(), value),
        (404, json!({ "error": "workspace not found" }))
    );

    let ws = app.create_workspace(json!({ "name": "w" })).await;
    let res = app
        .delete(&format!("/workspaces/{ws}/tokens/nope"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = app
        .delete(&format!("/workspaces/{ws}/tokens/{unknown}"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let app = TestApp::spawn().await;
    let (status, value) = json_of(app.get("/nope").send().await.unwrap()).await;
    assert_eq!(
        (status.as_u16(), value),
        (404, json!({ "error": "not found" }))
    );
    let res = app
        .request(reqwest::Method::PUT, "/health")
        .send()
        .await
        .unwrap();
    let (status, value) = json_of(res).await;
    assert_eq!(status, 405);
    assert!(value["error"].is_string());
}

#[tokio::test]
async fn a_bad_activity_query_is_400() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "w" })).await;
    for q in ["limit=abc", "limit=0", "colour=red"] {
        let res = app
            .get(&format!("/workspaces/{ws}/activity?{q}"))
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{q}");
    }
}

#[tokio::test]
async fn malformed_token_allowlist_and_condition_requests_are_400_and_change_nothing() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let id = app
        .create_workspace(json!({ "name": "e", "instance_id": "i-0123456789abcdef0" }))
        .await;
    let count = |app: &TestApp| {
        let req = app.get("/org/tokens").bearer_auth(&app.admin).send();
        async move { json_of(req.await.unwrap()).await.1["count"].clone() }
    };
    let before = count(&app).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/org/tokens",
            &app.admin,
            Some(json!({ "name": 5 })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(count(&app).await, before);

    let url = format!("/orgs/{id}/plugins/allowlist");
    let (_, listed) = app.get_as(&url, &app.admin).await;
    let (status, body) = app
        .call(
            Method::PUT,
            &url,
            &app.admin,
            Some(json!({ "plugins": "a" })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(app.get_as(&url, &app.admin).await.1, listed);

    // Both conditions at once, on a delete: refused before the workspace is reached.
    let res = app
        .delete(&format!("/workspaces/{id}/files/x"))
        .bearer_auth(&app.admin)
        .header("If-Match", "*")
        .header("If-None-Match", "*")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str().is_some()),
        (400, true),
        "{body}"
    );

    let res = app.get("/console/assets/absent.js").send().await.unwrap();
    assert_eq!(res.status(), 404);
}
