//! Files: writes of 10 MiB and 200 MiB through the API (raw, and JSON for 10 MiB) and raw reads,
//! against `docker cp` of the same bytes.

use std::time::Instant;

use serde_json::json;

use crate::Bench;
use crate::common::{ROUNDS, Stats, timed_command, times_row};
use crate::support::server::TOKEN;

const RAW: &str = "application/octet-stream";

/// Milliseconds of writing `content` to `path` of the local workspace as JSON.
async fn put_json(b: &Bench, path: &str, content: &str) -> f64 {
    let started = Instant::now();
    let url = format!("/workspaces/{}/files/{path}", b.local);
    let (status, body) = b
        .server
        .call("PUT", &url, Some(json!({ "content": content })))
        .await;
    assert_eq!(status, 200, "{body}");
    started.elapsed().as_secs_f64() * 1000.0
}

/// Milliseconds of writing `content` raw to `path` of the local workspace.
async fn put_raw(b: &Bench, path: &str, content: &bytes::Bytes) -> f64 {
    let started = Instant::now();
    let url = b
        .server
        .url(&format!("/workspaces/{}/files/{path}", b.local));
    let res = b.server.client.put(url).bearer_auth(TOKEN);
    let res = res.header("Content-Type", RAW).body(content.clone());
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap();
    started.elapsed().as_secs_f64() * 1000.0
}

/// Milliseconds of reading `path` of the local workspace through the API, to the last byte.
async fn get(b: &Bench, path: &str, accept: &str, at_least: usize) -> f64 {
    let started = Instant::now();
    let url = b
        .server
        .url(&format!("/workspaces/{}/files/{path}", b.local));
    let res = b
        .server
        .client
        .get(url)
        .bearer_auth(TOKEN)
        .header("Accept", accept);
    let body = res.send().await.unwrap().bytes().await.unwrap();
    assert!(body.len() >= at_least);
    started.elapsed().as_secs_f64() * 1000.0
}

/// A host file of `size` bytes of `fill`, and the same bytes in memory.
fn host_file(size: usize, fill: u8) -> (tempfile::NamedTempFile, bytes::Bytes) {
    let content = vec![fill; size];
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &content).unwrap();
    (file, content.into())
}

/// `docker cp` of `host` into the container as `name`, and of it back out: milliseconds each.
fn docker_cp(b: &Bench, host: &tempfile::NamedTempFile, name: &str) -> (f64, f64) {
    let in_container = format!("{}:/configs/{name}", b.container);
    let host_path = host.path().display().to_string();
    let cp_in = timed_command("docker", &["cp", &host_path, &in_container]);
    let out = ["cp", &in_container, "/tmp/wss-bench-cp.out"];
    let cp_out = timed_command("docker", &out);
    (cp_in, cp_out)
}

/// Figure 5: files through the API against `docker cp`.
pub async fn files(b: &Bench) {
    const MIB: usize = 1024 * 1024;
    let (small_file, small) = host_file(10 * MIB, b'a');
    let text = String::from_utf8(small.to_vec()).unwrap();
    let (mut json_puts, mut raw_puts, mut cp_in, mut cp_out) = (vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        json_puts.push(put_json(b, "bench.txt", &text).await);
        raw_puts.push(put_raw(b, "bench.raw", &small).await);
        let (i, o) = docker_cp(b, &small_file, "cp.txt");
        cp_in.push(i);
        cp_out.push(o);
    }
    let cp_in = Stats::of(cp_in);
    let goal = "≤ 1.2× `docker cp`";
    times_row(
        "write 10 MiB file, raw",
        &Stats::of(raw_puts),
        "`docker cp` in",
        &cp_in,
        goal,
    );
    times_row(
        "write 10 MiB file, JSON",
        &Stats::of(json_puts),
        "`docker cp` in",
        &cp_in,
        "—",
    );
    // The JSON form caps reads at 5 MiB: its figure is for a 5 MiB file.
    put_json(b, "half.txt", &"b".repeat(5 * MIB)).await;
    let mut gets = Vec::new();
    for _ in 0..ROUNDS {
        gets.push(get(b, "half.txt", "application/json", 5 * MIB).await);
    }
    let cp_out = Stats::of(cp_out);
    let figure = "read 5 MiB file, JSON (its cap)";
    times_row(
        figure,
        &Stats::of(gets),
        "`docker cp` out of 10 MiB",
        &cp_out,
        "—",
    );

    let (big_file, big) = host_file(200 * MIB, b'c');
    let (mut puts, mut gets, mut cp_in, mut cp_out) = (vec![], vec![], vec![], vec![]);
    let mut attach = Vec::new();
    // The Engine's own stdin path, with no server: what a write through an exec is bound by.
    let piped = format!(
        "docker exec -i {} sh -c 'cat > /configs/exec-i.big' < {}",
        b.container,
        big_file.path().display()
    );
    for _ in 0..ROUNDS {
        attach.push(timed_command("sh", &["-c", &piped]));
        puts.push(put_raw(b, "big.raw", &big).await);
        gets.push(get(b, "big.raw", RAW, 200 * MIB).await);
        let (i, o) = docker_cp(b, &big_file, "cp.big");
        cp_in.push(i);
        cp_out.push(o);
    }
    let goal = "≤ 1.3× `docker cp`";
    let puts = Stats::of(puts);
    times_row(
        "write 200 MiB file, raw",
        &puts,
        "`docker cp` in",
        &Stats::of(cp_in),
        goal,
    );
    let reference = "`docker exec -i … cat >` (the Engine's stdin path, no server)";
    let attach = Stats::of(attach);
    times_row("write 200 MiB file, raw", &puts, reference, &attach, "—");
    times_row(
        "read 200 MiB file, raw",
        &Stats::of(gets),
        "`docker cp` out",
        &Stats::of(cp_out),
        "—",
    );
    let _ = std::fs::remove_file("/tmp/wss-bench-cp.out");
    let _ = b
        .server
        .call(
            "DELETE",
            &format!("/workspaces/{}/files/big.raw", b.local),
            None,
        )
        .await;
}
