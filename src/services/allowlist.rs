//! Org plugin allowlists (SPEC §5.6): read and replace; an empty list allows every plugin.

use std::sync::Arc;

use chrono::Utc;
use serde::Deserialize;

use super::ServiceError;
use super::plugins::check_name;
use super::views::{AllowlistEntryView, AllowlistView};
use crate::auth::Caller;
use crate::store::Store;
use crate::workspace::{self, WorkspaceId};

/// The body of `PUT /orgs/{id}/plugins/allowlist`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowlistBody {
    plugins: Vec<String>,
    /// Who enabled the plugins, as the Go clients send it; else the caller's actor.
    enabled_by: Option<String>,
}

pub struct Allowlists {
    store: Arc<dyn Store>,
}

impl Allowlists {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The org named by `raw`, if it is one and the caller may see it.
    async fn org(&self, caller: &Caller, raw: &str) -> Result<WorkspaceId, ServiceError> {
        let org = WorkspaceId::parse(raw).map_err(|_| ServiceError::invalid("invalid org id"))?;
        let hidden = caller.anchored_org().is_some_and(|own| own != org);
        match self.store.workspace(org).await? {
            Some(ws) if ws.parent_id.is_none() && !hidden => Ok(org),
            _ => Err(ServiceError::NotFound("org not found".into())),
        }
    }

    pub async fn get(&self, caller: &Caller, org: &str) -> Result<AllowlistView, ServiceError> {
        let org = self.org(caller, org).await?;
        self.view(org).await
    }

    /// Replaces the org's list with `body.plugins` (sorted, without repeats).
    pub async fn put(
        &self,
        caller: &Caller,
        org: &str,
        body: AllowlistBody,
    ) -> Result<AllowlistView, ServiceError> {
        let org = self.org(caller, org).await?;
        let mut names = body.plugins;
        for name in &names {
            check_name(name)?;
        }
        names.sort();
        names.dedup();
        let enabled_by = match body.enabled_by.as_deref().filter(|e| !e.trim().is_empty()) {
            Some(by) => {
                workspace::validate_label("enabled_by", by).map_err(ServiceError::Invalid)?
            }
            None => caller.actor(),
        };
        self.store
            .replace_allowlist(org, &names, &enabled_by, Utc::now())
            .await?;
        self.view(org).await
    }

    async fn view(&self, org: WorkspaceId) -> Result<AllowlistView, ServiceError> {
        let entries = self.store.allowlist(org).await?;
        Ok(AllowlistView {
            org_id: org,
            allow_all: entries.is_empty(),
            plugins: entries.into_iter().map(AllowlistEntryView::from).collect(),
        })
    }
}
