//! Files, binary and large (SPEC §15), on both paths: raw bytes up and down with their `ETag`,
//! `If-Match` / `If-None-Match: *` with 412, and two writers racing on one tag.

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_MATCH};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::eic::{eic_workspace, instance};
use crate::helpers::{Options, TestApp, json_of};

const RAW: &str = "application/octet-stream";

fn tag_of(bytes: &[u8]) -> String {
    format!("\"{:x}\"", Sha256::digest(bytes))
}

/// A raw write of `bytes`, with extra headers.
async fn put_raw(
    app: &TestApp,
    id: &str,
    path: &str,
    bytes: &[u8],
    extra: &[(&str, &str)],
) -> Response {
    let mut req = app
        .request(Method::PUT, &format!("/workspaces/{id}/files/{path}"))
        .bearer_auth(&app.admin)
        .header(CONTENT_TYPE, RAW)
        .body(bytes.to_vec());
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn get_raw(app: &TestApp, id: &str, path: &str) -> Response {
    app.get(&format!("/workspaces/{id}/files/{path}"))
        .bearer_auth(&app.admin)
        .header("Accept", RAW)
        .send()
        .await
        .unwrap()
}

fn etag(res: &Response) -> String {
    let tag = res.headers().get(ETAG);
    let tag = tag.unwrap_or_else(|| panic!("no ETag in a {} answer", res.status()));
    tag.to_str().unwrap().to_owned()
}

async fn status_and_body(res: Response) -> (u16, Value) {
    let (status, body) = json_of(res).await;
    (status.as_u16(), body)
}

/// Every clause of §15 on the workspace `id`.
async fn raw_files_and_conditions(app: &TestApp, id: &str) {
    // EC2 workspaces of the tests share one host's base: a directory of this run's own.
    let dir = format!("raw-{}", uuid::Uuid::new_v4().simple());
    let p = |name: &str| format!("{dir}/{name}");
    let all: Vec<u8> = (0..=255u8).cycle().take(3 * 256 + 7).collect();
    let put = put_raw(app, id, &p("all.bytes"), &all, &[]).await;
    let tag = etag(&put);
    assert_eq!(tag, tag_of(&all));
    assert_eq!(
        status_and_body(put).await,
        (200, json!({ "status": "saved", "path": &p("all.bytes") }))
    );

    let got = get_raw(app, id, &p("all.bytes")).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()[CONTENT_TYPE], RAW);
    assert_eq!(
        got.headers()[CONTENT_LENGTH],
        all.len().to_string().as_str()
    );
    assert_eq!(etag(&got), tag);
    assert_eq!(got.bytes().await.unwrap(), all);
    // The JSON read carries the same tag, and the bytes as base64.
    let json_read = app
        .get(&format!("/workspaces/{id}/files/{}", p("all.bytes")))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(etag(&json_read), tag);
    let (_, body) = status_and_body(json_read).await;
    assert_eq!(
        (body["encoding"].as_str(), body["size"].as_u64()),
        (Some("base64"), Some(all.len() as u64))
    );

    // A stale tag, or If-None-Match on a file that exists: 412, and nothing changes.
    let stale = tag_of(b"something else");
    let refused = put_raw(app, id, &p("all.bytes"), b"x", &[("If-Match", &stale)]).await;
    let (status, body) = status_and_body(refused).await;
    assert_eq!(status, 412, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("condition"),
        "{body}"
    );
    let refused = put_raw(app, id, &p("all.bytes"), b"x", &[("If-None-Match", "*")]).await;
    assert_eq!(refused.status(), 412);
    assert_eq!(
        get_raw(app, id, &p("all.bytes"))
            .await
            .bytes()
            .await
            .unwrap(),
        all
    );
    let created = put_raw(app, id, &p("new"), b"n", &[("If-None-Match", "*")]).await;
    assert_eq!(created.status(), 200);
    let missing = put_raw(app, id, &p("nope/x"), b"n", &[("If-Match", "*")]).await;
    assert_eq!(missing.status(), 412);

    // A JSON write takes the condition too, and answers the new tag.
    let json_write = app
        .request(
            Method::PUT,
            &format!("/workspaces/{id}/files/{}", p("all.bytes")),
        )
        .bearer_auth(&app.admin)
        .header(IF_MATCH, &tag)
        .json(&json!({ "content": "text now" }))
        .send()
        .await
        .unwrap();
    assert_eq!(json_write.status(), 200);
    let text_tag = etag(&json_write);
    assert_eq!(text_tag, tag_of(b"text now"));

    // Deletes: a stale tag is refused, the current one deletes.
    let delete = |tag: String| {
        app.delete(&format!("/workspaces/{id}/files/{}", p("all.bytes")))
            .bearer_auth(&app.admin)
            .header(IF_MATCH, tag)
            .send()
    };
    assert_eq!(delete(tag).await.unwrap().status(), 412);
    assert_eq!(delete(text_tag.clone()).await.unwrap().status(), 200);
    assert_eq!(
        delete(text_tag).await.unwrap().status(),
        412,
        "gone: no tag matches"
    );
    assert_eq!(get_raw(app, id, &p("all.bytes")).await.status(), 404);

    // Malformed conditions and a raw upload of unknown length are refused before any work.
    let both = put_raw(
        app,
        id,
        &p("x"),
        b"x",
        &[("If-Match", "*"), ("If-None-Match", "*")],
    )
    .await;
    assert_eq!(both.status(), 400);
    let tagged = put_raw(app, id, &p("x"), b"x", &[("If-None-Match", &stale)]).await;
    assert_eq!(tagged.status(), 400);
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(b"abc".to_vec())]);
    let chunked = app
        .request(Method::PUT, &format!("/workspaces/{id}/files/{}", p("x")))
        .bearer_auth(&app.admin)
        .header(CONTENT_TYPE, RAW)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_body(chunked).await.0, 411);
    let listed = app
        .get_as(&format!("/workspaces/{id}/files?path={dir}"), &app.admin)
        .await;
    assert_eq!(
        listed.1,
        json!([{ "path": &p("new"), "size": 1, "dir": false }])
    );
    let cleaned = app
        .delete(&format!("/workspaces/{id}/files/{dir}"))
        .bearer_auth(&app.admin);
    assert_eq!(cleaned.send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn raw_bytes_round_trip_with_tags_and_conditions_on_both_paths() {
    let app = Options::default().eic().spawn().await;
    let local = app.create_local(json!({ "name": "raw" })).await;
    raw_files_and_conditions(&app, &local).await;
    let remote = eic_workspace(&app, &instance()).await;
    raw_files_and_conditions(&app, &remote).await;
}

/// Two writers holding the same tag send at once, `rounds` times: each time exactly one wins.
async fn one_of_two_writers_wins(app: &TestApp, id: &str, rounds: usize) {
    let base = put_raw(app, id, "race.txt", b"base", &[]).await;
    let mut tag = etag(&base);
    for round in 0..rounds {
        let mine = |n: usize| format!("writer {n}, round {round}").into_bytes();
        let (a, b) = (mine(1), mine(2));
        let cond = [("If-Match", tag.as_str())];
        let (ra, rb) = tokio::join!(
            put_raw(app, id, "race.txt", &a, &cond),
            put_raw(app, id, "race.txt", &b, &cond)
        );
        let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 412], "round {round}");
        let winner = if ra.status() == 200 { a } else { b };
        let now = get_raw(app, id, "race.txt").await;
        tag = etag(&now);
        assert_eq!(now.bytes().await.unwrap(), winner);
    }
}

