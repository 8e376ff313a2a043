//! The canvas behind the API's origin: unknown paths go to the canvas without credentials.

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::routing::{any, get};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Options, TestApp, browser_script};

/// A stand-in canvas: echoes what it received, and echoes WebSocket messages.
async fn canvas() -> String {
    let app = Router::new()
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade, headers: HeaderMap| async move {
                let cookie = headers.get("cookie").is_some();
                ws.on_upgrade(move |mut socket| async move {
                    while let Some(Ok(Message::Text(t))) = socket.next().await {
                        let reply = format!("echo:{t}:cookie={cookie}");
                        if socket.send(Message::Text(reply.into())).await.is_err() {
                            break;
                        }
                    }
                })
            }),
        )
        .fallback(any(|req: axum::extract::Request| async move {
            let headers: serde_json::Map<String, Value> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
                .collect();
            let method = req.method().to_string();
            let uri = req.uri().to_string();
            let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .unwrap();
            axum::Json(json!({
                "method": method,
                "uri": uri,
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            }))
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn unknown_paths_reach_the_canvas_without_credentials() {
    let url = canvas().await;
    let app = Options::default()
        .arg("--canvas-proxy-url", &url)
        .spawn()
        .await;
    let res = app
        .post("/canvas/page?x=1")
        .bearer_auth(&app.admin)
        .header("Cookie", "session=secret")
        .header("X-Custom", "kept")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen: Value = res.json().await.unwrap();
    assert_eq!(
        (seen["method"].as_str(), seen["uri"].as_str()),
        (Some("POST"), Some("/canvas/page?x=1"))
    );
    assert_eq!(seen["body"], "payload");
    assert_eq!(seen["headers"]["x-custom"], "kept");
    assert!(seen["headers"].get("authorization").is_none(), "{seen}");
    assert!(seen["headers"].get("cookie").is_none(), "{seen}");

    // API routes are still the API's.
    let (status, _) = app.get_as("/workspaces", &app.admin).await;
    assert_eq!(status, 200);

    let mut req = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Cookie", "session=secret".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    socket.send(TMessage::Text("hi".into())).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "echo:hi:cookie=false");
}

/// A canvas page that needs what a real one needs: an inline script, an external script, and a
/// WebSocket back to its own origin. Its upstream sends no CSP of its own.
async fn script_canvas() -> String {
    const PAGE: &str = r#"<!doctype html><html><head><title>canvas</title><link rel="icon" href="data:,">
<script>window.addEventListener('DOMContentLoaded', () => {
  document.getElementById('inline').textContent = 'ran';
});</script>
<script src="/canvas/app.js" defer></script></head>
<body><p id="inline">blocked</p><p id="external">blocked</p><p id="ws">none</p></body></html>"#;
    const APP: &str = r#"document.getElementById('external').textContent = 'ran';
const ws = new WebSocket(`ws://${location.host}/canvas/ws`);
ws.onopen = () => ws.send('through the proxy');
ws.onmessage = (e) => {
  document.getElementById('ws').textContent = e.data;
  document.body.dataset.done = '1';
};"#;
    let page = |body: &'static str, kind: &'static str| {
        get(move || async move { ([("content-type", kind)], body) })
    };
    let app = Router::new()
        .route("/canvas/index.html", page(PAGE, "text/html"))
        .route("/canvas/app.js", page(APP, "text/javascript"))
        .route(
            "/canvas/own-csp",
            get(|| async {
                (
                    [
                        ("content-security-policy", "default-src 'self'"),
                        ("content-type", "text/html"),
                    ],
                    "<p>own</p>",
                )
            }),
        )
        .route(
            "/canvas/ws",
            get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(Message::Text(t))) = socket.next().await {
                        let reply = Message::Text(format!("echo: {t}").into());
                        if socket.send(reply).await.is_err() {
                            break;
                        }
                    }
                })
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_proxied_page_runs_its_scripts_and_websocket_in_a_real_browser() {
    let upstream = script_canvas().await;
    let app = Options::default()
        .arg("--canvas-proxy-url", &upstream)
        .spawn()
        .await;
    // The API's own headers stay on API routes; the canvas keeps its own.
    let api = app.get("/workspaces").send().await.unwrap();
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    let own = app.get("/canvas/own-csp").send().await.unwrap();
    assert_eq!(
        own.headers()["content-security-policy"],
        "default-src 'self'"
    );
    assert!(own.headers().get("cache-control").is_none());
    assert!(own.headers().get("x-frame-options").is_none());

    let seen = browser_script("canvas.mjs", &[&app.url("/canvas/index.html")]).await;
    assert_eq!(
        seen["csp"],
        workspace_server::http::CANVAS_CSP,
        "the permissive CSP when the upstream sends none"
    );
    assert_eq!(
        (&seen["inline"], &seen["external"], &seen["ws"]),
        (
            &json!("ran"),
            &json!("ran"),
            &json!("echo: through the proxy")
        ),
        "{seen}"
    );
    assert_eq!(seen["problems"], json!([]), "{seen}");
}

#[tokio::test]
async fn without_a_canvas_unknown_paths_get_the_json_404() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_as("/canvas/page", "").await;
    assert_eq!(
        (status.as_u16(), body),
        (404, json!({ "error": "not found" }))
    );
    let app = Options::default()
        .arg("--canvas-proxy-url", "http://127.0.0.1:9")
        .spawn()
        .await;
    let (status, body) = app.get_as("/canvas/page", "").await;
    assert_eq!(
        (status.as_u16(), body),
        (502, json!({ "error": "the canvas is not reachable" }))
    );
}
