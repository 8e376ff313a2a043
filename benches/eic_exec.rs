//! EIC exec latency: a first exec (key push, tunnel, ssh authentication, then the command)
//! against a repeat exec through the pooled connection, both through the server's HTTP API.
//! Needs the test sshd and `aws` stand-in: run with `scripts/bench.sh eic_exec`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use workspace_server::app::App;
use workspace_server::config::Config;

/// Runs of each kind.
const RUNS: usize = 30;

fn summary(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = samples[samples.len() / 2];
    println!(
        "{name:<28} median {:>7.1} ms   min {:>7.1}   p90 {:>7.1}   max {:>7.1}   (n={})",
        ms(median),
        ms(samples[0]),
        ms(samples[samples.len() * 9 / 10]),
        ms(*samples.last().unwrap()),
        samples.len()
    );
    median
}

async fn exec(client: &reqwest::Client, base: &str, token: &str, id: &str) -> Duration {
    let started = Instant::now();
    let res = client
        .post(format!("{base}/workspaces/{id}/exec"))
        .bearer_auth(token)
        .header("Accept", "application/json")
        .json(&json!({ "argv": ["true"] }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (status.as_u16(), &body["exit_code"]),
        (200, &json!(0)),
        "{body}"
    );
    started.elapsed()
}

async fn register(client: &reqwest::Client, base: &str, token: &str, instance: &str) -> String {
    let body: Value = client
        .post(format!("{base}/workspaces"))
        .bearer_auth(token)
        .json(&json!({ "name": "bench", "runtime": "hermes", "instance_id": instance }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let token = "bench-admin-token";
    let aws = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/aws");
    let config = Config::from_args([
        "workspace-server",
        "--port=0",
        &format!("--data-dir={}", dir.path().display()),
        &format!("--admin-token={token}"),
        "--rate-limit=0",
        "--docker-host=none",
        &format!("--aws-cli={aws}"),
    ])
    .unwrap();
    let app = App::build(config).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.serve(std::future::pending()));
    let client = reqwest::Client::new();

    let mut first = Vec::new();
    for i in 0..RUNS {
        let id = register(&client, &base, token, &format!("i-{:017x}", 0xbe0000 + i)).await;
        first.push(exec(&client, &base, token, &id).await);
    }
    let pooled_id = register(&client, &base, token, "i-00000000000bee000").await;
    exec(&client, &base, token, &pooled_id).await;
    let mut repeat = Vec::new();
    for _ in 0..RUNS {
        repeat.push(exec(&client, &base, token, &pooled_id).await);
    }
    println!("EIC exec of `true` through the server (stand-in aws, sshd on loopback):");
    let a = summary("first exec (unpooled)", first);
    let b = summary("repeat exec (pooled)", repeat);
    println!("pooled is {:.1}x faster", a.as_secs_f64() / b.as_secs_f64());
}
