//! The plugin use cases (SPEC §5.6) but installing: the open registry listing, what a workspace
//! has installed, and the download for external runtimes. Installing and removing are in
//! `plugins/install.rs`.

pub(crate) mod install;

use std::sync::Arc;

use serde::Serialize;

pub use self::install::{InstallBody, Installed, Uninstalled};
use super::{Ports, ServiceError};
use crate::access::Access;
use crate::backend::{BackendError, FilesRoot, PLUGINS_SUBDIR};
use crate::files::RelPath;
use crate::plugins::registry::{Offered, Registry};
use crate::plugins::source::{PluginSource, SCHEMES, valid_name};
use crate::plugins::stage::{self, StageSettings};
use crate::plugins::{self, PluginSummary};
use crate::workspace::Workspace;

/// Most of an installed plugin's `plugin.yaml` a listing reads, in bytes.
const INSTALLED_YAML_BYTES: u64 = 64 * 1024;

/// The source schemes this server fetches from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Sources {
    pub schemes: &'static [&'static str],
}

/// A plugin installed in a workspace.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstalledPlugin {
    pub name: String,
    #[serde(flatten)]
    pub summary: PluginSummary,
}

/// A registry plugin packed for download.
pub struct Download {
    pub file_name: String,
    pub gzip: Vec<u8>,
}

pub struct Plugins {
    ports: Ports,
    access: Arc<Access>,
    staging: StageSettings,
    /// Whether a GitHub source may leave out its ref.
    allow_unpinned: bool,
    registry: Arc<Registry>,
}

impl Plugins {
    pub fn new(
        ports: Ports,
        access: Arc<Access>,
        staging: StageSettings,
        allow_unpinned: bool,
        registry: Arc<Registry>,
    ) -> Self {
        Self {
            ports,
            access,
            staging,
            allow_unpinned,
            registry,
        }
    }

    /// What the registry directory offers (cached until it changes).
    pub async fn registry(&self) -> Result<Arc<Vec<Offered>>, ServiceError> {
        let registry = self.registry.clone();
        tokio::task::spawn_blocking(move || registry.list())
            .await
            .map_err(ServiceError::join)
    }

    pub fn sources(&self) -> Sources {
        Sources { schemes: SCHEMES }
    }

    /// The plugins installed in `ws`: the directories of its plugins folder with a valid name.
    pub async fn installed(&self, ws: &Workspace) -> Result<Vec<InstalledPlugin>, ServiceError> {
        let b = self.ports.backends.for_workspace(ws)?;
        let dir = RelPath::parse(PLUGINS_SUBDIR).map_err(ServiceError::Invalid)?;
        let entries = match b
            .backend
            .list_files(&b.target, FilesRoot(None), Some(&dir), 1)
            .await
        {
            Ok(entries) => entries,
            Err(BackendError::NotFound) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for entry in entries.iter().filter(|e| e.dir) {
            let name = entry.path.rsplit('/').next().unwrap_or_default();
            if !valid_name(name) {
                continue;
            }
            let yaml_path = RelPath::parse(&format!("{PLUGINS_SUBDIR}/{name}/plugin.yaml"))
                .map_err(ServiceError::Invalid)?;
            let read =
                b.backend
                    .read_file(&b.target, FilesRoot(None), &yaml_path, INSTALLED_YAML_BYTES);
            let yaml = match read.await {
                Ok(file) => file.collect().await.unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            let yaml = String::from_utf8_lossy(&yaml);
            out.push(InstalledPlugin {
                name: name.to_owned(),
                summary: plugins::summary(&yaml),
            });
        }
        Ok(out)
    }

    /// Registry plugin `name` as a gzip tarball, for runtimes that fetch plugins themselves.
    pub async fn download(&self, name: &str) -> Result<Download, ServiceError> {
        check_name(name)?;
        let source = PluginSource::Local {
            name: name.to_owned(),
        };
        let staged = stage::stage(&source, &self.staging)
            .await
            .map_err(install::stage_error)?;
        let prefix = name.to_owned();
        let gzip = tokio::task::spawn_blocking(move || {
            crate::backend::tar::pack_gz(&staged.root, &prefix, plugins::PLUGIN_OWNER)
        })
        .await
        .map_err(ServiceError::join)?
        .map_err(|e| ServiceError::Internal(e.into()))?;
        Ok(Download {
            file_name: format!("{name}.tar.gz"),
            gzip,
        })
    }
}

/// Refuses a plugin name that is not `a-z`, `0-9`, `.`, `_`, `-`.
pub fn check_name(name: &str) -> Result<(), ServiceError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ServiceError::invalid(format!(
            "invalid plugin name {name:?}"
        )))
    }
}
