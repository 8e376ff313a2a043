//! The files API on the real Docker engine (SPEC §5.5).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn put(app: &TestApp, id: &str, path: &str, content: &str) -> (u16, Value) {
    let url = format!("/workspaces/{id}/files/{path}");
    let (status, body) = app
        .call(
            Method::PUT,
            &url,
            &app.admin,
            Some(json!({ "content": content })),
        )
        .await;
    (status.as_u16(), body)
}

async fn get(app: &TestApp, id: &str, path: &str) -> (u16, Value) {
    let (status, body) = app
        .get_as(&format!("/workspaces/{id}/files/{path}"), &app.admin)
        .await;
    (status.as_u16(), body)
}

#[tokio::test]
async fn write_read_list_and_delete_a_file() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "f" })).await;
    assert_eq!(
        put(&app, &id, "a/b/c.txt", "hello\n").await,
        (200, json!({ "status": "saved", "path": "a/b/c.txt" }))
    );
    assert_eq!(
        get(&app, &id, "a/b/c.txt").await,
        (
            200,
            json!({ "path": "a/b/c.txt", "content": "hello\n", "size": 6 })
        )
    );
    assert_eq!(
        app.sh(&id, "stat -c '%u:%g' /configs/a/b/c.txt /configs/a")
            .await,
        "1000:1000\n1000:1000\n"
    );

    let (status, list) = app
        .get_as(&format!("/workspaces/{id}/files?depth=5"), &app.admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!([
            { "path": "a", "size": 0, "dir": true },
            { "path": "a/b", "size": 0, "dir": true },
            { "path": "a/b/c.txt", "size": 6, "dir": false },
        ])
    );
    let (_, shallow) = app
        .get_as(
            &format!("/workspaces/{id}/files?path=a&depth=1"),
            &app.admin,
        )
        .await;
    assert_eq!(shallow, json!([{ "path": "a/b", "size": 0, "dir": true }]));

    let del = format!("/workspaces/{id}/files/a/b/c.txt");
    let (status, body) = app.call(Method::DELETE, &del, &app.admin, None).await;
    assert_eq!(
        (status.as_u16(), body),
        (200, json!({ "status": "deleted", "path": "a/b/c.txt" }))
    );
    assert_eq!(
        app.call(Method::DELETE, &del, &app.admin, None).await.0,
        404
    );
    assert_eq!(get(&app, &id, "a/b/c.txt").await.0, 404);
    app.remove(&id).await;
}

#[tokio::test]
async fn a_base64_write_stores_the_decoded_bytes_and_bad_base64_writes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "b64" })).await;
    let url = format!("/workspaces/{id}/files/bin/x.bin");
    let write = |body: Value| app.call(Method::PUT, &url, &app.admin, Some(body));
    // 0xff 0x00 0x80 0x41: not UTF-8, so the read answers base64 too.
    let (status, _) = write(json!({ "content": "/wCAQQ==", "encoding": "base64" })).await;
    assert_eq!(status, 200);
    assert_eq!(
        app.sh(&id, "od -An -tx1 /configs/bin/x.bin").await.trim(),
        "ff 00 80 41"
    );
    let (_, read) = get(&app, &id, "bin/x.bin").await;
    assert_eq!(
        (read["content"].as_str(), read["encoding"].as_str()),
        (Some("/wCAQQ=="), Some("base64"))
    );
    for bad in [
        json!({ "content": "not base64!", "encoding": "base64" }),
        json!({ "content": "AAAA", "encoding": "hex" }),
    ] {
        let (status, body) = write(bad).await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(
        app.sh(&id, "od -An -tx1 /configs/bin/x.bin").await.trim(),
        "ff 00 80 41"
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn hostile_names_are_plain_names() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "f" })).await;
    let name = "'$(touch /tmp/x)'";
    assert_eq!(put(&app, &id, &urlencode(name), "v").await.0, 200);
    for odd in ["semi;colon", "sp ace", "new\nline", "quote\"d"] {
        assert_eq!(put(&app, &id, &urlencode(odd), odd).await.0, 200, "{odd:?}");
        assert_eq!(get(&app, &id, &urlencode(odd)).await.1["content"], odd);
    }
    // The name holds slashes, so it is a path of three literal components.
    assert_eq!(get(&app, &id, &urlencode(name)).await.1["content"], "v");
    let (_, found) = app
        .exec(
            &id,
            json!({ "argv": ["test", "-f", format!("/configs/{name}")] }),
        )
        .await;
    assert_eq!(found["exit_code"], 0, "stored under the literal name");
    assert_eq!(
        app.sh(&id, "test -e /tmp/x && echo made || echo absent")
            .await,
        "absent\n"
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/workspaces/{id}/files/{}", urlencode(name)),
            &app.admin,
            None
        )
        .await
        .0,
        200
    );
    app.remove(&id).await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn traversal_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "f" })).await;
    for bad in [
        "..%2Fescape",
        "a/..%2F..%2Fescape",
        "a%2F..%2F..%2Fescape",
        "%2F%2Fetc%2Fpasswd",
    ] {
        let (status, body) = put(&app, &id, bad, "x").await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    // Literal `..` segments, which an HTTP client library would resolve away, sent raw.
    for raw in ["../../escape", "a/../../escape", "%2E%2E/escape"] {
        let status = raw_put(&app, &format!("/workspaces/{id}/files/{raw}")).await;
        assert_eq!(status, 400, "{raw}");
    }
    let (status, _) = app
        .get_as(&format!("/workspaces/{id}/files?path=../etc"), &app.admin)
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .get_as(&format!("/workspaces/{id}/files?root=/etc"), &app.admin)
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .get_as(&format!("/workspaces/{id}/files?depth=6"), &app.admin)
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        app.sh(&id, "ls -A /configs; test -e /escape || echo none")
            .await,
        "none\n"
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn reads_past_five_mebibytes_get_413_and_other_roots_can_be_read() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "f" })).await;
    app.sh(&id, "head -c 6000000 /dev/zero > /configs/big; mkdir -p /home/agent && echo hi > /home/agent/note").await;
    assert_eq!(get(&app, &id, "big").await.0, 413);
    let (status, body) = app
        .get_as(
            &format!("/workspaces/{id}/files/agent/note?root=/home"),
            &app.admin,
        )
        .await;
    assert_eq!((status.as_u16(), &body["content"]), (200, &json!("hi\n")));
    // Writes are bounded by the body limit (32 MiB), not by the read cap.
    assert_eq!(put(&app, &id, "six", &"s".repeat(6_000_000)).await.0, 200);
    assert_eq!(get(&app, &id, "six").await.0, 413);
    assert_eq!(
        put(&app, &id, "toobig", &"x".repeat(33 * 1024 * 1024))
            .await
            .0,
        413
    );
    app.remove(&id).await;
}

