//! Installing and removing a plugin (SPEC §5.6): the pipeline in its specified order (source,
//! pin policy, staging, shape, digests, org allowlist), then the delivery ladder. Every attempt,
//! refusals before delivery included, writes one audit row (never the body).

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Plugins, check_name};
use crate::audit::{self, Kind};
use crate::auth::Caller;
use crate::backend::{BackendError, Bound};
use crate::plugins::archive::ArchiveError;
use crate::plugins::source::{PluginSource, SourceError, valid_name};
use crate::plugins::stage::{self, StageError};
use crate::plugins::{self};
use crate::services::{ServiceError, live};
use crate::workspace::Workspace;

/// The runtime whose agent runs outside any workspace: it downloads plugins itself.
const EXTERNAL_RUNTIME: &str = "external";

/// The body of `POST /workspaces/{id}/plugins`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallBody {
    source: String,
    sha256: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Installed {
    pub status: &'static str,
    pub plugin: String,
    pub source: String,
    pub restarted: bool,
    /// The commit a GitHub ref resolved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Uninstalled {
    pub status: &'static str,
    pub plugin: String,
    pub restarted: bool,
}

/// What an attempt was about, for its audit row.
struct Attempt<'a> {
    method: &'static str,
    summary: &'static str,
    name: &'a str,
    source: Option<&'a PluginSource>,
    commit: Option<&'a str>,
    started: Instant,
}

pub(super) fn stage_error(e: StageError) -> ServiceError {
    match e {
        StageError::NotFound => ServiceError::NotFound("plugin source not found".into()),
        StageError::Timeout => {
            ServiceError::UpstreamTimeout("fetching the plugin timed out".into())
        }
        StageError::Failed(detail) => {
            tracing::warn!(%detail, "staging a plugin failed");
            ServiceError::Upstream("fetching the plugin failed".into())
        }
        StageError::Archive(e @ (ArchiveError::TooLarge(_) | ArchiveError::TooManyEntries)) => {
            ServiceError::TooLarge(e.to_string())
        }
        StageError::Archive(ArchiveError::Io(e)) => {
            tracing::warn!(error = %e, "reading a plugin failed");
            ServiceError::invalid("the plugin archive could not be read")
        }
        StageError::Archive(e) => ServiceError::Invalid(e.to_string()),
    }
}

impl Plugins {
    /// Audits an install whose body was refused before it could be read (too large,
    /// malformed); the caller answers the refusal.
    pub async fn refused_body(&self, caller: &Caller, ws: &Workspace, reason: &ServiceError) {
        self.record(caller, ws, &refusal(None, Instant::now()), Err(reason))
            .await;
    }

    /// Installs the plugin `body` names into `ws`; answers whether the workspace restarted.
    pub async fn install(
        &self,
        caller: &Caller,
        ws: &Workspace,
        body: InstallBody,
    ) -> Result<Installed, ServiceError> {
        let started = Instant::now();
        let source = match PluginSource::parse(&body.source) {
            Ok(s) => s,
            Err(e) => {
                let e = match e {
                    SourceError::UnknownScheme(_) => ServiceError::UnknownScheme(e.to_string()),
                    other => ServiceError::Invalid(other.to_string()),
                };
                self.record(caller, ws, &refusal(None, started), Err(&e))
                    .await;
                return Err(e);
            }
        };
        if !source.is_pinned() && !self.allow_unpinned {
            let e = ServiceError::Unprocessable(
                "github sources must name a ref (github://owner/repo#<tag, branch or commit>)"
                    .into(),
            );
            let attempt = refusal(Some(&source), started);
            self.record(caller, ws, &attempt, Err(&e)).await;
            return Err(e);
        }
        live(ws)?;
        let result = self.run_install(ws, &source, body.sha256.as_deref()).await;
        let name = source.plugin_name();
        let commit = result.as_ref().ok().and_then(|(_, c)| c.clone());
        let attempt = Attempt {
            method: "POST",
            summary: "plugin installed",
            name,
            source: Some(&source),
            commit: commit.as_deref(),
            started,
        };
        self.record(caller, ws, &attempt, result.as_ref().map(|_| ()))
            .await;
        let (restarted, _) = result?;
        Ok(Installed {
            status: "installed",
            plugin: name.to_owned(),
            source: source.to_string(),
            restarted,
            commit,
        })
    }