#[tokio::test]
async fn of_two_writers_with_the_same_if_match_exactly_one_wins_on_both_paths() {
    let app = Options::default().eic().spawn().await;
    let local = app.create_local(json!({ "name": "race" })).await;
    one_of_two_writers_wins(&app, &local, 4).await;
    let remote = eic_workspace(&app, &instance()).await;
    one_of_two_writers_wins(&app, &remote, 4).await;
}

#[tokio::test]
async fn a_raw_write_past_files_max_bytes_is_refused_before_its_body_is_read() {
    let app = Options::default()
        .arg("--files-max-bytes", "1000")
        .spawn()
        .await;
    let id = app.create_local(json!({ "name": "cap" })).await;
    // Announce a terabyte and send nothing: the answer comes at once, from the headers alone.
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "PUT /workspaces/{id}/files/big HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: {RAW}\r\nContent-Length: 1099511627776\r\n\r\n",
        app.admin
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read(&mut answer))
        .await
        .expect("answered without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("over the limit of 1000"), "{answer}");
    // A raw read of a file past the cap is refused too; the JSON read keeps its own 5 MiB cap.
    let big = vec![b'b'; 1001];
    app.call(
        Method::PUT,
        &format!("/workspaces/{id}/files/big"),
        &app.admin,
        Some(json!({ "content": String::from_utf8(big).unwrap() })),
    )
    .await;
    assert_eq!(get_raw(&app, &id, "big").await.status(), 413);
    let (status, body) = app
        .get_as(&format!("/workspaces/{id}/files/big"), &app.admin)
        .await;
    assert_eq!((status.as_u16(), body["size"].as_u64()), (200, Some(1001)));
}