#[tokio::test]
async fn bulk_replace_writes_every_file_or_refuses_them_all() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "f" })).await;
    let url = format!("/workspaces/{id}/files");
    let files: serde_json::Map<String, Value> = (0..200)
        .map(|i| (format!("bulk/{i}.txt"), json!(format!("n{i}"))))
        .collect();
    let (status, body) = app
        .call(
            Method::PUT,
            &url,
            &app.admin,
            Some(json!({ "files": files })),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (200, json!({ "status": "replaced", "files": 200 }))
    );
    assert_eq!(get(&app, &id, "bulk/199.txt").await.1["content"], "n199");
    assert_eq!(app.sh(&id, "ls /configs/bulk | wc -l").await.trim(), "200");

    let mut too_many = files.clone();
    too_many.insert("bulk/200.txt".into(), json!("x"));
    let (status, _) = app
        .call(
            Method::PUT,
            &url,
            &app.admin,
            Some(json!({ "files": too_many })),
        )
        .await;
    assert_eq!(status, 400);
    let bad = json!({ "files": { "ok.txt": "x", "../bad": "y" } });
    assert_eq!(
        app.call(Method::PUT, &url, &app.admin, Some(bad)).await.0,
        400
    );
    assert_eq!(get(&app, &id, "ok.txt").await.0, 404, "nothing written");
    app.remove(&id).await;
}

#[tokio::test]
async fn a_reader_never_sees_half_a_file() {
    let app = TestApp::spawn().await;
    let id = app.create_local(json!({ "name": "f" })).await;
    let a = "a".repeat(2 * 1024 * 1024);
    let b = "b".repeat(2 * 1024 * 1024);
    assert_eq!(put(&app, &id, "swap", &a).await.0, 200);
    let writer = async {
        for i in 0..6 {
            assert_eq!(
                put(&app, &id, "swap", if i % 2 == 0 { &b } else { &a })
                    .await
                    .0,
                200
            );
        }
    };
    let reader = async {
        let mut reads = 0;
        for _ in 0..30 {
            let (status, body) = get(&app, &id, "swap").await;
            assert_eq!(status, 200, "{body}");
            let content = body["content"].as_str().unwrap();
            assert!(
                content == a || content == b,
                "a torn read of {} bytes",
                content.len()
            );
            reads += 1;
        }
        reads
    };
    let ((), reads) = tokio::join!(writer, reader);
    assert_eq!(reads, 30);
    app.remove(&id).await;
}

/// A PUT sent over a bare TCP stream, so the path reaches the server exactly as written.
async fn raw_put(app: &TestApp, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = r#"{"content":"x"}"#;
    let request = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        app.addr,
        app.admin,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response[9..12].parse().unwrap()
}
