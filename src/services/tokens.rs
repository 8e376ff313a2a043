//! Workspace tokens and org API tokens (SPEC §5.2): minted here, shown once, stored hashed.

use std::sync::Arc;

use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use super::revocations::Revocations;
use super::views::{NewToken, OrgTokenView, Revoked, TokenList, WorkspaceTokenView};
use super::{ServiceError, live};
use crate::access::new_secret;
use crate::audit;
use crate::auth::{Caller, token_prefix};
use crate::store::{OrgToken, Store, WorkspaceToken};
use crate::workspace::{self, Status, Workspace, WorkspaceId};

/// Live tokens a workspace may hold at once.
pub const MAX_LIVE_WORKSPACE_TOKENS: i64 = 50;

/// The body of `POST /org/tokens`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgTokenBody {
    name: String,
    org_id: Option<WorkspaceId>,
}

pub struct Tokens {
    store: Arc<dyn Store>,
    /// Closes a revoked token's live terminals, here and on the other replicas.
    revocations: Arc<Revocations>,
}

impl Tokens {
    pub fn new(store: Arc<dyn Store>, revocations: Arc<Revocations>) -> Self {
        Self { store, revocations }
    }

    /// Mints a token for `ws`, within its quota of live tokens.
    pub async fn create_for_workspace(
        &self,
        caller: &Caller,
        ws: &Workspace,
    ) -> Result<NewToken, ServiceError> {
        live(ws)?;
        let (token, hash) = new_secret();
        let record = WorkspaceToken {
            id: Uuid::new_v4(),
            workspace_id: ws.id,
            prefix: token_prefix(&token),
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        };
        let stored = self
            .store
            .insert_workspace_token(&record, &hash, MAX_LIVE_WORKSPACE_TOKENS)
            .await?;
        if !stored {
            return Err(ServiceError::Quota(format!(
                "a workspace may hold at most {MAX_LIVE_WORKSPACE_TOKENS} live tokens; revoke one first"
            )));
        }
        audit::workspace_event(&*self.store, ws.id, caller, "POST", "token created").await;
        Ok(NewToken {
            id: record.id,
            prefix: record.prefix,
            auth_token: token,
            workspace_id: Some(ws.id),
            name: None,
            org_id: None,
        })
    }

    pub async fn list_for_workspace(
        &self,
        ws: &Workspace,
    ) -> Result<TokenList<WorkspaceTokenView>, ServiceError> {
        Ok(TokenList::of(
            self.store.list_workspace_tokens(ws.id).await?,
        ))
    }

    pub async fn revoke_for_workspace(
        &self,
        caller: &Caller,
        ws: &Workspace,
        token_id: Uuid,
    ) -> Result<Revoked, ServiceError> {
        if !self
            .store
            .revoke_workspace_token(ws.id, token_id, Utc::now())
            .await?
        {
            return Err(ServiceError::NotFound("token not found".into()));
        }
        self.revocations.revoked(token_id).await;
        audit::workspace_event(&*self.store, ws.id, caller, "DELETE", "token revoked").await;
        Ok(Revoked {
            status: "revoked",
            id: token_id,
        })
    }

    /// Mints an org token: an org token's caller only for its own org; an admin for any root
    /// workspace, or for all (no `org_id`).
    pub async fn create_for_org(
        &self,
        caller: &Caller,
        body: OrgTokenBody,
    ) -> Result<NewToken, ServiceError> {
        let name = workspace::validate_label("name", &body.name).map_err(ServiceError::Invalid)?;
        let org_id = match (caller.anchored_org(), body.org_id) {
            (Some(own), Some(asked)) if own != asked => {
                return Err(ServiceError::Forbidden(
                    "org_id must be your own org".into(),
                ));
            }
            (Some(own), _) => Some(own),
            (None, Some(asked)) => {
                match self.store.workspace(asked).await? {
                    Some(ws) if ws.parent_id.is_none() && ws.status != Status::Removed => {}
                    _ => return Err(ServiceError::invalid("org_id must name a root workspace")),
                }
                Some(asked)
            }
            (None, None) => None,
        };
        let (token, hash) = new_secret();
        let record = OrgToken {
            id: Uuid::new_v4(),
            prefix: token_prefix(&token),
            name,
            created_by: caller.actor(),
            org_id,
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.store.insert_org_token(&record, &hash).await?;
        tracing::info!(token_id = %record.id, created_by = %record.created_by, "org token created");
        Ok(NewToken {
            id: record.id,
            prefix: record.prefix,
            auth_token: token,
            workspace_id: None,
            name: Some(record.name),
            org_id: Some(record.org_id),
        })
    }

    pub async fn list_for_org(
        &self,
        caller: &Caller,
    ) -> Result<TokenList<OrgTokenView>, ServiceError> {
        Ok(TokenList::of(
            self.store.list_org_tokens(caller.anchored_org()).await?,
        ))
    }

    pub async fn revoke_for_org(
        &self,
        caller: &Caller,
        token_id: Uuid,
    ) -> Result<Revoked, ServiceError> {
        if !self
            .store
            .revoke_org_token(token_id, caller.anchored_org(), Utc::now())
            .await?
        {
            return Err(ServiceError::NotFound("token not found".into()));
        }
        self.revocations.revoked(token_id).await;
        tracing::info!(%token_id, revoked_by = %caller.actor(), "org token revoked");
        Ok(Revoked {
            status: "revoked",
            id: token_id,
        })
    }
}
