//! Files: a 10 MiB write and a 5 MiB read through the API against `docker cp`.

use std::time::Instant;

use serde_json::json;

use crate::Bench;
use crate::common::{ROUNDS, Stats, timed_command, times_row};
use crate::support::server::TOKEN;

/// Milliseconds of writing `content` to `path` of the local workspace through the API.
async fn put(b: &Bench, path: &str, content: &str) -> f64 {
    let started = Instant::now();
    let url = format!("/workspaces/{}/files/{path}", b.local);
    let (status, body) = b
        .server
        .call("PUT", &url, Some(json!({ "content": content })))
        .await;
    assert_eq!(status, 200, "{body}");
    started.elapsed().as_secs_f64() * 1000.0
}

/// Milliseconds of reading `path` of the local workspace through the API, to the last byte.
async fn get(b: &Bench, path: &str) -> f64 {
    let started = Instant::now();
    let url = b
        .server
        .url(&format!("/workspaces/{}/files/{path}", b.local));
    let res = b.server.client.get(url).bearer_auth(TOKEN).send().await;
    let body = res.unwrap().bytes().await.unwrap();
    assert!(body.len() > 5 * 1024 * 1024);
    started.elapsed().as_secs_f64() * 1000.0
}

/// Figure 5: files through the API against `docker cp`.
pub async fn files(b: &Bench) {
    let content = "a".repeat(10 * 1024 * 1024);
    let host_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(host_file.path(), &content).unwrap();
    let host_path = host_file.path().display().to_string();
    let in_container = format!("{}:/configs/cp.txt", b.container);
    let (mut puts, mut cp_in, mut cp_out) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        puts.push(put(b, "bench.txt", &content).await);
        cp_in.push(timed_command("docker", &["cp", &host_path, &in_container]));
        let out = ["cp", &in_container, "/tmp/wss-bench-cp.txt"];
        cp_out.push(timed_command("docker", &out));
    }
    let (puts, cp_in, cp_out) = (Stats::of(puts), Stats::of(cp_in), Stats::of(cp_out));
    times_row("write 10 MiB file", &puts, "`docker cp` in", &cp_in, "—");
    // The API caps reads at 5 MiB: the read figure is for a 5 MiB file.
    put(b, "half.txt", &"b".repeat(5 * 1024 * 1024)).await;
    let mut gets = Vec::new();
    for _ in 0..ROUNDS {
        gets.push(get(b, "half.txt").await);
    }
    let gets = Stats::of(gets);
    let figure = "read 5 MiB file (the read cap)";
    times_row(figure, &gets, "`docker cp` out of 10 MiB", &cp_out, "—");
}
