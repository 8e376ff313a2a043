//! The tenant guard: with `MOLECULE_ORG_ID` set, only requests naming that org get anywhere.

use serde_json::json;

use crate::helpers::{Options, TestApp, json_of};

const ORG: &str = "org-7f3a";

async fn guarded() -> TestApp {
    Options::default()
        .arg("--molecule-org-id", ORG)
        .spawn()
        .await
}

#[tokio::test]
async fn without_the_org_header_even_the_admin_gets_a_bare_404() {
    let app = guarded().await;
    for (path, header) in [("/workspaces", None), ("/workspaces", Some("org-other"))] {
        let mut req = app.get(path).bearer_auth(&app.admin);
        if let Some(h) = header {
            req = req.header("X-Molecule-Org-Id", h);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 404);
        assert!(
            res.bytes().await.unwrap().is_empty(),
            "a bare 404 has no body"
        );
    }
    // Unknown routes look exactly the same, so the guard reveals nothing about the API.
    let res = app.get("/no-such-route").send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn with_the_org_header_requests_go_through_to_auth() {
    let app = guarded().await;
    let res = app
        .post("/workspaces")
        .bearer_auth(&app.admin)
        .header("X-Molecule-Org-Id", ORG)
        .json(&json!({ "name": "w", "instance_id": "i-0123456789abcdef0" }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 201, "{body}");
    let res = app
        .get("/workspaces")
        .header("X-Molecule-Org-Id", ORG)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(
        status, 401,
        "the header passes the guard but is no credential"
    );
    assert_eq!(body["error"], "admin auth required");
}

#[tokio::test]
async fn the_open_group_needs_no_org_header() {
    let app = guarded().await;
    for path in ["/health", "/readyz", "/metrics"] {
        let res = app.get(path).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
}
