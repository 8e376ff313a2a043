//! The backend contract, run against each backend: here the real Docker engine.

#[path = "support/mod.rs"]
mod support;

use chrono::Utc;
use workspace_server::backend::Backend;
use workspace_server::backend::docker::{ContainerSettings, DockerBackend};
use workspace_server::workspace::{Status, Workspace, WorkspaceId};

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
    let now = Utc::now();
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: "contract".into(),
        runtime: "langgraph".into(),
        tier: 3,
        status: Status::Online,
        parent_id: None,
        instance_id: None,
        image: None,
        last_error: None,
        created_at: now,
        updated_at: now,
        host_key: None,
    };
    backend.provision(&ws).await.expect("provision");
    let outcome = tokio::spawn({
        let ws = ws.clone();
        async move {
            let backend = backend;
            support::contract::backend_contract(&backend, &ws).await;
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
