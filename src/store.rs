//! Persistence: the `Store` trait, its records, and opening the SQLite or PostgreSQL backend.

mod postgres;
mod rows;
mod runs;
mod sql;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use self::postgres::PostgresStore;
pub use self::runs::{ExecRun, Holder, RunState, StoredSession};
pub use self::sqlite::SqliteStore;
use crate::workspace::{Status, Workspace, WorkspaceId};

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored row is not valid: {0}")]
    Corrupt(String),
    #[error("unsupported DATABASE_URL scheme (expected postgres:// or sqlite:)")]
    UnsupportedUrl,
    /// The new `parent_id` would put the workspace under itself.
    #[error("parent_id would make a cycle")]
    Cycle,
}

impl StoreError {
    /// The database could not be reached or is going away (stopped, restarting, pool exhausted):
    /// the request may succeed later, unlike a rejected statement.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // Class 08 (connection exception), 57P01–57P03 (shutdown, cannot connect now).
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P0")),
                _ => false,
            },
            _ => false,
        }
    }
}

/// The user-editable fields of a workspace, written together by `update_workspace_fields`.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkspaceFields {
    pub name: String,
    pub runtime: String,
    pub tier: i32,
    pub parent_id: Option<WorkspaceId>,
    pub instance_id: Option<String>,
    pub image: Option<String>,
}

impl From<&Workspace> for WorkspaceFields {
    fn from(ws: &Workspace) -> Self {
        Self {
            name: ws.name.clone(),
            runtime: ws.runtime.clone(),
            tier: ws.tier,
            parent_id: ws.parent_id,
            instance_id: ws.instance_id.clone(),
            image: ws.image.clone(),
        }
    }
}

