//! The local Docker path: containers, execs, a TTY terminal and files over the Docker Engine API
//! (SPEC §6, §8). No `docker` CLI is ever run.

mod cgroup;
mod errors;
mod exec;
mod files;
mod images;
mod kill;
mod settings;

use std::collections::HashMap;

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, RemoveContainerOptions, RemoveVolumeOptions,
    RestartContainerOptions, StartContainerOptions,
};
use tokio::sync::OnceCell;
use tracing::instrument;

use self::errors::{container_error, engine_refused, is_not_found, unavailable};
use self::settings::CONFIGS_MOUNT;
pub use self::settings::{ContainerSettings, container_body};
use super::{
    Backend, BackendError, ExecProcess, ExecSpec, FileEntry, FilesRoot, PING_TIMEOUT, Target,
    TermSize, TerminalSession, fs,
};
use crate::backend::Observed;
use crate::backend::content::{FileStream, Input};
use crate::files::{Precondition, RelPath};
use crate::workspace::Workspace;

/// Label set on every container and volume this server creates.
pub const MANAGED_LABEL: &str = "workspace-server.managed";
/// Label carrying the workspace id.
pub const WORKSPACE_LABEL: &str = "workspace-server.workspace-id";
/// Seconds a container gets to stop on SIGTERM before it is killed.
const STOP_GRACE_SECS: i32 = 10;

/// The name of a workspace's `/configs` volume.
pub fn configs_volume(container: &str) -> String {
    format!("{container}-configs")
}

/// The Docker backend. Connects lazily, so a server can start before its engine.
pub struct DockerBackend {
    host: String,
    settings: ContainerSettings,
    client: OnceCell<Docker>,
}

impl DockerBackend {
    pub fn new(host: &str, settings: ContainerSettings) -> Self {
        Self {
            host: host.to_owned(),
            settings,
            client: OnceCell::new(),
        }
    }

    /// Where the file scripts of a workspace run.
    async fn shell(&self, ws: &Target) -> Result<files::ContainerShell<'_>, BackendError> {
        Ok(files::ContainerShell {
            docker: self.docker().await?,
            container: ws.container()?.to_owned(),
        })
    }

    /// The engine client, with the API version agreed on first use.
    async fn docker(&self) -> Result<&Docker, BackendError> {
        self.client
            .get_or_try_init(|| async {
                let docker = Docker::connect_with_host(&self.host).map_err(unavailable)?;
                tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version())
                    .await
                    .map_err(|_| BackendError::Unavailable("Docker not available"))?
                    .map_err(unavailable)
            })
            .await
    }
}

fn labels(ws: &Workspace) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED_LABEL.to_owned(), "true".to_owned()),
        (WORKSPACE_LABEL.to_owned(), ws.id.to_string()),
    ])
}

