//! Large files (SPEC §15): a 200 MiB random file written raw and read back raw, byte for byte,
//! on both paths, while the server's RSS grows by less than 32 MiB: neither direction holds the
//! file in the server's memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use crate::support::process::rss_kib;
use crate::support::server::{Server, TOKEN};

const SIZE: usize = 200 * 1024 * 1024;
const MAX_GROWTH_KIB: u64 = 32 * 1024;

/// The server's RSS, sampled every 20 ms while `during` runs: (before, peak), in KiB.
async fn peak_rss<F: std::future::Future>(pid: u32, during: F) -> (u64, u64, F::Output) {
    let before = rss_kib(pid);
    let (peak, done) = (
        Arc::new(AtomicU64::new(before)),
        Arc::new(AtomicBool::new(false)),
    );
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let out = during.await;
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    (before, peak.load(Ordering::Relaxed), out)
}

/// Writes `data` raw to `path` of `id` and reads it back raw, comparing as it streams.
async fn round_trip(server: &Server, id: &str, path: &str, data: &Bytes, tag: &str) {
    let url = server.url(&format!("/workspaces/{id}/files/{path}"));
    let put = server
        .client
        .put(&url)
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    let status = put.status();
    assert_eq!(
        put.headers().get("etag").map(|v| v.to_str().unwrap()),
        Some(tag),
        "{status}"
    );
    let get = server
        .client
        .get(&url)
        .bearer_auth(TOKEN)
        .header("Accept", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["etag"].to_str().unwrap(), tag);
    assert_eq!(get.content_length(), Some(data.len() as u64));
    let (mut at, mut body) = (0usize, get.bytes_stream());
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        assert!(
            data[at..].starts_with(&chunk),
            "{path}: bytes differ after {at}"
        );
        at += chunk.len();
    }
    assert_eq!(at, data.len(), "{path}: the whole file came back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_200_mib_random_file_round_trips_on_both_paths_without_the_server_holding_it() {
    let mut data = vec![0u8; SIZE];
    rand::rngs::StdRng::seed_from_u64(15).fill_bytes(&mut data);
    let tag = format!("\"{:x}\"", Sha256::digest(&data));
    let data = Bytes::from(data);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]).await;
    let local = server.local_workspace().await;
    let remote = server.eic_workspace("i-00000000000f11e5a").await;
    for (id, name) in [(&local, "local"), (&remote, "remote")] {
        // A small round trip first, so that the baseline includes what any transfer sets up.
        let small = Bytes::from_static(b"warm");
        let small_tag = format!("\"{:x}\"", Sha256::digest(&small));
        round_trip(&server, id, "warm.bin", &small, &small_tag).await;
        let (before, peak, ()) = peak_rss(
            server.pid(),
            round_trip(&server, id, "big.bin", &data, &tag),
        )
        .await;
        let growth = peak.saturating_sub(before);
        eprintln!("{name}: RSS {before} → {peak} KiB moving 200 MiB each way");
        assert!(
            growth < MAX_GROWTH_KIB,
            "{name}: the server's RSS grew by {growth} KiB ({before} → {peak}) moving 200 MiB"
        );
        let (status, body) = server
            .call("DELETE", &format!("/workspaces/{id}/files/big.bin"), None)
            .await;
        assert_eq!(status, 200, "{body}");
    }
}
