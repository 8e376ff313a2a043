//! The workspace registry: create, list, get, patch, delete, and org scoping.

use serde_json::json;

use crate::helpers::{Options, TestApp, json_of};

#[tokio::test]
async fn registering_an_instance_stores_it_with_defaults() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "ec2" })).await;
    let res = app
        .get(&format!("/workspaces/{ws}"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], ws.as_str());
    assert_eq!(body["name"], "ec2");
    assert_eq!(body["runtime"], "langgraph");
    assert_eq!(body["tier"], 3);
    assert_eq!(body["instance_id"], "i-0123456789abcdef0");
    assert_eq!(body["status"], "online");
    assert!(body["parent_id"].is_null());
    assert!(
        body.get("host_key").is_none(),
        "the pinned host key stays inside"
    );
}

#[tokio::test]
async fn a_local_create_without_docker_answers_503_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let res = app
        .post("/workspaces")
        .bearer_auth(&app.admin)
        .json(&json!({ "name": "local", "image": "busybox" }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 503);
    assert_eq!(body, json!({ "error": "Docker not available" }));
    let res = app
        .get("/workspaces")
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res).await.1, json!([]));
}

#[tokio::test]
async fn bad_create_bodies_get_400_and_store_nothing() {
    let app = TestApp::spawn().await;
    for body in [
        json!({ "name": "x", "instance_id": "not-an-instance" }),
        json!({ "name": "x", "instance_id": "i-0123456789abcdef0", "tier": 5 }),
        json!({ "name": "", "instance_id": "i-0123456789abcdef0" }),
        json!({ "name": "x", "instance_id": "i-0123456789abcdef0", "surprise": 1 }),
        json!({ "name": "x", "instance_id": "i-0123456789abcdef0",
                "parent_id": "00000000-0000-4000-8000-000000000000" }),
        json!({ "name": "x", "instance_id": "i-0123456789abcdef0", "parent_id": "nope" }),
    ] {
        let res = app
            .post("/workspaces")
            .bearer_auth(&app.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, answer) = json_of(res).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(answer["error"].is_string());
    }
    let res = app
        .get("/workspaces")
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res).await.1, json!([]));
}

#[tokio::test]
async fn an_org_token_sees_and_creates_only_inside_its_org() {
    let app = TestApp::spawn().await;
    let org = app.create_workspace(json!({ "name": "org" })).await;
    let child = app
        .create_workspace(json!({ "name": "child", "parent_id": org }))
        .await;
    let other = app.create_workspace(json!({ "name": "other" })).await;
    let (token, _) = app.org_token(Some(&org)).await;

    let res = app
        .get("/workspaces")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (_, body) = json_of(res).await;
    let mut ids: Vec<_> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut want = vec![org.clone(), child.clone()];
    want.sort();
    assert_eq!(ids, want);

    let res = app
        .get(&format!("/workspaces/{other}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        404,
        "another org's workspace does not exist for this token"
    );

    // Created without a parent: placed under the org root.
    let res = app
        .post("/workspaces")
        .bearer_auth(&token)
        .json(&json!({ "name": "new", "instance_id": "i-0123456789abcdef1" }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 201, "{body}");
    let res = app
        .get(&format!("/workspaces/{}", body["id"].as_str().unwrap()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res).await.1["parent_id"], org.as_str());

    let res = app
        .post("/workspaces")
        .bearer_auth(&token)
        .json(&json!({ "name": "x", "instance_id": "i-0123456789abcdef1", "parent_id": other }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a parent outside the org");
}

#[tokio::test]
async fn a_workspace_token_may_rename_but_not_change_sensitive_fields() {
    let app = TestApp::spawn().await;
    let ws = app
        .create_workspace(json!({ "name": "w", "tier": 2 }))
        .await;
    let (token, _) = app.workspace_token(&ws).await;
    let path = format!("/workspaces/{ws}");
    for body in [
        json!({ "tier": 4 }),
        json!({ "runtime": "hermes" }),
        json!({ "image": "evil" }),
        json!({ "instance_id": "i-0123456789abcdef1" }),
        json!({ "parent_id": null }),
        json!({ "name": "sneaky", "tier": 4 }),
    ] {
        let res = app
            .patch(&path)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{body}");
    }
    let res = app.get(&path).bearer_auth(&app.admin).send().await.unwrap();
    let (_, body) = json_of(res).await;
    assert_eq!(
        (body["name"].as_str(), body["tier"].as_i64()),
        (Some("w"), Some(2)),
        "unchanged"
    );

    let res = app
        .patch(&path)
        .bearer_auth(&token)
        .json(&json!({ "name": "ok" }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "ok");

    let res = app
        .patch(&path)
        .bearer_auth(&app.admin)
        .json(&json!({ "tier": 4 }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tier"], 4);
}

#[tokio::test]
async fn a_parent_change_that_makes_a_cycle_is_refused() {
    let app = TestApp::spawn().await;
    let a = app.create_workspace(json!({ "name": "a" })).await;
    let b = app
        .create_workspace(json!({ "name": "b", "parent_id": a }))
        .await;
    let res = app
        .patch(&format!("/workspaces/{a}"))
        .bearer_auth(&app.admin)
        .json(&json!({ "parent_id": b }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn delete_is_idempotent_and_leaves_an_activity_row() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "d" })).await;
    for _ in 0..2 {
        let res = app
            .delete(&format!("/workspaces/{ws}"))
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let res = app
        .get(&format!("/workspaces/{ws}/activity"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    let (_, rows) = json_of(res).await;
    let summaries: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["summary"].as_str().unwrap())
        .collect();
    assert_eq!(summaries, vec!["workspace removed", "workspace registered"]);
}

#[tokio::test]
async fn development_mode_without_an_admin_token_opens_only_the_admin_group() {
    let app = Options::default()
        .no_admin_token()
        .arg("--molecule-env", "development")
        .spawn()
        .await;
    assert!(app.generated_admin_token.is_none());
    let res = app
        .post("/workspaces")
        .json(&json!({ "name": "dev", "instance_id": "i-0123456789abcdef0" }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 201, "{body}");
    let res = app.get("/workspaces").send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn outside_development_a_missing_admin_token_is_generated() {
    let app = Options::default().no_admin_token().spawn().await;
    let token = app
        .generated_admin_token
        .clone()
        .expect("a generated token");
    assert_eq!(token.len(), 43);
    let res = app.get("/workspaces").send().await.unwrap();
    assert_eq!(res.status(), 401, "nothing is open without the token");
    let res = app
        .get("/workspaces")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
