//! Browser sessions (SPEC §13): the cookie `POST /auth/session` sets, accepted on REST and on
//! the terminal upgrade only with the server's own `Origin`, scoped as its bearer, stored hashed,
//! and ended by `DELETE`, by its bearer's revocation, by its TTL, or by newer sessions.

use std::time::Duration;

use futures_util::SinkExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use workspace_server::auth::hash_token;

use crate::helpers::{Options, TestApp, json_of};
use crate::support::terminal::{Socket, read_until, terminal_end};

/// `GET /workspaces` with `cookie` and `origin`: the status and the error, if any.
async fn list_with(app: &TestApp, cookie: &str, origin: Option<&str>) -> (u16, Value) {
    let mut req = app.get("/workspaces").header("Cookie", cookie);
    if let Some(origin) = origin {
        req = req.header("Origin", origin);
    }
    let (status, body) = json_of(req.send().await.unwrap()).await;
    (status.as_u16(), body)
}

/// A GET by cookie from the server's own origin: the status and the body.
async fn get_by(app: &TestApp, path: &str, cookie: &str) -> (u16, Value) {
    let req = app
        .get(path)
        .header("Cookie", cookie)
        .header("Origin", own(app));
    let (status, body) = json_of(req.send().await.unwrap()).await;
    (status.as_u16(), body)
}

/// `GET /workspaces` by `cookie` as through a proxy for `https://ws.example.com`.
async fn proxied(app: &TestApp, cookie: String) -> u16 {
    let req = app.get("/workspaces").header("Host", "ws.example.com");
    let req = req
        .header("Cookie", cookie)
        .header("Origin", "https://ws.example.com");
    req.send().await.unwrap().status().as_u16()
}

fn own(app: &TestApp) -> String {
    format!("http://{}", app.addr)
}

async fn terminal(
    app: &TestApp,
    id: &str,
    cookie: &str,
    origin: Option<&str>,
) -> Result<Socket, u16> {
    let url = format!("ws://{}/workspaces/{id}/terminal?session=new", app.addr);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("Cookie", cookie.parse().unwrap());
    if let Some(origin) = origin {
        req.headers_mut().insert("Origin", origin.parse().unwrap());
    }
    match connect_async(req).await {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(res)) => Err(res.status().as_u16()),
        Err(other) => panic!("{other}"),
    }
}

/// A `Set-Cookie` header's attributes, in any order.
fn attributes_of(attributes: &str) -> std::collections::BTreeSet<&str> {
    attributes.split("; ").collect()
}

#[tokio::test]
async fn the_cookie_is_http_only_strict_and_secure_unless_plain_http_to_loopback() {
    let app = TestApp::spawn().await;
    let res = app
        .post("/auth/session")
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    let (status, body) = json_of(res).await;
    assert_eq!((status.as_u16(), &body["status"]), (200, &json!("open")));
    assert!(body["expires_at"].is_string(), "{body}");
    let (pair, attributes) = set.split_once("; ").unwrap();
    assert!(pair.starts_with("workspace_session="), "{set}");
    assert_eq!(
        attributes_of(attributes),
        attributes_of("HttpOnly; SameSite=Strict; Path=/; Max-Age=28800")
    );
    // Stored as a hash only.
    let token = pair.split_once('=').unwrap().1;
    let now = chrono::Utc::now().timestamp_millis();
    let store = app.store().await;
    assert!(
        store
            .browser_session(&hash_token(token), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.browser_session(token, now).await.unwrap().is_none());

    // Reached under another name (as through a proxy): `Secure`, with the `__Host-` prefix.
    let res = app
        .post("/auth/session")
        .bearer_auth(&app.admin)
        .header("Host", "ws.example.com")
        .send()
        .await
        .unwrap();
    let set = res.headers()["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("__Host-workspace_session="), "{set}");
    assert_eq!(
        attributes_of(set.split_once("; ").unwrap().1),
        attributes_of("HttpOnly; SameSite=Strict; Path=/; Max-Age=28800; Secure")
    );
    let cookie = set.split(';').next().unwrap();
    assert_eq!(proxied(&app, cookie.to_owned()).await, 200);
    // The plain name means nothing there: it could have been set by a sibling host.
    let plain = format!("workspace_session={}", cookie.split_once('=').unwrap().1);
    assert_eq!(proxied(&app, plain).await, 401);

    // Only a bearer opens a session: not a cookie, not nothing.
    let cookie = app.browser_session(&app.admin).await;
    let again = app
        .post("/auth/session")
        .header("Cookie", &cookie)
        .header("Origin", own(&app));
    assert_eq!(again.send().await.unwrap().status(), 401);
    let bad = app.post("/auth/session").bearer_auth("not-a-token");
    assert_eq!(bad.send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn revoking_the_bearer_behind_a_cookie_closes_the_terminal_it_opened() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "cookie-revoked" })).await;
    let (bearer, token_id) = app.workspace_token(&id).await;
    let cookie = app.browser_session(&bearer).await;
    let mut socket = terminal(&app, &id, &cookie, Some(&own(&app)))
        .await
        .unwrap();
    socket
        .send(Message::Binary(b"echo cookie-$((3+4))\r".to_vec().into()))
        .await
        .unwrap();
    read_until(&mut socket, "cookie-7").await;
    let path = format!("/workspaces/{id}/tokens/{token_id}");
    let asked = std::time::Instant::now();
    let (status, _) = app.call(Method::DELETE, &path, &app.admin, None).await;
    assert_eq!(status, 200);
    let (_, close) = terminal_end(&mut socket, 2).await;
    // At once, not at the next sweep of the tokens behind live sockets (every 3 s).
    let took = asked.elapsed();
    assert!(took < Duration::from_millis(500), "closed after {took:?}");
    let close = close.map(|(code, reason)| (u16::from(code), reason));
    assert_eq!(close, Some((1008, "token revoked".to_owned())));
    // And the cookie opens nothing more.
    let again = terminal(&app, &id, &cookie, Some(&own(&app))).await;
    assert_eq!(again.err(), Some(401));
    app.remove(&id).await;
}

