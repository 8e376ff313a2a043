//! Workspaces in the store: their fields, org trees, parent changes and pinned host keys.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use workspace_server::store::{self, Store, WorkspaceFields};
use workspace_server::workspace::{Status, Workspace, WorkspaceId};

use crate::workspace;

pub async fn workspaces_round_trip(store: &dyn Store) {
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

pub async fn org_trees_and_ancestors(store: &dyn Store) {
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

/// Pairs of workspaces each moved under the other at the same moment: one move wins, the other
/// is refused with `Cycle`, and the tree has no cycle afterwards.
pub async fn concurrent_parent_changes_never_make_a_cycle(store: Arc<dyn Store>) {
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

pub async fn a_new_instance_id_drops_the_pinned_host_key(store: &dyn Store) {
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
