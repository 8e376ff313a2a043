//! Authentication and workspace access against the store: resolving bearer tokens to a
//! `Caller`, org scoping, and single-use terminal tickets.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::auth::{
    self, Access as Decision, Caller, generate_token, hash_token, hashes_equal, workspace_access,
};
mod browser;

pub use self::browser::{BrowserSession, SESSIONS_KEPT};
use crate::store::{Store, StoreError, StoredTicket};
use crate::workspace::{Workspace, WorkspaceId};

/// How long a terminal ticket stays valid (SPEC §4).
pub const TICKET_TTL: Duration = Duration::from_secs(30);
/// `last_used_at` is written at most this often per token, to spare the database.
const TOUCH_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Why a request was not let in.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing auth token")]
    Missing,
    #[error("invalid auth token")]
    Invalid,
    #[error("auth token does not grant access to this workspace")]
    WrongWorkspace,
    #[error("admin auth required")]
    AdminRequired,
    #[error("workspace not found")]
    NotFound,
    #[error("browser session is unknown or has ended")]
    SessionEnded,
    #[error("a browser session is accepted only from the server's own origin")]
    CrossOrigin,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves credentials and decides access, backed by the store.
pub struct Access {
    store: Arc<dyn Store>,
    admin_hash: Option<String>,
    dev_open: bool,
}

impl Access {
    /// `admin_token` `None` with `dev_open` leaves the admin group open (local development only).
    pub fn new(store: Arc<dyn Store>, admin_token: Option<&str>, dev_open: bool) -> Self {
        Self {
            store,
            admin_hash: admin_token.map(hash_token),
            dev_open: dev_open && admin_token.is_none(),
        }
    }

    /// The caller named by an `Authorization` header value; `Ok(None)` when there is none.
    pub async fn caller(&self, authorization: Option<&[u8]>) -> Result<Option<Caller>, AuthError> {
        let Some(value) = authorization else {
            return Ok(None);
        };
        let token = bearer_token(value).ok_or(AuthError::Invalid)?;
        self.caller_by_hash(&hash_token(token)).await.map(Some)
    }

    /// The caller whose token hashes to `hash`; a revoked or unknown token is `Invalid`.
    async fn caller_by_hash(&self, hash: &str) -> Result<Caller, AuthError> {
        if let Some(admin) = &self.admin_hash
            && hashes_equal(admin, hash)
        {
            return Ok(Caller::Admin { dev_open: false });
        }
        let now = Utc::now();
        if let Some(t) = self.store.workspace_token_by_hash(hash).await? {
            if t.last_used_at.is_none_or(|at| now - at > TOUCH_INTERVAL) {
                self.store.touch_workspace_token(t.id, now).await?;
            }
            return Ok(Caller::Workspace {
                token_id: t.id,
                workspace_id: t.workspace_id,
            });
        }
        if let Some(t) = self.store.org_token_by_hash(hash).await? {
            if t.last_used_at.is_none_or(|at| now - at > TOUCH_INTERVAL) {
                self.store.touch_org_token(t.id, now).await?;
            }
            return Ok(Caller::Org {
                token_id: t.id,
                org: t.org_id,
            });
        }
        Err(AuthError::Invalid)
    }

    /// Admits a caller to the admin group.
    pub fn admin(&self, caller: Option<Caller>) -> Result<Caller, AuthError> {
        match caller {
            Some(c) if c.is_admin_group() => Ok(c),
            None if self.dev_open => Ok(Caller::Admin { dev_open: true }),
            _ => Err(AuthError::AdminRequired),
        }
    }

    /// Loads workspace `id` if `caller` may act on it. A workspace token for another workspace is
    /// refused before the workspace is looked up, so it learns nothing about other ids.
    pub async fn workspace(
        &self,
        caller: &Caller,
        id: WorkspaceId,
    ) -> Result<Workspace, AuthError> {
        if workspace_access(caller, id, None) == Decision::Unauthorized {
            return Err(AuthError::WrongWorkspace);
        }
        let ws = self.store.workspace(id).await?.ok_or(AuthError::NotFound)?;
        let org = match caller.anchored_org() {
            Some(_) => Some(self.org_of(id).await?),
            None => None,
        };
        match workspace_access(caller, id, org) {
            Decision::Granted => Ok(ws),
            Decision::Hidden => Err(AuthError::NotFound),
            Decision::Unauthorized => Err(AuthError::WrongWorkspace),
        }
    }

    /// The org of a workspace: the root of its `parent_id` chain.
    pub async fn org_of(&self, id: WorkspaceId) -> Result<WorkspaceId, StoreError> {
        Ok(self
            .store
            .ancestors(id)
            .await?
            .last()
            .copied()
            .unwrap_or(id))
    }

    /// Whether `caller` may place a workspace under `parent` (None: as a new root).
    pub async fn may_use_parent(
        &self,
        caller: &Caller,
        parent: Option<WorkspaceId>,
    ) -> Result<bool, StoreError> {
        match (caller.anchored_org(), parent) {
            (None, _) => Ok(true),
            (Some(_), None) => Ok(false),
            (Some(org), Some(p)) => Ok(self.org_of(p).await? == org),
        }
    }

    /// Issues `caller` a single-use terminal ticket for `ws`; with `view_session`, one that may
    /// only view that resumable session. The ticket ends with the token of `caller`.
    pub async fn issue_ticket(
        &self,
        caller: &Caller,
        ws: WorkspaceId,
        view_session: Option<&str>,
    ) -> Result<String, StoreError> {
        let ticket = generate_token();
        let now = now_ms();
        let ttl = i64::try_from(TICKET_TTL.as_millis()).unwrap_or(i64::MAX);
        let stored = StoredTicket {
            workspace_id: ws,
            view_session: view_session.map(str::to_owned),
            credential_id: caller.credential(),
            expires_at_ms: now.saturating_add(ttl),
        };
        self.store
            .insert_ticket(&hash_token(&ticket), &stored, now)
            .await?;
        Ok(ticket)
    }

    /// Redeems a ticket for workspace `ws`: the caller, and the session it may only view if it
    /// is a viewer's ticket. The ticket is spent whatever the outcome; one whose token has been
    /// revoked since is refused.
    pub async fn redeem_ticket(
        &self,
        ticket: &str,
        ws: WorkspaceId,
    ) -> Result<(Caller, Option<String>), AuthError> {
        let t = match self.store.take_ticket(&hash_token(ticket)).await? {
            Some(t) if t.workspace_id == ws && t.expires_at_ms > now_ms() => t,
            _ => return Err(AuthError::Invalid),
        };
        if let Some(id) = t.credential_id
            && !self.store.revoked_credentials(&[id]).await?.is_empty()
        {
            return Err(AuthError::Invalid);
        }
        let caller = Caller::Ticket {
            workspace_id: ws,
            credential: t.credential_id,
        };
        Ok((caller, t.view_session))
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive).
pub fn bearer_token(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_graphic()))
    .then_some(token)
}

/// Token plaintext and hash, for callers that create tokens.
pub fn new_secret() -> (String, String) {
    let token = generate_token();
    let hash = auth::hash_token(&token);
    (token, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        assert_eq!(bearer_token(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer_token(b"bearer  abc "), Some("abc"));
        for bad in [
            &b"abc"[..],
            b"Basic abc",
            b"Bearer ",
            b"Bearer a b",
            b"Bearer \xff",
            b"Token abc",
        ] {
            assert_eq!(bearer_token(bad), None, "{bad:?}");
        }
    }
}