#[tokio::test]
async fn the_cookie_opens_a_terminal_from_our_origin_only() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "cookie-terminal" })).await;
    let cookie = app.browser_session(&app.admin).await;
    let origin = own(&app);
    for (other, why) in [
        (Some("http://evil.example"), "another site"),
        (None, "no Origin"),
    ] {
        assert_eq!(
            terminal(&app, &id, &cookie, other).await.err(),
            Some(401),
            "{why}"
        );
        let (status, body) = list_with(&app, &cookie, other).await;
        assert_eq!(status, 401, "{why}");
        assert_eq!(
            body["error"],
            "a browser session is accepted only from the server's own origin"
        );
    }
    let mut socket = terminal(&app, &id, &cookie, Some(&origin)).await.unwrap();
    socket
        .send(Message::Binary(
            b"echo via-$((2+3))-cookie\r".to_vec().into(),
        ))
        .await
        .unwrap();
    read_until(&mut socket, "via-5-cookie").await;
    // A state-changing request by cookie needs the origin too.
    let patch = |origin: Option<&str>| {
        let req = app
            .request(Method::PATCH, &format!("/workspaces/{id}"))
            .header("Cookie", &cookie);
        let req = match origin {
            Some(o) => req.header("Origin", o),
            None => req,
        };
        req.json(&json!({ "name": "renamed" })).send()
    };
    assert_eq!(patch(None).await.unwrap().status(), 401);
    assert_eq!(patch(Some(&origin)).await.unwrap().status(), 200);
    app.remove(&id).await;
}

#[tokio::test]
async fn a_session_ends_with_delete_with_its_bearer_and_with_newer_sessions() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "scoped" })).await;
    let other = app.create_workspace(json!({ "name": "other" })).await;
    let (token, token_id) = app.workspace_token(&ws).await;
    let cookie = app.browser_session(&token).await;
    let origin = own(&app);
    // Scoped as its bearer: its own workspace, not another, not the admin group.
    assert_eq!(
        get_by(&app, &format!("/workspaces/{ws}"), &cookie).await.0,
        200
    );
    assert_eq!(
        get_by(&app, &format!("/workspaces/{other}"), &cookie)
            .await
            .0,
        401
    );
    assert_eq!(get_by(&app, "/workspaces", &cookie).await.0, 401);
    // Revoking the bearer ends its sessions.
    let revoke = format!("/workspaces/{ws}/tokens/{token_id}");
    assert_eq!(
        app.call(Method::DELETE, &revoke, &app.admin, None).await.0,
        200
    );
    let (status, body) = get_by(&app, &format!("/workspaces/{ws}"), &cookie).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({ "error": "browser session is unknown or has ended" })
        )
    );

    // DELETE ends it and clears the cookie.
    let cookie = app.browser_session(&app.admin).await;
    let end = |origin: &str| {
        app.request(Method::DELETE, "/auth/session")
            .header("Cookie", &cookie)
            .header("Origin", origin)
            .send()
    };
    assert_eq!(end("http://evil.example").await.unwrap().status(), 401);
    let res = end(&origin).await.unwrap();
    assert_eq!(res.status(), 200);
    let cleared = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("workspace_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(get_by(&app, "/workspaces", &cookie).await.0, 401);
    assert_eq!(end(&origin).await.unwrap().status(), 401);

    // One bearer keeps its newest 32 sessions.
    let first = app.browser_session(&app.admin).await;
    for _ in 0..32 {
        app.browser_session(&app.admin).await;
    }
    assert_eq!(get_by(&app, "/workspaces", &first).await.0, 401);
}

#[tokio::test]
async fn a_session_lasts_its_ttl_and_a_public_origin_is_the_only_origin() {
    let app = Options::default()
        .arg("--browser-session-ttl", "1s")
        .arg("--public-origin", "https://ws.example.com/")
        .spawn()
        .await;
    let cookie = app.browser_session(&app.admin).await;
    assert_eq!(
        list_with(&app, &cookie, Some("https://ws.example.com"))
            .await
            .0,
        200
    );
    // With PUBLIC_ORIGIN set, the request's own Host no longer counts.
    assert_eq!(list_with(&app, &cookie, Some(&own(&app))).await.0, 401);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = list_with(&app, &cookie, Some("https://ws.example.com")).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({ "error": "browser session is unknown or has ended" })
        )
    );
}
