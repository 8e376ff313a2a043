//! The store contract: the same checks against SQLite and PostgreSQL, in the same run.

#[path = "../support/mod.rs"]
mod support;

mod records;
mod replicas;
mod tokens;
mod workspaces;

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use workspace_server::store::{self, Store};
use workspace_server::workspace::{Status, Workspace, WorkspaceId};

use records::{activity_is_newest_first, allowlists_are_replaced_whole};
use replicas::{announcements_reach_every_listener, replicas_hold_sessions_under_leases};
use tokens::{
    browser_sessions_expire_end_and_are_capped, exec_runs_are_kept_finished_and_purged, org_tokens,
    revoked_credentials_are_those_no_longer_live, tickets_are_taken_once, workspace_tokens,
};
use workspaces::{
    a_new_instance_id_drops_the_pinned_host_key, concurrent_parent_changes_never_make_a_cycle,
    org_trees_and_ancestors, workspaces_round_trip,
};

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(None, dir.path()).await.expect("open sqlite");
    (store, dir)
}

async fn postgres() -> Arc<dyn Store> {
    let url = support::fresh_postgres_url().await;
    store::open(Some(&url), std::path::Path::new("/nonexistent"))
        .await
        .expect("open postgres")
}

fn workspace(parent: Option<WorkspaceId>) -> Workspace {
    // Whole microseconds: what both databases keep of a timestamp.
    let now = Utc::now();
    let now = now - TimeDelta::nanoseconds(i64::from(now.timestamp_subsec_nanos() % 1000));
    Workspace {
        id: WorkspaceId::new(),
        name: "agent 'one'".into(),
        runtime: "langgraph".into(),
        tier: 3,
        status: Status::Provisioning,
        parent_id: parent,
        instance_id: None,
        image: Some("ws-test:latest".into()),
        last_error: None,
        created_at: now,
        updated_at: now,
        host_key: None,
    }
}

/// Runs every contract check against one store.
async fn contract(store: Arc<dyn Store>, carries_announcements: bool) {
    store.ping().await.unwrap();
    replicas_hold_sessions_under_leases(&*store).await;
    announcements_reach_every_listener(&*store, carries_announcements).await;
    workspaces_round_trip(&*store).await;
    org_trees_and_ancestors(&*store).await;
    workspace_tokens(&*store).await;
    org_tokens(&*store).await;
    tickets_are_taken_once(&*store).await;
    revoked_credentials_are_those_no_longer_live(&*store).await;
    browser_sessions_expire_end_and_are_capped(&*store).await;
    exec_runs_are_kept_finished_and_purged(&*store).await;
    activity_is_newest_first(&*store).await;
    allowlists_are_replaced_whole(&*store).await;
    concurrent_parent_changes_never_make_a_cycle(store.clone()).await;
    a_new_instance_id_drops_the_pinned_host_key(&*store).await;
}

#[tokio::test]
async fn the_sqlite_store_meets_the_contract() {
    let (store, _dir) = sqlite().await;
    contract(store, false).await;
}

#[tokio::test]
async fn the_postgres_store_meets_the_contract() {
    contract(postgres().await, true).await;
}

#[tokio::test]
async fn an_unknown_database_scheme_is_refused() {
    let err = store::open(Some("mysql://x/y"), std::path::Path::new("/tmp")).await;
    assert!(err.is_err());
}