#[async_trait]
impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn observe(
        &self,
        workspaces: &[Target],
    ) -> Result<HashMap<crate::workspace::WorkspaceId, Observed>, BackendError> {
        let docker = self.docker().await?;
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![MANAGED_LABEL.to_owned()],
            )])),
            ..Default::default()
        };
        let containers = docker
            .list_containers(Some(options))
            .await
            .map_err(container_error)?;
        let mut states: HashMap<String, Observed> = HashMap::new();
        for c in containers {
            let Some(id) = c.labels.as_ref().and_then(|l| l.get(WORKSPACE_LABEL)) else {
                continue;
            };
            let state = c.state.map(|s| s.to_string()).unwrap_or_default();
            let seen = if state == "running" {
                Observed::Running
            } else {
                Observed::Stopped(state)
            };
            states.insert(id.clone(), seen);
        }
        Ok(workspaces
            .iter()
            .map(|ws| {
                let seen = states
                    .remove(&ws.id.to_string())
                    .unwrap_or(Observed::Missing);
                (ws.id, seen)
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), BackendError> {
        let docker = self.docker().await?;
        tokio::time::timeout(PING_TIMEOUT, docker.ping())
            .await
            .map_err(|_| BackendError::Unavailable("Docker not available"))?
            .map_err(unavailable)?;
        Ok(())
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn provision(&self, ws: &Target) -> Result<(), BackendError> {
        let docker = self.docker().await?;
        let name = ws.container()?;
        let volume = configs_volume(name);
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(volume.clone()),
                labels: Some(labels(ws)),
                ..Default::default()
            })
            .await
            .map_err(engine_refused)?;
        let body = container_body(ws, name, &self.settings, &volume, labels(ws));
        if let Some(image) = body.image.as_deref() {
            images::ensure(docker, image).await?;
        }
        let options = CreateContainerOptions {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        docker
            .create_container(Some(options), body)
            .await
            .map_err(engine_refused)?;
        docker
            .start_container(name, None::<StartContainerOptions>)
            .await
            .map_err(engine_refused)?;
        Ok(())
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn remove(&self, ws: &Target) -> Result<(), BackendError> {
        let docker = self.docker().await?;
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match docker
            .remove_container(ws.container()?, Some(options))
            .await
        {
            Err(e) if !is_not_found(&e) => return Err(container_error(e)),
            _ => {}
        }
        match docker
            .remove_volume(
                &configs_volume(ws.container()?),
                Some(RemoveVolumeOptions { force: true }),
            )
            .await
        {
            Err(e) if !is_not_found(&e) => Err(container_error(e)),
            _ => Ok(()),
        }
    }

    /// Restarts the container; one that is gone (removed behind the server's back, or never
    /// made because provisioning failed) is created again.
    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn restart(&self, ws: &Target) -> Result<(), BackendError> {
        let options = RestartContainerOptions {
            t: Some(STOP_GRACE_SECS),
            ..Default::default()
        };
        match self
            .docker()
            .await?
            .restart_container(ws.container()?, Some(options))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => self.provision(ws).await,
            Err(e) => Err(engine_refused(e)),
        }
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn open_terminal(
        &self,
        ws: &Target,
        size: TermSize,
    ) -> Result<TerminalSession, BackendError> {
        exec::open_terminal(self.docker().await?, ws.container()?, size).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn exec(
        &self,
        ws: &Target,
        spec: &ExecSpec,
    ) -> Result<Box<dyn ExecProcess>, BackendError> {
        let process = exec::start(self.docker().await?, ws.container()?, spec).await?;
        Ok(Box::new(process))
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn list_files(
        &self,
        ws: &Target,
        root: FilesRoot<'_>,
        dir: Option<&RelPath>,
        depth: u8,
    ) -> Result<Vec<FileEntry>, BackendError> {
        let root = files::local_root(root)?;
        fs::list(&self.shell(ws).await?, root, dir, depth).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn read_file(
        &self,
        ws: &Target,
        root: FilesRoot<'_>,
        path: &RelPath,
        max_bytes: u64,
    ) -> Result<FileStream, BackendError> {
        let root = files::local_root(root)?;
        fs::read(&self.shell(ws).await?, root, path, max_bytes).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn write_file(
        &self,
        ws: &Target,
        path: &RelPath,
        size: u64,
        content: Input,
        cond: &Precondition,
    ) -> Result<(), BackendError> {
        let sh = self.shell(ws).await?;
        fs::write_one(&sh, CONFIGS_MOUNT, path, size, content, cond).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn write_files(
        &self,
        ws: &Target,
        batch: &[(RelPath, Vec<u8>)],
    ) -> Result<(), BackendError> {
        fs::write(&self.shell(ws).await?, CONFIGS_MOUNT, batch).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id))]
    async fn delete_file(
        &self,
        ws: &Target,
        path: &RelPath,
        cond: &Precondition,
    ) -> Result<(), BackendError> {
        fs::delete(&self.shell(ws).await?, CONFIGS_MOUNT, path, cond).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id, plugin = name))]
    async fn deliver_plugin(
        &self,
        ws: &Target,
        name: &str,
        staged: &std::path::Path,
    ) -> Result<(), BackendError> {
        fs::deliver_plugin(&self.shell(ws).await?, CONFIGS_MOUNT, name, staged).await
    }

    #[instrument(skip_all, fields(workspace = %ws.id, plugin = name))]
    async fn remove_plugin(&self, ws: &Target, name: &str) -> Result<(), BackendError> {
        fs::remove_plugin(&self.shell(ws).await?, CONFIGS_MOUNT, name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::StdStream;

    /// A backend on the test machine's engine, with the test image as default.
    fn backend() -> DockerBackend {
        let image = std::env::var("WSS_TEST_IMAGE")
            .unwrap_or_else(|_| "workspace-server-test:busybox".into());
        DockerBackend::new(
            "unix:///var/run/docker.sock",
            ContainerSettings {
                default_image: image,
                privileged: false,
                limits: [(512, 1024), (2048, 2048), (4096, 4096)],
            },
        )
    }

    async fn ps(docker: &Docker, container: &str) -> String {
        let spec = ExecSpec {
            argv: vec!["ps".into(), "-o".into(), "args".into()],
            ..ExecSpec::default()
        };
        let mut p = exec::start(docker, container, &spec).await.unwrap();
        let mut out = Vec::new();
        while let Some(Ok((StdStream::Stdout, b))) = p.next_output().await {
            out.extend_from_slice(&b);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn the_in_container_kill_ends_an_exec_tree_when_host_pids_are_hidden() {
        let backend = backend();
        let mut ws = Workspace::sample(None);
        ws.id = crate::workspace::WorkspaceId::new();
        ws.tier = 2; // its own PID namespace, as the fallback would see it
        let ws = Target::of(ws);
        backend.provision(&ws).await.unwrap();
        let docker = backend.docker().await.unwrap().clone();
        let name = ws.container().unwrap().to_owned();
        let spec = ExecSpec {
            argv: ["sh", "-c", "sleep 3579 & sleep 3580"]
                .map(String::from)
                .into(),
            ..ExecSpec::default()
        };
        let process = exec::start(&docker, &name, &spec).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(ps(&docker, &name).await.contains("sleep 3580"));
        process.kill_from_inside().await;
        let left = ps(&docker, &name).await;
        backend.remove(&ws).await.unwrap();
        assert!(
            !left.contains("sleep 3579") && !left.contains("sleep 3580"),
            "{left}"
        );
    }
}
