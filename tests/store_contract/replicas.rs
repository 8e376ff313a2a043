//! Replicas' leases, the sessions they hold and their announcements (SPEC §16).

use futures_util::StreamExt;
use workspace_server::store::{ExecRun, Holder, RunState, Store, StoredSession};
use workspace_server::workspace::WorkspaceId;

fn session(id: &str, ws: WorkspaceId, replica: &str) -> StoredSession {
    StoredSession {
        id: id.into(),
        workspace_id: ws,
        replica_id: replica.into(),
        created_at_ms: 5,
        holder: None,
        killed: false,
    }
}

pub async fn replicas_hold_sessions_under_leases(store: &dyn Store) {
    let ws = WorkspaceId::new();
    let (a, b) = (format!("a-{ws}"), format!("b-{ws}"));
    store
        .renew_replica(&a, Some("http://a:1"), 1_000)
        .await
        .unwrap();
    store.renew_replica(&b, None, 1_000).await.unwrap();
    let live_a = Holder {
        replica_id: a.clone(),
        url: Some("http://a:1".into()),
        live: true,
    };
    assert_eq!(store.replica(&a, 999).await.unwrap(), Some(live_a.clone()));
    assert!(!store.replica(&a, 1_000).await.unwrap().unwrap().live);
    assert_eq!(store.replica("nobody", 0).await.unwrap(), None);

    // Two sessions at most, counted across replicas whose lease runs.
    assert!(
        store
            .insert_terminal_session(&session("s1", ws, &a), 2, 500)
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_terminal_session(&session("s2", ws, &b), 2, 500)
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_terminal_session(&session("s3", ws, &a), 2, 500)
            .await
            .unwrap()
    );
    // Once their replicas' leases have lapsed, they do not count.
    assert!(
        store
            .insert_terminal_session(&session("s3", ws, &a), 2, 1_500)
            .await
            .unwrap()
    );
    store.remove_terminal_session("s3").await.unwrap();

    let got = store
        .terminal_session(ws, "s1", 500)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.holder, got.killed), (Some(live_a.clone()), false));
    assert_eq!(
        store
            .terminal_session(WorkspaceId::new(), "s1", 500)
            .await
            .unwrap(),
        None
    );
    let lapsed = store
        .terminal_session(ws, "s1", 2_000)
        .await
        .unwrap()
        .unwrap();
    assert!(!lapsed.holder.unwrap().live);
    let others = store.session_holders(ws, &b, 500).await.unwrap();
    assert_eq!(others, vec![live_a]);
    assert_eq!(store.session_holders(ws, &b, 2_000).await.unwrap(), vec![]);

    // A kill is recorded for the holder to act on.
    assert!(store.kill_terminal_session(ws, "s1", 600).await.unwrap());
    assert!(!store.kill_terminal_session(ws, "nope", 600).await.unwrap());
    assert_eq!(
        store.killed_terminal_sessions(&a).await.unwrap(),
        vec!["s1".to_owned()]
    );
    assert!(
        store
            .terminal_session(ws, "s1", 500)
            .await
            .unwrap()
            .unwrap()
            .killed
    );
    assert_eq!(
        store.killed_terminal_sessions(&b).await.unwrap(),
        Vec::<String>::new()
    );

    // Replicas gone long enough are forgotten with their sessions.
    store.forget_replicas(1_001).await.unwrap();
    assert_eq!(store.replica(&a, 0).await.unwrap(), None);
    assert_eq!(store.terminal_session(ws, "s2", 0).await.unwrap(), None);

    // (Ended far in the future, so no other check's purge takes it.)
    const FAR: i64 = 1 << 50;
    // A run's final state is written once: a later writer does not overwrite it.
    let run = ExecRun {
        exec_id: uuid::Uuid::new_v4(),
        workspace_id: ws,
        argv: vec!["true".into()],
        state: RunState::Running,
        started_at_ms: 1,
        ended_at_ms: None,
        final_record: None,
        idempotency_key: None,
        replica_id: Some(a.clone()),
    };
    assert!(store.insert_exec_run(&run).await.unwrap());
    let lost = serde_json::json!({ "lost": true });
    store
        .finish_exec_run(run.exec_id, RunState::Lost, FAR, &lost)
        .await
        .unwrap();
    let late = serde_json::json!({ "exit_code": 0 });
    store
        .finish_exec_run(run.exec_id, RunState::Exited, FAR + 1, &late)
        .await
        .unwrap();
    let kept = store.exec_run(ws, run.exec_id).await.unwrap().unwrap();
    assert_eq!(
        (kept.state, kept.final_record),
        (RunState::Lost, Some(lost))
    );
    assert_eq!(kept.replica_id, Some(a));
}

/// PostgreSQL carries announcements between replicas; SQLite, which one server owns, has none.
pub async fn announcements_reach_every_listener(store: &dyn Store, carries: bool) {
    let Some(mut heard) = store.listen().await.unwrap() else {
        assert!(!carries, "this store should carry announcements");
        store.announce("kill-session:x").await.unwrap();
        return;
    };
    assert!(carries);
    store.announce("kill-session:abc").await.unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), heard.next()).await;
    assert_eq!(got.unwrap().as_deref(), Some("kill-session:abc"));
}
