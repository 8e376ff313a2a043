//! What the API answers, as typed structs: a record reaches a client only through one of these,
//! so a new column stays private until a view names it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::store::{Activity, AllowlistEntry, OrgToken, WorkspaceToken};
use crate::workspace::{Status, Workspace, WorkspaceId};

/// A workspace as `GET /workspaces{,/id}` shows it (the pinned host key is not shown).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceView {
    pub id: WorkspaceId,
    pub name: String,
    pub runtime: String,
    pub tier: i32,
    pub status: Status,
    pub parent_id: Option<WorkspaceId>,
    pub instance_id: Option<String>,
    pub image: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Workspace> for WorkspaceView {
    fn from(ws: Workspace) -> Self {
        Self {
            id: ws.id,
            name: ws.name,
            runtime: ws.runtime,
            tier: ws.tier,
            status: ws.status,
            parent_id: ws.parent_id,
            instance_id: ws.instance_id,
            image: ws.image,
            last_error: ws.last_error,
            created_at: ws.created_at,
            updated_at: ws.updated_at,
        }
    }
}

/// A workspace's id and the status it has now (create, delete).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceStatus {
    pub id: WorkspaceId,
    pub status: Status,
}

/// The answer of a restart.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Restarted {
    pub id: WorkspaceId,
    pub status: &'static str,
}

/// A plain acknowledgement: `{"status": "…"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Done {
    pub status: &'static str,
}

/// An audit row as `GET /workspaces/{id}/activity` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActivityView {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub activity_type: String,
    pub actor: String,
    pub method: String,
    pub summary: String,
    pub request_body: Option<serde_json::Value>,
    pub duration_ms: Option<i64>,
    pub status: String,
    pub error_detail: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Activity> for ActivityView {
    fn from(a: Activity) -> Self {
        Self {
            id: a.id,
            workspace_id: a.workspace_id,
            activity_type: a.activity_type,
            actor: a.actor,
            method: a.method,
            summary: a.summary,
            request_body: a.request_body,
            duration_ms: a.duration_ms,
            status: a.status,
            error_detail: a.error_detail,
            created_at: a.created_at,
        }
    }
}

/// A workspace token as listed: never its secret, hash or owner.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceTokenView {
    pub id: Uuid,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<WorkspaceToken> for WorkspaceTokenView {
    fn from(t: WorkspaceToken) -> Self {
        Self {
            id: t.id,
            prefix: t.prefix,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// An org token as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrgTokenView {
    pub id: Uuid,
    pub prefix: String,
    pub name: String,
    pub created_by: String,
    pub org_id: Option<WorkspaceId>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<OrgToken> for OrgTokenView {
    fn from(t: OrgToken) -> Self {
        Self {
            id: t.id,
            prefix: t.prefix,
            name: t.name,
            created_by: t.created_by,
            org_id: t.org_id,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A list of tokens with its length, as both token routes answer it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenList<T> {
    pub tokens: Vec<T>,
    pub count: usize,
}

impl<T> TokenList<T> {
    pub fn of<R: Into<T>>(rows: Vec<R>) -> Self {
        let tokens: Vec<T> = rows.into_iter().map(Into::into).collect();
        Self {
            count: tokens.len(),
            tokens,
        }
    }
}

/// A newly created token: the only answer that carries its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewToken {
    pub id: Uuid,
    pub prefix: String,
    pub auth_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<WorkspaceId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Present (possibly `null`) on org tokens only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<Option<WorkspaceId>>,
}

/// A token revoked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revoked {
    pub status: &'static str,
    pub id: Uuid,
}

/// One plugin on an org's allowlist.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AllowlistEntryView {
    pub org_id: WorkspaceId,
    pub plugin_name: String,
    pub enabled_by: String,
    pub enabled_at: DateTime<Utc>,
}

impl From<AllowlistEntry> for AllowlistEntryView {
    fn from(e: AllowlistEntry) -> Self {
        Self {
            org_id: e.org_id,
            plugin_name: e.plugin_name,
            enabled_by: e.enabled_by,
            enabled_at: e.enabled_at,
        }
    }
}

/// An org's allowlist; `allow_all` is true when it is empty (the Go server's field).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AllowlistView {
    pub org_id: WorkspaceId,
    pub allow_all: bool,
    pub plugins: Vec<AllowlistEntryView>,
}
