//! Control-plane provisioning: a small HTTP control plane in the test records what it is asked.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, post};
use axum::{Json, Router};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};

#[derive(Clone, Default)]
struct Cp {
    calls: Arc<Mutex<Vec<Value>>>,
    status: Arc<Mutex<u16>>,
}

async fn provision(
    State(cp): State<Cp>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    cp.calls.lock().unwrap().push(json!({
        "call": "provision",
        "body": body,
        "authorization": headers.get("authorization").map(|v| v.to_str().unwrap()),
        "admin": headers.get("x-molecule-admin-token").map(|v| v.to_str().unwrap()),
    }));
    let status = StatusCode::from_u16(*cp.status.lock().unwrap()).unwrap();
    (
        status,
        Json(json!({ "instance_id": "i-0abc0abc0abc0abc0" })),
    )
}

async fn terminate(
    State(cp): State<Cp>,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> StatusCode {
    cp.calls
        .lock()
        .unwrap()
        .push(json!({ "call": "terminate", "id": id, "instance_id": q.get("instance_id") }));
    StatusCode::from_u16(*cp.status.lock().unwrap()).unwrap()
}

async fn control_plane() -> (Cp, String) {
    let cp = Cp::default();
    *cp.status.lock().unwrap() = 201;
    let app = Router::new()
        .route("/cp/workspaces/provision", post(provision))
        .route("/cp/workspaces/{id}", delete(terminate))
        .with_state(cp.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (cp, url)
}

async fn server(url: &str) -> TestApp {
    Options::default()
        .arg("--cp-provision-url", url)
        .arg("--molecule-cp-shared-secret", "cp-secret")
        .arg("--molecule-org-id", "org-1")
        .spawn()
        .await
}

/// A request as admin, through the tenant guard; returns status and JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .request(method, path)
        .bearer_auth(&app.admin)
        .header("X-Molecule-Org-Id", "org-1");
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

async fn create(app: &TestApp) -> (StatusCode, Value) {
    let body = json!({ "name": "saas", "runtime": "hermes", "tier": 2 });
    call(app, Method::POST, "/workspaces", Some(body)).await
}

#[tokio::test]
async fn a_create_asks_the_control_plane_and_keeps_the_instance_it_returns() {
    let (cp, url) = control_plane().await;
    let app = server(&url).await;
    let (status, body) = create(&app).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let calls = cp.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0]["body"],
        json!({ "org_id": "org-1", "workspace_id": id, "runtime": "hermes", "tier": 2 })
    );
    assert_eq!(calls[0]["authorization"], "Bearer cp-secret");
    assert_eq!(calls[0]["admin"], app.admin.as_str());

    let (_, ws) = call(&app, Method::GET, &format!("/workspaces/{id}"), None).await;
    assert_eq!(ws["instance_id"], "i-0abc0abc0abc0abc0");

    *cp.status.lock().unwrap() = 500;
    let path = format!("/workspaces/{id}");
    assert_eq!(
        call(&app, Method::DELETE, &path, None).await.0,
        502,
        "a refused terminate is reported"
    );
    *cp.status.lock().unwrap() = 200;
    assert_eq!(call(&app, Method::DELETE, &path, None).await.0, 200);
    let last = cp.calls.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        last,
        json!({ "call": "terminate", "id": id, "instance_id": "i-0abc0abc0abc0abc0" })
    );
}

#[tokio::test]
async fn a_refused_provision_is_a_502_and_stores_nothing() {
    let (cp, url) = control_plane().await;
    *cp.status.lock().unwrap() = 500;
    let app = server(&url).await;
    let (status, body) = create(&app).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        !body.to_string().contains("500"),
        "no upstream detail: {body}"
    );
    let (_, list) = call(&app, Method::GET, "/workspaces", None).await;
    assert_eq!(list, json!([]));
}
