//! Tokens and who may do what: token generation and hashing, the `Caller`, and access decisions.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::workspace::WorkspaceId;

/// Random bytes in a token (SPEC §3): 32 bytes, 43 base64url characters.
pub const TOKEN_BYTES: usize = 32;
/// Characters of a token kept in clear as its `prefix`.
pub const PREFIX_LEN: usize = 8;

/// A freshly generated secret, returned to its owner once and stored only as a hash.
pub fn generate_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a token, lower-case hex: the only form a token is stored in.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The clear prefix recorded with a token so owners can tell their tokens apart.
pub fn token_prefix(token: &str) -> String {
    token.chars().take(PREFIX_LEN).collect()
}

/// Constant-time equality of two token hashes.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Who is making a request, as established from its `Authorization` header (or a terminal ticket).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The holder of `ADMIN_TOKEN`, or anyone on the admin group of an open development server.
    Admin { dev_open: bool },
    /// An org API token; `org` `None` means every workspace of the tenant.
    Org {
        token_id: Uuid,
        org: Option<WorkspaceId>,
    },
    /// A workspace token: its own workspace only.
    Workspace {
        token_id: Uuid,
        workspace_id: WorkspaceId,
    },
    /// A single-use terminal ticket, already consumed, for one workspace; `credential` is the
    /// token it was minted with (`None`: the admin token).
    Ticket {
        workspace_id: WorkspaceId,
        credential: Option<Uuid>,
    },
}

impl Caller {
    /// The actor recorded in audit rows: which credential acted, never the secret itself.
    pub fn actor(&self) -> String {
        match self {
            Caller::Admin { dev_open: false } => "admin".to_owned(),
            Caller::Admin { dev_open: true } => "admin:dev-open".to_owned(),
            Caller::Org { token_id, .. } => format!("org_token:{token_id}"),
            Caller::Workspace { token_id, .. } => format!("workspace_token:{token_id}"),
            Caller::Ticket { workspace_id, .. } => format!("terminal_ticket:{workspace_id}"),
        }
    }

    /// The revocable token behind this caller: its own, or the one a ticket was minted with.
    /// `None` for the admin token, which cannot be revoked.
    pub fn credential(&self) -> Option<Uuid> {
        match self {
            Caller::Admin { .. } => None,
            Caller::Org { token_id, .. } | Caller::Workspace { token_id, .. } => Some(*token_id),
            Caller::Ticket { credential, .. } => *credential,
        }
    }

    /// Whether this caller belongs to the admin group (admin or org token).
    pub fn is_admin_group(&self) -> bool {
        matches!(self, Caller::Admin { .. } | Caller::Org { .. })
    }

    /// The org an org token is anchored to, if the caller is such a token.
    pub fn anchored_org(&self) -> Option<WorkspaceId> {
        match self {
            Caller::Org { org, .. } => *org,
            _ => None,
        }
    }
}

/// The outcome of asking whether a caller may act on a workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Granted,
    /// 401: the credential is not for this workspace.
    Unauthorized,
    /// 404: the workspace is outside the caller's org, so it is not shown to exist.
    Hidden,
}

/// Decides workspace-group access. `org_of_target` is the root of the target's `parent_id` chain;
/// it only matters for org tokens anchored to an org.
pub fn workspace_access(
    caller: &Caller,
    target: WorkspaceId,
    org_of_target: Option<WorkspaceId>,
) -> Access {
    match caller {
        Caller::Admin { .. } | Caller::Org { org: None, .. } => Access::Granted,
        Caller::Org { org: Some(org), .. } if org_of_target == Some(*org) => Access::Granted,
        Caller::Org { .. } => Access::Hidden,
        Caller::Workspace { workspace_id, .. } | Caller::Ticket { workspace_id, .. }
            if *workspace_id == target =>
        {
            Access::Granted
        }
        Caller::Workspace { .. } | Caller::Ticket { .. } => Access::Unauthorized,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_unique() {
        let a = generate_token();
        let b = generate_token();
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
        assert_eq!(token_prefix(&a), a[..8]);
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(hashes_equal(&hash_token("x"), &hash_token("x")));
        assert!(!hashes_equal(&hash_token("x"), &hash_token("y")));
        assert!(!hashes_equal("ab", "abc"));
    }

    #[test]
    fn access_follows_the_token_kind() {
        let w1 = WorkspaceId::new();
        let w2 = WorkspaceId::new();
        let org = WorkspaceId::new();
        let token_id = Uuid::new_v4();
        let admin = Caller::Admin { dev_open: false };
        let tenant = Caller::Org {
            token_id,
            org: None,
        };
        let anchored = Caller::Org {
            token_id,
            org: Some(org),
        };
        let own = Caller::Workspace {
            token_id,
            workspace_id: w1,
        };
        assert_eq!(workspace_access(&admin, w1, None), Access::Granted);
        assert_eq!(workspace_access(&tenant, w1, Some(w2)), Access::Granted);
        assert_eq!(workspace_access(&anchored, w1, Some(org)), Access::Granted);
        assert_eq!(workspace_access(&anchored, w1, Some(w2)), Access::Hidden);
        assert_eq!(workspace_access(&anchored, w1, None), Access::Hidden);
        assert_eq!(workspace_access(&own, w1, None), Access::Granted);
        assert_eq!(workspace_access(&own, w2, None), Access::Unauthorized);
        let ticket = Caller::Ticket {
            workspace_id: w2,
            credential: None,
        };
        assert_eq!(workspace_access(&ticket, w1, None), Access::Unauthorized);
    }

    #[test]
    fn actors_name_the_credential_not_the_secret() {
        let id = Uuid::new_v4();
        let actor = Caller::Org {
            token_id: id,
            org: None,
        }
        .actor();
        assert_eq!(actor, format!("org_token:{id}"));
    }
}
