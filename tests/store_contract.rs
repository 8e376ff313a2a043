//! The store contract: the same checks against SQLite and PostgreSQL, in the same run.

mod support;

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use uuid::Uuid;
use workspace_server::store::{
    self, NewActivity, OrgToken, Store, WorkspaceFields, WorkspaceToken,
};
use workspace_server::workspace::{Status, Workspace, WorkspaceId};

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
async fn contract(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    workspaces_round_trip(&*store).await;
    org_trees_and_ancestors(&*store).await;
    workspace_tokens(&*store).await;
    org_tokens(&*store).await;
    tickets_are_taken_once(&*store).await;
    activity_is_newest_first(&*store).await;
    allowlists_are_replaced_whole(&*store).await;
    concurrent_parent_changes_never_make_a_cycle(store.clone()).await;
    a_new_instance_id_drops_the_pinned_host_key(&*store).await;
}

async fn a_new_instance_id_drops_the_pinned_host_key(store: &dyn Store) {
    let mut ws = workspace(None);
    ws.instance_id = Some("i-0000000000000000a".into());
    store.insert_workspace(&ws).await.unwrap();
    let id = ws.id;
    let key = async |store: &dyn Store| store.workspace(id).await.unwrap().unwrap().host_key;
    store
        .set_host_key(ws.id, "ssh-ed25519 AAAA one")
        .await
        .unwrap();
    let mut f = WorkspaceFields::from(&ws);
    f.name = "renamed".into();
    store
        .update_workspace_fields(ws.id, &f, Utc::now())
        .await
        .unwrap();
    assert_eq!(key(store).await.as_deref(), Some("ssh-ed25519 AAAA one"));
    f.instance_id = Some("i-0000000000000000b".into());
    store
        .update_workspace_fields(ws.id, &f, Utc::now())
        .await
        .unwrap();
    assert_eq!(key(store).await, None);
    store
        .set_host_key(ws.id, "ssh-ed25519 AAAA two")
        .await
        .unwrap();
    store.clear_host_key(ws.id).await.unwrap();
    assert_eq!(key(store).await, None);
}

/// Pairs of workspaces each moved under the other at the same moment: one move wins, the other
/// is refused with `Cycle`, and the tree has no cycle afterwards.
async fn concurrent_parent_changes_never_make_a_cycle(store: Arc<dyn Store>) {
    for _ in 0..20 {
        let (a, b) = (workspace(None), workspace(None));
        store.insert_workspace(&a).await.unwrap();
        store.insert_workspace(&b).await.unwrap();
        let under = |ws: &Workspace, parent: WorkspaceId| {
            let mut f = WorkspaceFields::from(ws);
            f.parent_id = Some(parent);
            let (store, id) = (store.clone(), ws.id);
            tokio::spawn(async move { store.update_workspace_fields(id, &f, Utc::now()).await })
        };
        let (one, two) = (under(&a, b.id), under(&b, a.id));
        let outcomes = [one.await.unwrap(), two.await.unwrap()];
        let refused = outcomes
            .iter()
            .filter(|o| matches!(o, Err(store::StoreError::Cycle)))
            .count();
        assert_eq!(refused, 1, "{outcomes:?}");
        assert!(
            outcomes.iter().any(|o| matches!(o, Ok(true))),
            "{outcomes:?}"
        );
        let chain = store.ancestors(a.id).await.unwrap();
        assert!(chain.len() <= 2, "a cycle: {chain:?}");
    }
}