    /// The pipeline after the source: answers whether the workspace was restarted, and the
    /// commit a GitHub ref resolved to.
    async fn run_install(
        &self,
        ws: &Workspace,
        source: &PluginSource,
        sha256: Option<&str>,
    ) -> Result<(bool, Option<String>), ServiceError> {
        let staged = stage::stage(source, &self.staging)
            .await
            .map_err(stage_error)?;
        let name = source.plugin_name();
        if !valid_name(name) || !staged.root.join("plugin.yaml").is_file() {
            return Err(ServiceError::invalid(format!(
                "{name:?} is not a plugin: a plugin is a directory with a plugin.yaml and a name of a-z, 0-9, '.', '_', '-'"
            )));
        }
        let root = staged.root.clone();
        let sha = sha256.map(str::to_owned);
        tokio::task::spawn_blocking(move || plugins::verify(&root, sha.as_deref()))
            .await
            .map_err(ServiceError::join)?
            .map_err(ServiceError::Unprocessable)?;
        self.check_allowlist(ws, name).await?;
        let commit = staged.commit.clone();
        let restarted = self
            .deliver(ws, name, async |b: &Bound| {
                b.backend
                    .deliver_plugin(&b.target, name, &staged.root)
                    .await
            })
            .await?;
        Ok((restarted, commit))
    }

    /// The org allowlist: empty allows all; otherwise the plugin must be on it.
    async fn check_allowlist(&self, ws: &Workspace, name: &str) -> Result<(), ServiceError> {
        let org = self.access.org_of(ws.id).await?;
        let allowed = self.ports.store.allowlist(org).await?;
        if !allowed.is_empty() && !allowed.iter().any(|e| e.plugin_name == name) {
            return Err(ServiceError::Forbidden(format!(
                "plugin {name:?} is not on this org's allowlist"
            )));
        }
        Ok(())
    }

    /// The delivery ladder: external runtime → 422 with the download route; a workspace with a
    /// container or an instance → `apply`, then restart; neither → 503. Answers whether it
    /// restarted.
    async fn deliver(
        &self,
        ws: &Workspace,
        name: &str,
        apply: impl AsyncFnOnce(&Bound) -> Result<(), BackendError>,
    ) -> Result<bool, ServiceError> {
        if ws.runtime == EXTERNAL_RUNTIME {
            return Err(ServiceError::Unprocessable(format!(
                "this workspace's runtime is external: fetch the plugin from GET /workspaces/{}/plugins/{name}/download",
                ws.id
            )));
        }
        let not_running = || ServiceError::Unavailable("workspace container not running".into());
        let Ok(bound) = self.ports.backends.for_workspace(ws) else {
            return Err(not_running());
        };
        match apply(&bound).await {
            Ok(()) => {}
            Err(BackendError::NotRunning | BackendError::Unavailable(_)) => {
                return Err(not_running());
            }
            // Only a removal can miss its target: the plugin is not installed.
            Err(BackendError::NotFound) => {
                return Err(ServiceError::NotFound("plugin not installed".into()));
            }
            Err(e) => return Err(e.into()),
        }
        match bound.backend.restart(&bound.target).await {
            Ok(()) => Ok(true),
            Err(BackendError::Unsupported(why)) => {
                tracing::info!(workspace_id = %ws.id, why, "plugin changed; workspace not restarted");
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes plugin `name` from `ws`, then restarts it as an install does.
    pub async fn uninstall(
        &self,
        caller: &Caller,
        ws: &Workspace,
        name: &str,
    ) -> Result<Uninstalled, ServiceError> {
        check_name(name)?;
        live(ws)?;
        let started = Instant::now();
        let result = self
            .deliver(ws, name, async |b: &Bound| {
                b.backend.remove_plugin(&b.target, name).await
            })
            .await;
        let attempt = Attempt {
            method: "DELETE",
            summary: "plugin uninstalled",
            name,
            source: None,
            commit: None,
            started,
        };
        self.record(caller, ws, &attempt, result.as_ref().map(|_| ()))
            .await;
        Ok(Uninstalled {
            status: "uninstalled",
            plugin: name.to_owned(),
            restarted: result?,
        })
    }

    /// The audit row of an attempt: what, by whom, how it ended.
    async fn record(
        &self,
        caller: &Caller,
        ws: &Workspace,
        a: &Attempt<'_>,
        result: Result<(), &ServiceError>,
    ) {
        let summary = format!("{}: {}", a.summary, a.name);
        let mut row = audit::row(ws.id, Kind::Plugin, caller, a.method, summary)
            .with_details(json!({
                "plugin": a.name,
                "source": a.source.map(ToString::to_string),
                "commit": a.commit,
            }))
            .with_duration(a.started.elapsed());
        if let Err(e) = result {
            row = row.with_outcome("error", Some(e.to_string()));
        }
        audit::record(&*self.ports.store, row).await;
    }
}

/// An install refused before anything was fetched.
fn refusal(source: Option<&PluginSource>, started: Instant) -> Attempt<'_> {
    Attempt {
        method: "POST",
        summary: "plugin install refused",
        name: source.map_or("", PluginSource::plugin_name),
        source,
        commit: None,
        started,
    }
}
