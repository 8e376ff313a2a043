//! Row shapes shared by both SQL backends, and their conversion into domain records.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{
    Activity, AllowlistEntry, ExecRun, Holder, OrgToken, RunState, StoreError, StoredSession,
    WorkspaceToken,
};
use crate::workspace::{Workspace, WorkspaceId};

/// Columns of `workspaces`, in the order `WORKSPACE_COLUMNS` lists them.
pub const WORKSPACE_COLUMNS: &str = "id, name, runtime, tier, status, parent_id, instance_id, \
     image, last_error, host_key, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub struct WorkspaceRow {
    id: Uuid,
    name: String,
    runtime: String,
    tier: i32,
    status: String,
    parent_id: Option<Uuid>,
    instance_id: Option<String>,
    image: Option<String>,
    last_error: Option<String>,
    host_key: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<WorkspaceRow> for Workspace {
    type Error = StoreError;

    fn try_from(r: WorkspaceRow) -> Result<Self, StoreError> {
        Ok(Workspace {
            id: WorkspaceId(r.id),
            name: r.name,
            runtime: r.runtime,
            tier: r.tier,
            status: r.status.parse().map_err(StoreError::Corrupt)?,
            parent_id: r.parent_id.map(WorkspaceId),
            instance_id: r.instance_id,
            image: r.image,
            last_error: r.last_error,
            host_key: r.host_key,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub const WORKSPACE_TOKEN_COLUMNS: &str =
    "id, workspace_id, prefix, created_at, last_used_at, revoked_at";

#[derive(sqlx::FromRow)]
pub struct WorkspaceTokenRow {
    id: Uuid,
    workspace_id: Uuid,
    prefix: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<WorkspaceTokenRow> for WorkspaceToken {
    fn from(r: WorkspaceTokenRow) -> Self {
        WorkspaceToken {
            id: r.id,
            workspace_id: WorkspaceId(r.workspace_id),
            prefix: r.prefix,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

pub const ORG_TOKEN_COLUMNS: &str =
    "id, prefix, name, created_by, org_id, created_at, last_used_at, revoked_at";

#[derive(sqlx::FromRow)]
pub struct OrgTokenRow {
    id: Uuid,
    prefix: String,
    name: String,
    created_by: String,
    org_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<OrgTokenRow> for OrgToken {
    fn from(r: OrgTokenRow) -> Self {
        OrgToken {
            id: r.id,
            prefix: r.prefix,
            name: r.name,
            created_by: r.created_by,
            org_id: r.org_id.map(WorkspaceId),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

pub const ACTIVITY_COLUMNS: &str = "id, workspace_id, activity_type, actor, method, summary, \
     request_body, duration_ms, status, error_detail, created_at";

#[derive(sqlx::FromRow)]
pub struct ActivityRow {
    id: i64,
    workspace_id: Uuid,
    activity_type: String,
    actor: String,
    method: String,
    summary: String,
    request_body: Option<Json<serde_json::Value>>,
    duration_ms: Option<i64>,
    status: String,
    error_detail: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<ActivityRow> for Activity {
    fn from(r: ActivityRow) -> Self {
        Activity {
            id: r.id,
            workspace_id: WorkspaceId(r.workspace_id),
            activity_type: r.activity_type,
            actor: r.actor,
            method: r.method,
            summary: r.summary,
            request_body: r.request_body.map(|j| j.0),
            duration_ms: r.duration_ms,
            status: r.status,
            error_detail: r.error_detail,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct AllowlistRow {
    org_id: Uuid,
    plugin_name: String,
    enabled_by: String,
    enabled_at: DateTime<Utc>,
}

impl From<AllowlistRow> for AllowlistEntry {
    fn from(r: AllowlistRow) -> Self {
        AllowlistEntry {
            org_id: WorkspaceId(r.org_id),
            plugin_name: r.plugin_name,
            enabled_by: r.enabled_by,
            enabled_at: r.enabled_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct TicketRow {
    pub workspace_id: Uuid,
    pub view_session: Option<String>,
    pub credential_id: Option<Uuid>,
    pub expires_at_ms: i64,
}

#[derive(sqlx::FromRow)]
pub struct IdRow {
    pub id: Uuid,
}

/// Columns of `exec_runs`, in the order `ExecRunRow` has them.
pub const EXEC_RUN_COLUMNS: &str = "exec_id, workspace_id, argv, state, started_at_ms, \
     ended_at_ms, final_record, idempotency_key, replica_id";

#[derive(sqlx::FromRow)]
pub struct ExecRunRow {
    pub exec_id: Uuid,
    pub workspace_id: Uuid,
    pub argv: String,
    pub state: String,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub final_record: Option<String>,
    pub idempotency_key: Option<String>,
    pub replica_id: Option<String>,
}

impl From<ExecRunRow> for ExecRun {
    fn from(r: ExecRunRow) -> Self {
        ExecRun {
            exec_id: r.exec_id,
            workspace_id: WorkspaceId(r.workspace_id),
            argv: serde_json::from_str(&r.argv).unwrap_or_default(),
            // Only this server writes the column; an unknown value reads as ended.
            state: RunState::parse(&r.state).unwrap_or(RunState::Exited),
            started_at_ms: r.started_at_ms,
            ended_at_ms: r.ended_at_ms,
            final_record: r.final_record.and_then(|f| serde_json::from_str(&f).ok()),
            idempotency_key: r.idempotency_key,
            replica_id: r.replica_id,
        }
    }
}

/// A resumable session joined with its replica's lease.
#[derive(sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub workspace_id: Uuid,
    pub replica_id: String,
    pub created_at_ms: i64,
    pub killed_at_ms: Option<i64>,
    pub url: Option<String>,
    pub lease_until_ms: Option<i64>,
}

impl SessionRow {
    /// The session as of `now_ms`: its holder is live while its lease runs.
    pub fn read(self, now_ms: i64) -> StoredSession {
        StoredSession {
            holder: Some(Holder {
                replica_id: self.replica_id.clone(),
                url: self.url,
                live: self.lease_until_ms.is_some_and(|until| until > now_ms),
            }),
            id: self.id,
            workspace_id: WorkspaceId(self.workspace_id),
            replica_id: self.replica_id,
            created_at_ms: self.created_at_ms,
            killed: self.killed_at_ms.is_some(),
        }
    }
}
