//! `GET /openapi.json` (issue: an OpenAPI document generated from the code): every route of the
//! router is in it and nothing else is, its references resolve, the auth groups are its security;
//! and, after the suite, every status it documents is one a test saw the server answer.

use std::collections::BTreeSet;

use serde_json::Value;
use workspace_server::http::{OPEN_PATHS, ROUTES};

use crate::helpers::{TestApp, json_of, statuses};

/// A route template as OpenAPI writes it (`{*path}` → `{path}`).
fn openapi_path(route: &str) -> String {
    route.replace("{*", "{")
}

async fn document(app: &TestApp) -> Value {
    let res = app.get("/openapi.json").send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    let (status, doc) = json_of(res).await;
    assert_eq!(status, 200);
    doc
}

/// Every `$ref` anywhere in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_route_of_the_router_is_in_the_document_and_nothing_else() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .iter()
                .map(|m| (openapi_path(path), m.to_lowercase()))
        })
        .collect();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().unwrap().keys();
            methods
                .filter(|m| ["get", "put", "post", "patch", "delete"].contains(&m.as_str()))
                .map(|m| (path.clone(), m.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");

    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for (path, method) in &routed {
        let op = &doc["paths"][path][method];
        assert!(
            !op["responses"].as_object().unwrap().is_empty(),
            "{method} {path}"
        );
        let security = op["security"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let open = OPEN_PATHS.contains(&path.as_str())
            || path.starts_with("/console")
            || path.starts_with("/plugins");
        assert_eq!(
            security.is_empty(),
            open,
            "{method} {path}: security {security:?}"
        );
        for requirement in security {
            for name in requirement.as_object().unwrap().keys() {
                assert!(schemes.contains_key(name), "{method} {path}: scheme {name}");
            }
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }
}

/// Run by `scripts/test.sh` after the rest of the suite, which leaves what every test server
/// answered in `statuses::dir()`: a documented status no test produced fails it.
#[tokio::test]
#[ignore = "reads what the whole suite's servers answered; scripts/test.sh runs it after them"]
async fn every_documented_status_is_produced_by_a_test() {
    let served = statuses::served();
    assert!(
        !served.is_empty(),
        "no statuses in {}: run the suite first (scripts/test.sh does)",
        statuses::dir().display()
    );
    let doc: Value = serde_json::from_str(workspace_server::openapi::json()).unwrap();
    let mut unproduced = Vec::new();
    for (route, methods) in ROUTES {
        for method in *methods {
            let op = &doc["paths"][openapi_path(route)][method.to_lowercase()];
            for status in op["responses"].as_object().unwrap().keys() {
                let Ok(code) = status.parse::<u16>() else {
                    continue;
                };
                let key = (method.to_string(), route.to_string(), code);
                if !served.contains(&key) {
                    unproduced.push(format!("{method} {route} {code}"));
                }
            }
        }
    }
    assert!(
        unproduced.is_empty(),
        "documented, but no test saw the server answer them:\n{}",
        unproduced.join("\n")
    );
}
