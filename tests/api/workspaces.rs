//! The workspace registry: create, list, get, patch, delete, and org scoping.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};

const INSTANCE: &str = "i-0123456789abcdef0";

/// `POST /workspaces` with `body` as `token`.
async fn create_as(app: &TestApp, token: &str, body: Value) -> (reqwest::StatusCode, Value) {
    app.call(Method::POST, "/workspaces", token, Some(body))
        .await
}

#[tokio::test]
async fn registering_an_instance_stores_it_with_defaults() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "ec2" })).await;
    let (status, body) = app.get_as(&format!("/workspaces/{ws}"), &app.admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], ws.as_str());
    assert_eq!(body["name"], "ec2");
    assert_eq!(body["runtime"], "langgraph");
    assert_eq!(body["tier"], 3);
    assert_eq!(body["instance_id"], INSTANCE);
    assert_eq!(body["status"], "online");
    assert!(body["parent_id"].is_null());
    assert!(
        body.get("host_key").is_none(),
        "the pinned host key stays inside"
    );
}

#[tokio::test]
async fn a_local_create_without_docker_answers_503_and_stores_nothing() {
    for host in ["unix:///nonexistent/docker.sock", "none"] {
        let app = Options::default().arg("--docker-host", host).spawn().await;
        local_create_is_refused(&app).await;
    }
}

async fn local_create_is_refused(app: &TestApp) {
    let (status, body) = create_as(app, &app.admin, json!({ "name": "l", "image": "b" })).await;
    assert_eq!(status, 503);
    assert_eq!(body, json!({ "error": "Docker not available" }));
    assert_eq!(app.get_as("/workspaces", &app.admin).await.1, json!([]));
}

#[tokio::test]
async fn bad_create_bodies_get_400_and_store_nothing() {
    let app = TestApp::spawn().await;
    for body in [
        json!({ "name": "x", "instance_id": "not-an-instance" }),
        json!({ "name": "x", "instance_id": INSTANCE, "tier": 5 }),
        json!({ "name": "", "instance_id": INSTANCE }),
        json!({ "name": "x", "instance_id": INSTANCE, "surprise": 1 }),
        json!({ "name": "x", "instance_id": INSTANCE,
                "parent_id": "00000000-0000-4000-8000-000000000000" }),
        json!({ "name": "x", "instance_id": INSTANCE, "parent_id": "nope" }),
    ] {
        let (status, answer) = create_as(&app, &app.admin, body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(answer["error"].is_string());
    }
    assert_eq!(app.get_as("/workspaces", &app.admin).await.1, json!([]));
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

    let (_, body) = app.get_as("/workspaces", &token).await;
    let mut ids: Vec<_> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].clone())
        .collect();
    ids.sort_by_key(Value::to_string);
    let mut want = vec![json!(org), json!(child)];
    want.sort_by_key(Value::to_string);
    assert_eq!(ids, want);

    let (status, _) = app.get_as(&format!("/workspaces/{other}"), &token).await;
    assert_eq!(
        status, 404,
        "another org's workspace does not exist for this token"
    );

    // Created without a parent: placed under the org root.
    let (status, body) = create_as(
        &app,
        &token,
        json!({ "name": "n", "instance_id": INSTANCE }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let created = format!("/workspaces/{}", body["id"].as_str().unwrap());
    assert_eq!(
        app.get_as(&created, &token).await.1["parent_id"],
        org.as_str()
    );

    let outside = json!({ "name": "x", "instance_id": INSTANCE, "parent_id": other });
    assert_eq!(
        create_as(&app, &token, outside).await.0,
        403,
        "a parent outside the org"
    );
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
        let (status, _) = app
            .call(Method::PATCH, &path, &token, Some(body.clone()))
            .await;
        assert_eq!(status, 403, "{body}");
    }
    let (_, body) = app.get_as(&path, &app.admin).await;
    assert_eq!(
        (body["name"].as_str(), body["tier"].as_i64()),
        (Some("w"), Some(2)),
        "unchanged"
    );

    let (status, body) = app
        .call(Method::PATCH, &path, &token, Some(json!({ "name": "ok" })))
        .await;
    assert_eq!(
        (status.as_u16(), &body["name"]),
        (200, &json!("ok")),
        "{body}"
    );
    let (status, body) = app
        .call(Method::PATCH, &path, &app.admin, Some(json!({ "tier": 4 })))
        .await;
    assert_eq!((status.as_u16(), &body["tier"]), (200, &json!(4)), "{body}");
}