/// A workspace token as stored (the hash is never read back out). Clients see it only through
/// `services::views`.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkspaceToken {
    pub id: Uuid,
    pub workspace_id: WorkspaceId,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An org API token as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct OrgToken {
    pub id: Uuid,
    pub prefix: String,
    pub name: String,
    pub created_by: String,
    pub org_id: Option<WorkspaceId>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A terminal ticket as stored (by its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTicket {
    pub workspace_id: WorkspaceId,
    /// The resumable session it may only view, if it is a viewer's ticket.
    pub view_session: Option<String>,
    /// The token it was minted with (`None`: the admin token), whose revocation ends it.
    pub credential_id: Option<Uuid>,
    pub expires_at_ms: i64,
}

/// A new audit row. Never holds command output or secrets.
#[derive(Clone, Debug, PartialEq)]
pub struct NewActivity {
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

/// A stored audit row.
#[derive(Clone, Debug, PartialEq)]
pub struct Activity {
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

/// One plugin enabled for an org.
#[derive(Clone, Debug, PartialEq)]
pub struct AllowlistEntry {
    pub org_id: WorkspaceId,
    pub plugin_name: String,
    pub enabled_by: String,
    pub enabled_at: DateTime<Utc>,
}

/// How far `parent_id` chains are followed; deeper trees are treated as ending there.
pub const MAX_TREE_DEPTH: i32 = 64;

/// Payloads announced by replicas, as they arrive; a gap (a lost connection) may skip some.
pub type Announcements = futures_util::stream::BoxStream<'static, String>;

/// Everything the server persists. One contract test runs against every implementation.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database does.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn insert_workspace(&self, ws: &Workspace) -> Result<(), StoreError>;
    async fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError>;
    /// Workspaces not yet removed, oldest first; with `org`, only that org's tree.
    async fn list_workspaces(&self, org: Option<WorkspaceId>)
    -> Result<Vec<Workspace>, StoreError>;
    /// The chain from `id` up through its parents (`id` first), at most `MAX_TREE_DEPTH` long.
    async fn ancestors(&self, id: WorkspaceId) -> Result<Vec<WorkspaceId>, StoreError>;
    /// Writes the user-editable fields; returns false when no such workspace exists. A changed
    /// `instance_id` drops the pinned host key (a new instance has a new key). Refuses with
    /// `Cycle` a `parent_id` whose chain reaches the workspace, checked in the same transaction as
    /// the write, with every other change of fields waiting.
    async fn update_workspace_fields(
        &self,
        id: WorkspaceId,
        fields: &WorkspaceFields,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn set_status(
        &self,
        id: WorkspaceId,
        status: Status,
        last_error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn set_host_key(&self, id: WorkspaceId, host_key: &str) -> Result<(), StoreError>;
    /// Drops the pinned host key; the next connection records the instance's key again.
    async fn clear_host_key(&self, id: WorkspaceId) -> Result<(), StoreError>;
    /// Marks the workspace removed and revokes all its tokens, atomically.
    async fn remove_workspace(&self, id: WorkspaceId, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Inserts a token unless the workspace already has `max_live` live ones (then false).
    async fn insert_workspace_token(
        &self,
        token: &WorkspaceToken,
        hash: &str,
        max_live: i64,
    ) -> Result<bool, StoreError>;
    /// A live (not revoked) workspace token by hash.
    async fn workspace_token_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<WorkspaceToken>, StoreError>;
    async fn list_workspace_tokens(
        &self,
        ws: WorkspaceId,
    ) -> Result<Vec<WorkspaceToken>, StoreError>;
    /// Revokes a live token of `ws`; false when there is none with that id.
    async fn revoke_workspace_token(
        &self,
        ws: WorkspaceId,
        token_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn touch_workspace_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError>;

    async fn insert_org_token(&self, token: &OrgToken, hash: &str) -> Result<(), StoreError>;
    async fn org_token_by_hash(&self, hash: &str) -> Result<Option<OrgToken>, StoreError>;
    /// Live org tokens; with `org`, only those anchored to it.
    async fn list_org_tokens(&self, org: Option<WorkspaceId>) -> Result<Vec<OrgToken>, StoreError>;
    /// Revokes a live org token (only one anchored to `org`, when given); false when none.
    async fn revoke_org_token(
        &self,
        id: Uuid,
        org: Option<WorkspaceId>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn touch_org_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Stores a terminal ticket by its hash; tickets expired before `now_ms` are purged on the
    /// way.
    async fn insert_ticket(
        &self,
        hash: &str,
        ticket: &StoredTicket,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Removes and returns a ticket: each ticket is taken once.
    async fn take_ticket(&self, hash: &str) -> Result<Option<StoredTicket>, StoreError>;
    /// Which of `ids` are no live workspace or org token any more (revoked, or never were).
    async fn revoked_credentials(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError>;

    /// Stores a browser session (its hash, and the hash of the bearer that opened it), purging
    /// expired ones and keeping only that bearer's newest `keep`.
    async fn insert_browser_session(
        &self,
        hash: &str,
        credential_hash: &str,
        expires_at_ms: i64,
        now_ms: i64,
        keep: i64,
    ) -> Result<(), StoreError>;
    /// The hash of the bearer behind an unexpired browser session.
    async fn browser_session(&self, hash: &str, now_ms: i64) -> Result<Option<String>, StoreError>;
    /// Ends a browser session; whether there was one.
    async fn remove_browser_session(&self, hash: &str) -> Result<bool, StoreError>;

    /// Stores a new exec run; `false` (and nothing stored) when its idempotency key is taken.
    async fn insert_exec_run(&self, run: &ExecRun) -> Result<bool, StoreError>;
    async fn exec_run(&self, ws: WorkspaceId, id: Uuid) -> Result<Option<ExecRun>, StoreError>;
    async fn exec_run_by_key(
        &self,
        ws: WorkspaceId,
        key: &str,
    ) -> Result<Option<ExecRun>, StoreError>;
    /// Records how a run ended.
    async fn finish_exec_run(
        &self,
        id: Uuid,
        state: RunState,
        ended_at_ms: i64,
        final_record: &serde_json::Value,
    ) -> Result<(), StoreError>;
    /// Forgets a run that never started.
    async fn remove_exec_run(&self, id: Uuid) -> Result<(), StoreError>;
    /// Runs still recorded as running.
    async fn running_exec_runs(&self) -> Result<Vec<ExecRun>, StoreError>;
    /// Forgets the runs that ended before `ended_before_ms`; answers their ids.
    async fn purge_exec_runs(&self, ended_before_ms: i64) -> Result<Vec<Uuid>, StoreError>;

    /// Records replica `id` at `url` (SPEC §16), holding its lease until `until_ms`.
    async fn renew_replica(
        &self,
        id: &str,
        url: Option<&str>,
        until_ms: i64,
    ) -> Result<(), StoreError>;
    /// Replica `id`, and whether its lease still runs at `now_ms`.
    async fn replica(&self, id: &str, now_ms: i64) -> Result<Option<Holder>, StoreError>;
    /// Forgets replicas whose lease lapsed before `before_ms`, and the sessions they held.
    async fn forget_replicas(&self, before_ms: i64) -> Result<(), StoreError>;
    /// Records a resumable terminal session unless its workspace already has `max_live`
    /// sessions held by live replicas (then false).
    async fn insert_terminal_session(
        &self,
        session: &StoredSession,
        max_live: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    async fn remove_terminal_session(&self, id: &str) -> Result<(), StoreError>;
    /// Session `id` of `ws`, with its holder as of `now_ms`.
    async fn terminal_session(
        &self,
        ws: WorkspaceId,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<StoredSession>, StoreError>;
    /// The live replicas holding sessions of `ws`, other than `except`.
    async fn session_holders(
        &self,
        ws: WorkspaceId,
        except: &str,
        now_ms: i64,
    ) -> Result<Vec<Holder>, StoreError>;
    /// Asks for session `id` of `ws` to be killed; false when there is no such session.
    async fn kill_terminal_session(
        &self,
        ws: WorkspaceId,
        id: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Sessions held by replica `id` that were asked to be killed.
    async fn killed_terminal_sessions(&self, replica_id: &str) -> Result<Vec<String>, StoreError>;
    /// Tells every replica listening that `payload` (ids only) changed; nothing on a store that
    /// only one replica uses.
    async fn announce(&self, payload: &str) -> Result<(), StoreError>;
    /// The announcements of every replica, when the store carries them.
    async fn listen(&self) -> Result<Option<Announcements>, StoreError>;

    async fn insert_activity(&self, row: &NewActivity) -> Result<i64, StoreError>;
    /// Newest first, optionally of one type.
    async fn list_activity(
        &self,
        ws: WorkspaceId,
        activity_type: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Activity>, StoreError>;

    async fn allowlist(&self, org: WorkspaceId) -> Result<Vec<AllowlistEntry>, StoreError>;
    /// Replaces an org's allowlist with `names`, atomically.
    async fn replace_allowlist(
        &self,
        org: WorkspaceId,
        names: &[String],
        enabled_by: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Opens the configured database and runs its migrations: PostgreSQL for `postgres://` URLs,
/// SQLite for `sqlite:` URLs, and `<data_dir>/workspace-server.db` when no URL is given.
/// Whether `url` names a PostgreSQL database (the store several replicas can share).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    match url.filter(|u| !u.is_empty()) {
        Some(u) if is_postgres_url(u) => Ok(Arc::new(PostgresStore::connect(u).await?)),
        Some(u) if u.starts_with("sqlite:") => Ok(Arc::new(SqliteStore::connect_url(u).await?)),
        Some(_) => Err(StoreError::UnsupportedUrl),
        None => {
            std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Database(e.into()))?;
            let path = data_dir.join("workspace-server.db");
            Ok(Arc::new(SqliteStore::open_file(&path).await?))
        }
    }
}
