//! The backend contract, run against each backend: the real Docker engine, and the EIC path
//! with the real `ssh` client and sshd through the `aws` stand-in.

#[path = "support/mod.rs"]
mod support;

use chrono::Utc;
use std::sync::Arc;
use workspace_server::backend::{Backend, Target};

use workspace_server::backend::docker::{ContainerSettings, DockerBackend};
use workspace_server::backend::eic::{EicBackend, EicConfig};
use workspace_server::metrics::Metrics;
use workspace_server::workspace::{Status, Workspace, WorkspaceId};

/// A workspace as its backend receives it.
fn workspace(instance_id: Option<String>, runtime: &str) -> Target {
    let now = Utc::now();
    Target::of(Workspace {
        id: WorkspaceId::new(),
        name: "contract".into(),
        runtime: runtime.into(),
        tier: 3,
        status: Status::Online,
        parent_id: None,
        instance_id,
        image: None,
        last_error: None,
        created_at: now,
        updated_at: now,
        host_key: None,
    })
}

#[tokio::test]
async fn the_eic_backend_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = workspace_server::store::open(None, dir.path())
        .await
        .unwrap();
    let backend = EicBackend::new(
        EicConfig {
            aws: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/aws").into(),
            ssh: "ssh".into(),
            region: "us-east-2".into(),
            os_user: "ubuntu".into(),
            restart_command: None,
        },
        store,
        Arc::new(Metrics::default()),
    );
    let n: u64 = rand::random::<u64>() & 0x0fff_ffff_ffff_ffff;
    // langgraph: a base that belongs to root, reached through sudo, as on the workspace AMIs.
    let ws = workspace(Some(format!("i-{n:017x}")), "langgraph");
    support::contract::backend_contract(&backend, &ws, "/opt/configs").await;
}

#[tokio::test]
async fn the_docker_backend_meets_the_contract() {
    let image =
        std::env::var("WSS_TEST_IMAGE").unwrap_or_else(|_| "workspace-server-test:busybox".into());
    let backend = DockerBackend::new(
        "unix:///var/run/docker.sock",
        ContainerSettings {
            default_image: image,
            privileged: false,
            limits: [(512, 1024), (2048, 2048), (4096, 4096)],
        },
    );
    let ws = workspace(None, "langgraph");
    backend.provision(&ws).await.expect("provision");
    let outcome = tokio::spawn({
        let ws = ws.clone();
        async move {
            let backend = backend;
            support::contract::backend_contract(&backend, &ws, "/configs").await;
            backend
        }
    })
    .await;
    match outcome {
        Ok(backend) => backend.remove(&ws).await.expect("remove"),
        Err(panic) => {
            let cleanup = DockerBackend::new(
                "unix:///var/run/docker.sock",
                ContainerSettings {
                    default_image: String::new(),
                    privileged: false,
                    limits: [(0, 0); 3],
                },
            );
            let _ = cleanup.remove(&ws).await;
            std::panic::resume_unwind(panic.into_panic());
        }
    }
}
