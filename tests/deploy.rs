//! The deployment images, built here without a registry from the binary under test, and run on
//! the real Docker engine: user, health, binaries, SIGTERM, the data directory and DATABASE_URL.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs the docker CLI (tests may; the server never does) and returns stdout, failing loudly.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Removes a container when the test ends, however it ends.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

/// Builds `dockerfile` the offline way (docs/deployment.md) from a context holding only what it
/// copies: the binary under test as `prebuilt/workspace-server`, the migrations, the entrypoint.
fn build(dockerfile: &str, tag: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(root.join(dockerfile), ctx.path().join(dockerfile)).unwrap();
    std::fs::copy(
        root.join("entrypoint-tenant.sh"),
        ctx.path().join("entrypoint-tenant.sh"),
    )
    .unwrap();
    std::fs::create_dir(ctx.path().join("prebuilt")).unwrap();
    let binary = ctx.path().join("prebuilt/workspace-server");
    std::fs::copy(env!("CARGO_BIN_EXE_workspace-server"), binary).unwrap();
    std::fs::create_dir(ctx.path().join("migrations")).unwrap();
    let copied = Command::new("cp")
        .args(["-r", "migrations/sqlite", "migrations/postgres"])
        .arg(ctx.path().join("migrations"))
        .current_dir(root)
        .status()
        .unwrap();
    assert!(copied.success());
    let out = Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args([
            "build",
            "-q",
            "-f",
            dockerfile,
            "--build-arg",
            "RUST_IMAGE=debian:bookworm-slim",
            "-t",
            tag,
        ])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building {dockerfile}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn wait_healthy(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(res) = reqwest::get(url).await
            && res.status() == 200
        {
            assert_eq!(res.text().await.unwrap(), r#"{"status":"ok"}"#);
            return;
        }
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn published_port(container: &str) -> String {
    let mapping = docker(&["port", container, "8080/tcp"]);
    mapping
        .lines()
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned()
}

/// Runs the image's real AWS CLI with the exact argv the server builds. AWS cannot be reached from
/// here and there are no credentials, so each call must fail there, never at parsing its
/// arguments (the CLI's exit code 252).
fn the_real_cli_parses_the_servers_argv(container: &str) {
    use workspace_server::backend::eic::args::{Target, send_key_args, tunnel_args};
    let target = Target {
        aws: "aws",
        region: "us-east-2",
        instance_id: "i-0123456789abcdef0",
        os_user: "ubuntu",
    };
    // A key made as the server makes it (the CLI checks its length, at least 80).
    let key = ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, ssh_key::Algorithm::Ed25519)
        .unwrap()
        .public_key()
        .to_openssh()
        .unwrap();
    for argv in [send_key_args(&target, &key), tunnel_args(&target)] {
        let out = Command::new("docker")
            .args([
                "exec",
                "-e",
                "AWS_EC2_METADATA_DISABLED=true",
                container,
                "timeout",
                "60",
                "aws",
            ])
            .args(&argv)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        assert_ne!(code, Some(252), "aws {argv:?} did not parse: {stderr}");
        assert_ne!(code, Some(0), "aws {argv:?} cannot succeed here: {stderr}");
        assert!(
            stderr.contains("credentials") || stderr.contains("connect"),
            "aws {argv:?} failed for another reason ({code:?}): {stderr}"
        );
    }
}

#[tokio::test]
async fn the_tenant_image_runs_as_canvas_answers_health_and_stops_on_sigterm() {
    build("Dockerfile.tenant", "workspace-server-tenant:test");
    let volume = format!("wss-deploy-{}", uuid::Uuid::new_v4().simple());
    let run = |name: &str| {
        docker(&[
            "run",
            "-d",
            "--name",
            name,
            "-p",
            "127.0.0.1::8080",
            "-e",
            "ADMIN_TOKEN=deploy-test-token",
            "-v",
            &format!("{volume}:/data"),
            "workspace-server-tenant:test",
        ])
    };
    let name = format!("wss-tenant-{}", uuid::Uuid::new_v4().simple());
    let c = Container(run(&name));
    let base = format!("http://127.0.0.1:{}", published_port(&c.0));
    wait_healthy(&format!("{base}/health")).await;

    assert_eq!(docker(&["exec", &c.0, "id", "-u"]), "1000");
    assert_eq!(docker(&["exec", &c.0, "id", "-un"]), "canvas");
    assert_eq!(
        docker(&["exec", &c.0, "stat", "-c", "%u", "/proc/1"]),
        "1000",
        "PID 1 runs as 1000"
    );
    // The binaries the EIC path, plugins and the canvas need, and an `aws` with `open-tunnel`
    // (Debian 12's 2.9.19 has none: this fails on the old image); `setsid --ctty` gives the EIC
    // terminal's ssh its PTY as controlling terminal.
    for check in [
        "setsid --help | grep -q -- --ctty",
        "aws --version",
        "aws ec2-instance-connect open-tunnel help",
        "ssh -V",
        "git --version",
        "node --version",
    ] {
        docker(&[
            "exec",
            &c.0,
            "sh",
            "-c",
            &format!("{check} >/dev/null 2>&1"),
        ]);
    }
    the_real_cli_parses_the_servers_argv(&c.0);
    docker(&["exec", &c.0, "workspace-server", "healthcheck"]);
    let ready: serde_json::Value = reqwest::get(format!("{base}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["checks"]["eic"], "ok",
        "the server found its CLI new enough: {ready}"
    );

    // The data directory is the volume: a workspace registered now survives a new container.
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{base}/workspaces"))
        .bearer_auth("deploy-test-token")
        .json(&serde_json::json!({ "name": "kept", "instance_id": "i-0123456789abcdef0" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert!(docker(&["exec", &c.0, "ls", "/data"]).contains("workspace-server.db"));

    let started = Instant::now();
    docker(&["stop", "-t", "10", &c.0]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", &c.0]);
    assert!(code == "0" || code == "143", "exit code {code}");
    drop(c);

    let c = Container(run(&format!("{name}-2")));
    let base = format!("http://127.0.0.1:{}", published_port(&c.0));
    wait_healthy(&format!("{base}/health")).await;
    let listed: serde_json::Value = client
        .get(format!("{base}/workspaces"))
        .bearer_auth("deploy-test-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["name"], "kept");
    drop(c);
    let _ = Command::new("docker")
        .args(["volume", "rm", "-f", &volume])
        .output();
}

#[tokio::test]
async fn the_server_image_takes_its_database_from_database_url() {
    build("Dockerfile", "workspace-server:test");
    let url = support::fresh_postgres_url().await;
    let name = format!("wss-server-{}", uuid::Uuid::new_v4().simple());
    // Host networking: the test PostgreSQL listens on the host's loopback only.
    let c = Container(docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "-e",
        "PORT=18765",
        "-e",
        "ADMIN_TOKEN=deploy-test-token",
        "-e",
        &format!("DATABASE_URL={url}"),
        "workspace-server:test",
    ]));
    wait_healthy("http://127.0.0.1:18765/health").await;
    assert_eq!(docker(&["exec", &c.0, "id", "-u"]), "1000");
    let ready = reqwest::get("http://127.0.0.1:18765/readyz").await.unwrap();
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(
        docker(&["exec", &c.0, "ls", "-A", "/data"]),
        "",
        "nothing written to the data dir"
    );
}