async fn workspaces_round_trip(store: &dyn Store) {
    let ws = workspace(None);
    store.insert_workspace(&ws).await.unwrap();
    assert_eq!(store.workspace(ws.id).await.unwrap(), Some(ws.clone()));
    assert_eq!(store.workspace(WorkspaceId::new()).await.unwrap(), None);

    let mut fields = WorkspaceFields::from(&ws);
    fields.name = "renamed".into();
    fields.tier = 4;
    fields.instance_id = Some("i-0123456789abcdef0".into());
    let later = ws.updated_at + TimeDelta::seconds(5);
    assert!(
        store
            .update_workspace_fields(ws.id, &fields, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .update_workspace_fields(WorkspaceId::new(), &fields, later)
            .await
            .unwrap()
    );
    store
        .set_status(ws.id, Status::Failed, Some("engine said no"), later)
        .await
        .unwrap();
    store.set_host_key(ws.id, "ssh-ed25519 AAAA").await.unwrap();
    let got = store.workspace(ws.id).await.unwrap().unwrap();
    assert_eq!(
        (got.name.as_str(), got.tier, got.status),
        ("renamed", 4, Status::Failed)
    );
    assert_eq!(got.last_error.as_deref(), Some("engine said no"));
    assert_eq!(got.host_key.as_deref(), Some("ssh-ed25519 AAAA"));
    assert_eq!(got.updated_at, later);
}

async fn org_trees_and_ancestors(store: &dyn Store) {
    let root = workspace(None);
    let child = workspace(Some(root.id));
    let grandchild = workspace(Some(child.id));
    let other = workspace(None);
    for ws in [&root, &child, &grandchild, &other] {
        store.insert_workspace(ws).await.unwrap();
    }
    assert_eq!(
        store.ancestors(grandchild.id).await.unwrap(),
        vec![grandchild.id, child.id, root.id]
    );
    let ids = |v: Vec<Workspace>| v.into_iter().map(|w| w.id).collect::<Vec<_>>();
    let tree = ids(store.list_workspaces(Some(root.id)).await.unwrap());
    assert_eq!(tree.len(), 3);
    assert!(!tree.contains(&other.id));
    assert!(
        store
            .list_workspaces(Some(child.id))
            .await
            .unwrap()
            .is_empty(),
        "not a root"
    );

    store.remove_workspace(child.id, Utc::now()).await.unwrap();
    let all = ids(store.list_workspaces(None).await.unwrap());
    assert!(!all.contains(&child.id) && all.contains(&grandchild.id));
}

async fn workspace_tokens(store: &dyn Store) {
    let ws = workspace(None);
    store.insert_workspace(&ws).await.unwrap();
    let token = |n: u8| WorkspaceToken {
        id: Uuid::new_v4(),
        workspace_id: ws.id,
        prefix: format!("pre{n}"),
        created_at: Utc::now(),
        last_used_at: None,
        revoked_at: None,
    };
    let (a, b, c) = (token(1), token(2), token(3));
    let hash_a = format!("hash-a-{}", ws.id);
    assert!(store.insert_workspace_token(&a, &hash_a, 2).await.unwrap());
    assert!(
        store
            .insert_workspace_token(&b, &format!("hash-b-{}", ws.id), 2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_workspace_token(&c, &format!("hash-c-{}", ws.id), 2)
            .await
            .unwrap(),
        "limit"
    );

    let found = store
        .workspace_token_by_hash(&hash_a)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, found.workspace_id), (a.id, ws.id));
    store.touch_workspace_token(a.id, Utc::now()).await.unwrap();
    let listed = store.list_workspace_tokens(ws.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .find(|t| t.id == a.id)
            .unwrap()
            .last_used_at
            .is_some()
    );

    assert!(
        store
            .revoke_workspace_token(ws.id, a.id, Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_workspace_token(ws.id, a.id, Utc::now())
            .await
            .unwrap(),
        "only once"
    );
    assert!(
        !store
            .revoke_workspace_token(WorkspaceId::new(), b.id, Utc::now())
            .await
            .unwrap()
    );
    assert_eq!(store.workspace_token_by_hash(&hash_a).await.unwrap(), None);
    assert!(
        store
            .insert_workspace_token(&c, &format!("hash-c-{}", ws.id), 2)
            .await
            .unwrap()
    );

    store.remove_workspace(ws.id, Utc::now()).await.unwrap();
    assert!(store.list_workspace_tokens(ws.id).await.unwrap().is_empty());
    assert_eq!(
        store.workspace(ws.id).await.unwrap().unwrap().status,
        Status::Removed
    );
}

async fn org_tokens(store: &dyn Store) {
    let org = workspace(None);
    store.insert_workspace(&org).await.unwrap();
    let token = |org_id| OrgToken {
        id: Uuid::new_v4(),
        prefix: "abcdefgh".into(),
        name: "ci".into(),
        created_by: "admin".into(),
        org_id,
        created_at: Utc::now(),
        last_used_at: None,
        revoked_at: None,
    };
    let (anchored, tenant) = (token(Some(org.id)), token(None));
    store
        .insert_org_token(&anchored, &format!("o1-{}", org.id))
        .await
        .unwrap();
    store
        .insert_org_token(&tenant, &format!("o2-{}", org.id))
        .await
        .unwrap();
    let found = store
        .org_token_by_hash(&format!("o1-{}", org.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.org_id, Some(org.id));
    store
        .touch_org_token(anchored.id, Utc::now())
        .await
        .unwrap();

    let in_org = store.list_org_tokens(Some(org.id)).await.unwrap();
    assert_eq!(
        in_org.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![anchored.id]
    );
    assert!(store.list_org_tokens(None).await.unwrap().len() >= 2);
    let elsewhere = Some(WorkspaceId::new());
    assert!(
        !store
            .revoke_org_token(anchored.id, elsewhere, Utc::now())
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_org_token(anchored.id, Some(org.id), Utc::now())
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_org_token(tenant.id, None, Utc::now())
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .org_token_by_hash(&format!("o1-{}", org.id))
            .await
            .unwrap(),
        None
    );
}

async fn tickets_are_taken_once(store: &dyn Store) {
    let ws = WorkspaceId::new();
    let hash = format!("ticket-{ws}");
    store.insert_ticket(&hash, ws, 2_000, 1_000).await.unwrap();
    assert_eq!(store.take_ticket(&hash).await.unwrap(), Some((ws, 2_000)));
    assert_eq!(store.take_ticket(&hash).await.unwrap(), None);
    // Inserting purges tickets that expired before `now`.
    let stale = format!("stale-{ws}");
    store.insert_ticket(&stale, ws, 10, 5).await.unwrap();
    store
        .insert_ticket(&format!("fresh-{ws}"), ws, 100, 50)
        .await
        .unwrap();
    assert_eq!(store.take_ticket(&stale).await.unwrap(), None);
}

async fn activity_is_newest_first(store: &dyn Store) {
    let ws = WorkspaceId::new();
    let t0 = Utc::now();
    for (i, kind) in ["exec", "terminal", "exec"].into_iter().enumerate() {
        let row = NewActivity {
            workspace_id: ws,
            activity_type: kind.into(),
            actor: "admin".into(),
            method: "POST".into(),
            summary: format!("row {i}"),
            request_body: Some(serde_json::json!({ "argv": ["echo", i] })),
            duration_ms: Some(i as i64),
            status: "ok".into(),
            error_detail: None,
            created_at: t0 + TimeDelta::milliseconds(i as i64),
        };
        store.insert_activity(&row).await.unwrap();
    }
    let rows = store.list_activity(ws, None, 10).await.unwrap();
    let summaries: Vec<_> = rows.iter().map(|r| r.summary.as_str()).collect();
    assert_eq!(summaries, ["row 2", "row 1", "row 0"]);
    assert_eq!(
        rows[0].request_body,
        Some(serde_json::json!({ "argv": ["echo", 2] }))
    );
    let execs = store.list_activity(ws, Some("exec"), 1).await.unwrap();
    assert_eq!(execs.len(), 1);
    assert_eq!(execs[0].summary, "row 2");
}

async fn allowlists_are_replaced_whole(store: &dyn Store) {
    let org = WorkspaceId::new();
    let names = [
        "b-plugin".to_owned(),
        "a-plugin".to_owned(),
        "a-plugin".to_owned(),
    ];
    store
        .replace_allowlist(org, &names, "admin", Utc::now())
        .await
        .unwrap();
    let got: Vec<_> = store
        .allowlist(org)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.plugin_name)
        .collect();
    assert_eq!(got, ["a-plugin", "b-plugin"]);
    store
        .replace_allowlist(org, &[], "admin", Utc::now())
        .await
        .unwrap();
    assert!(store.allowlist(org).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_sqlite_store_meets_the_contract() {
    let (store, _dir) = sqlite().await;
    contract(store).await;
}

#[tokio::test]
async fn the_postgres_store_meets_the_contract() {
    contract(postgres().await).await;
}

#[tokio::test]
async fn an_unknown_database_scheme_is_refused() {
    let err = store::open(Some("mysql://x/y"), std::path::Path::new("/tmp")).await;
    assert!(err.is_err());
}