#[tokio::test]
async fn a_parent_change_that_makes_a_cycle_is_refused() {
    let app = TestApp::spawn().await;
    let a = app.create_workspace(json!({ "name": "a" })).await;
    let b = app
        .create_workspace(json!({ "name": "b", "parent_id": a }))
        .await;
    let path = format!("/workspaces/{a}");
    let (status, _) = app
        .call(
            Method::PATCH,
            &path,
            &app.admin,
            Some(json!({ "parent_id": b })),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn delete_is_idempotent_and_leaves_an_activity_row() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "d" })).await;
    let path = format!("/workspaces/{ws}");
    for _ in 0..2 {
        assert_eq!(
            app.call(Method::DELETE, &path, &app.admin, None).await.0,
            200
        );
    }
    let (_, rows) = app.get_as(&format!("{path}/activity"), &app.admin).await;
    let summaries: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["summary"].clone())
        .collect();
    assert_eq!(
        summaries,
        vec![json!("workspace removed"), json!("workspace registered")]
    );
}

#[tokio::test]
async fn development_mode_without_an_admin_token_opens_only_the_admin_group() {
    let app = Options::default()
        .no_admin_token()
        .arg("--molecule-env", "development")
        .spawn()
        .await;
    assert!(app.generated_admin_token.is_none());
    let (status, body) =
        create_as(&app, "", json!({ "name": "dev", "instance_id": INSTANCE })).await;
    assert_eq!(status, 201, "{body}");
    let ws = body["id"].as_str().unwrap();
    assert_eq!(app.get_as("/workspaces", "").await.0, 200);
    assert_eq!(
        app.get_as(&format!("/workspaces/{ws}"), "").await.0,
        401,
        "workspace group"
    );
}

/// SPEC §16: replicas share one PostgreSQL, so none may generate its own admin token.
#[tokio::test]
async fn on_postgresql_a_missing_admin_token_refuses_to_start_in_every_mode() {
    use workspace_server::{app::App, config::Config};
    let url = crate::support::fresh_postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    for mode in [None, Some("development"), Some("production")] {
        let mut args = vec!["workspace-server", "--port", "0", "--data-dir", &data];
        args.extend(["--database-url", &url]);
        args.extend(mode.map(|m| ["--molecule-env", m]).into_iter().flatten());
        let refused = App::build(Config::from_args(&args).unwrap()).await;
        let err = refused
            .err()
            .unwrap_or_else(|| panic!("{mode:?}: started without a token"));
        assert!(
            format!("{err:#}").contains("ADMIN_TOKEN must be set"),
            "{err:#}"
        );
    }
    // With one, the same database serves.
    let app = Options::default().arg("--database-url", &url).spawn().await;
    assert_eq!(app.get_as("/workspaces", &app.admin).await.0, 200);
}

#[tokio::test]
async fn outside_development_a_missing_admin_token_is_generated() {
    let app = Options::default().no_admin_token().spawn().await;
    let token = app
        .generated_admin_token
        .clone()
        .expect("a generated token");
    assert_eq!(token.len(), 43);
    assert_eq!(
        app.get_as("/workspaces", "").await.0,
        401,
        "nothing is open without it"
    );
    assert_eq!(app.get_as("/workspaces", &token).await.0, 200);
}
