//! What the store keeps about workspaces: their activity, and the plugin allowlists of orgs.

use chrono::{TimeDelta, Utc};
use workspace_server::store::{NewActivity, Store};
use workspace_server::workspace::WorkspaceId;

pub async fn activity_is_newest_first(store: &dyn Store) {
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

pub async fn allowlists_are_replaced_whole(store: &dyn Store) {
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
