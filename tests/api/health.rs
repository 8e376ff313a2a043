//! Open routes, metrics, security headers, CORS and rate limiting.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Options, TestApp, json_of};

#[tokio::test]
async fn health_and_readiness_answer_without_a_token() {
    let app = TestApp::spawn().await;
    let (status, body) = json_of(app.get("/health").send().await.unwrap()).await;
    assert_eq!((status.as_u16(), body), (200, json!({ "status": "ok" })));
    let (status, body) = json_of(app.get("/readyz").send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["checks"]["database"], "ok");
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = Options::default().postgres().await.spawn().await;
    let crate::helpers::Db::Postgres(url) = &app.db else {
        unreachable!()
    };
    let name = url.rsplit('/').next().unwrap().to_owned();
    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (status, body) = json_of(app.get("/readyz").send().await.unwrap()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["database"], "unavailable");
    assert!(body["error"].as_str().unwrap().contains("database"));
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "m" })).await;
    app.get(&format!("/workspaces/{ws}"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    let res = app.get("/metrics").send().await.unwrap();
    assert_eq!(
        res.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            r#"http_requests_total{route="/workspaces/{id}",method="GET",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"http_request_duration_seconds_count{route="/workspaces/{id}"} 1"#),
        "{text}"
    );
    assert!(!text.contains(&ws), "raw paths with ids are not labels");
    for (name, kind) in [
        ("terminal_sessions_live", "gauge"),
        ("terminal_bytes", "counter"),
        ("terminal_session_duration_seconds", "histogram"),
        ("exec_runs", "counter"),
        ("exec_duration_seconds", "histogram"),
        ("eic_sessions", "counter"),
        ("eic_connect_seconds", "histogram"),
        ("eic_connections_open", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}")),
            "{name} missing"
        );
    }
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let app = TestApp::spawn().await;
    let res = app.get("/workspaces").send().await.unwrap();
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h.contains_key("content-security-policy"));
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = Options::default()
        .arg("--cors-origins", "https://canvas.example")
        .spawn()
        .await;
    let preflight = |origin: &'static str| {
        app.request(reqwest::Method::OPTIONS, "/workspaces")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let ok = preflight("https://canvas.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://canvas.example"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    // A matching Origin never stands in for a token.
    let res = app
        .get("/workspaces")
        .header("Origin", "https://canvas.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_client_over_its_rate_limit_gets_429_with_retry_after() {
    let app = Options::default()
        .arg("--rate-limit", "3/min")
        .spawn()
        .await;
    for _ in 0..3 {
        let res = app
            .get("/workspaces")
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let res = app
        .get("/workspaces")
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    assert_eq!(
        json_of(res).await.1,
        json!({ "error": "too many requests" })
    );
    // Probes are never limited.
    assert_eq!(app.get("/health").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_server_stops_when_asked() {
    let mut app = TestApp::spawn().await;
    let addr = app.addr;
    tokio::time::timeout(Duration::from_secs(5), app.stop())
        .await
        .expect("stops promptly");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}
