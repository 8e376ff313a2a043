//! Credentials in the store: workspace tokens, org tokens, terminal tickets.

use chrono::Utc;
use uuid::Uuid;
use workspace_server::store::{OrgToken, Store, StoredTicket, WorkspaceToken};
use workspace_server::workspace::{Status, WorkspaceId};

use crate::workspace;

pub async fn workspace_tokens(store: &dyn Store) {
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

pub async fn org_tokens(store: &dyn Store) {
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

pub async fn tickets_are_taken_once(store: &dyn Store) {
    let ws = WorkspaceId::new();
    let ticket = |view: Option<&str>, credential: Option<Uuid>, expires_at_ms: i64| StoredTicket {
        workspace_id: ws,
        view_session: view.map(str::to_owned),
        credential_id: credential,
        expires_at_ms,
    };
    let hash = format!("ticket-{ws}");
    let plain = ticket(None, None, 2_000);
    store.insert_ticket(&hash, &plain, 1_000).await.unwrap();
    assert_eq!(store.take_ticket(&hash).await.unwrap(), Some(plain));
    assert_eq!(store.take_ticket(&hash).await.unwrap(), None);
    // A viewer's ticket keeps the session it may view, and a ticket the token it was minted with.
    let viewer = format!("viewer-{ws}");
    let minted = ticket(Some("0123abcd"), Some(Uuid::new_v4()), 2_000);
    store.insert_ticket(&viewer, &minted, 1_000).await.unwrap();
    assert_eq!(store.take_ticket(&viewer).await.unwrap(), Some(minted));
    // Inserting purges tickets that expired before `now`.
    let stale = format!("stale-{ws}");
    store
        .insert_ticket(&stale, &ticket(None, None, 10), 5)
        .await
        .unwrap();
    store
        .insert_ticket(&format!("fresh-{ws}"), &ticket(None, None, 100), 50)
        .await
        .unwrap();
    assert_eq!(store.take_ticket(&stale).await.unwrap(), None);
}

pub async fn revoked_credentials_are_those_no_longer_live(store: &dyn Store) {
    let ws = workspace(None);
    store.insert_workspace(&ws).await.unwrap();
    let live = WorkspaceToken {
        id: Uuid::new_v4(),
        workspace_id: ws.id,
        prefix: "live".into(),
        created_at: Utc::now(),
        last_used_at: None,
        revoked_at: None,
    };
    let revoked = WorkspaceToken {
        id: Uuid::new_v4(),
        prefix: "gone".into(),
        ..live.clone()
    };
    for t in [&live, &revoked] {
        let hash = format!("credential-{}", t.id);
        assert!(store.insert_workspace_token(t, &hash, 10).await.unwrap());
    }
    let org = OrgToken {
        id: Uuid::new_v4(),
        prefix: "org".into(),
        name: "ops".into(),
        created_by: "admin".into(),
        org_id: None,
        created_at: Utc::now(),
        last_used_at: None,
        revoked_at: None,
    };
    store
        .insert_org_token(&org, &format!("credential-{}", org.id))
        .await
        .unwrap();
    let unknown = Uuid::new_v4();
    let all = [live.id, revoked.id, org.id, unknown];
    assert_eq!(
        store.revoked_credentials(&all).await.unwrap(),
        vec![unknown]
    );
    assert!(
        store
            .revoke_workspace_token(ws.id, revoked.id, Utc::now())
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_org_token(org.id, None, Utc::now())
            .await
            .unwrap()
    );
    assert_eq!(
        store.revoked_credentials(&all).await.unwrap(),
        vec![revoked.id, org.id, unknown]
    );
    assert!(store.revoked_credentials(&[]).await.unwrap().is_empty());
}

pub async fn browser_sessions_expire_end_and_are_capped(store: &dyn Store) {
    let bearer = format!("bearer-{}", WorkspaceId::new());
    let session = |n: u32| format!("session-{n}-{bearer}");
    store
        .insert_browser_session(&session(0), &bearer, 2_000, 1_000, 3)
        .await
        .unwrap();
    assert_eq!(
        store.browser_session(&session(0), 1_999).await.unwrap(),
        Some(bearer.clone())
    );
    assert_eq!(
        store.browser_session(&session(0), 2_000).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(store.browser_session("unknown", 0).await.unwrap(), None);
    assert!(store.remove_browser_session(&session(0)).await.unwrap());
    assert!(!store.remove_browser_session(&session(0)).await.unwrap());
    // The bearer's newest `keep` survive; other bearers' sessions are untouched.
    let other = format!("other-{bearer}");
    store
        .insert_browser_session(&other, "another bearer", 9_000, 1_000, 3)
        .await
        .unwrap();
    for n in 1..=4 {
        store
            .insert_browser_session(&session(n), &bearer, 5_000 + i64::from(n), 1_000, 3)
            .await
            .unwrap();
    }
    assert_eq!(
        store.browser_session(&session(1), 1_000).await.unwrap(),
        None
    );
    for n in 2..=4 {
        assert!(
            store
                .browser_session(&session(n), 1_000)
                .await
                .unwrap()
                .is_some()
        );
    }
    assert!(
        store
            .browser_session(&other, 1_000)
            .await
            .unwrap()
            .is_some()
    );
    // Inserting purges what expired.
    store
        .insert_browser_session(&session(9), &bearer, 9_500, 9_001, 3)
        .await
        .unwrap();
    assert!(!store.remove_browser_session(&session(4)).await.unwrap());
}

pub async fn exec_runs_are_kept_finished_and_purged(store: &dyn Store) {
    use workspace_server::store::{ExecRun, RunState};
    let ws = WorkspaceId::new();
    let run = |key: Option<&str>| ExecRun {
        exec_id: uuid::Uuid::new_v4(),
        workspace_id: ws,
        argv: vec!["sh".into(), "-c".into(), "echo 'a b'".into()],
        state: RunState::Running,
        started_at_ms: 1_000,
        ended_at_ms: None,
        final_record: None,
        idempotency_key: key.map(str::to_owned),
        replica_id: Some("replica-1".into()),
    };
    let first = run(Some("key-1"));
    assert!(store.insert_exec_run(&first).await.unwrap());
    assert_eq!(
        store.exec_run(ws, first.exec_id).await.unwrap(),
        Some(first.clone())
    );
    // One key, one run: a second insert with it stores nothing.
    let again = run(Some("key-1"));
    assert!(!store.insert_exec_run(&again).await.unwrap());
    assert_eq!(store.exec_run(ws, again.exec_id).await.unwrap(), None);
    assert_eq!(
        store
            .exec_run_by_key(ws, "key-1")
            .await
            .unwrap()
            .unwrap()
            .exec_id,
        first.exec_id
    );
    // Runs without a key never collide; another workspace does not see them.
    let (a, b) = (run(None), run(None));
    assert!(store.insert_exec_run(&a).await.unwrap());
    assert!(store.insert_exec_run(&b).await.unwrap());
    assert_eq!(
        store.exec_run(WorkspaceId::new(), a.exec_id).await.unwrap(),
        None
    );
    let running: Vec<_> = store
        .running_exec_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.exec_id)
        .collect();
    assert!(
        [first.exec_id, a.exec_id, b.exec_id]
            .iter()
            .all(|id| running.contains(id))
    );

    let record = serde_json::json!({ "exit_code": 0, "exec_id": a.exec_id });
    store
        .finish_exec_run(a.exec_id, RunState::Exited, 5_000, &record)
        .await
        .unwrap();
    let ended = store.exec_run(ws, a.exec_id).await.unwrap().unwrap();
    assert_eq!(
        (ended.state, ended.ended_at_ms, ended.final_record),
        (RunState::Exited, Some(5_000), Some(record))
    );
    store
        .finish_exec_run(
            b.exec_id,
            RunState::Interrupted,
            9_000,
            &serde_json::json!({}),
        )
        .await
        .unwrap();
    // Purging forgets what ended before the cutoff, and nothing still running.
    assert_eq!(store.purge_exec_runs(6_000).await.unwrap(), vec![a.exec_id]);
    assert_eq!(store.exec_run(ws, a.exec_id).await.unwrap(), None);
    assert!(store.exec_run(ws, b.exec_id).await.unwrap().is_some());
    assert!(store.exec_run(ws, first.exec_id).await.unwrap().is_some());
}
