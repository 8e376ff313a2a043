//! What the server stores survives a restart, and tokens are stored only as hashes.

use serde_json::json;
use sqlx::Connection;

use crate::helpers::{Db, Options, TestApp, json_of};

/// Creates a workspace, a workspace token and an org token, restarts, and checks all three.
async fn survives_a_restart(app: TestApp) {
    let ws = app
        .create_workspace(json!({ "name": "kept", "tier": 2 }))
        .await;
    let (ws_token, _) = app.workspace_token(&ws).await;
    let (org_token, _) = app.org_token(None).await;

    let app = app.restart().await;
    let res = app
        .get(&format!("/workspaces/{ws}"))
        .bearer_auth(&ws_token)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "kept");
    assert_eq!(body["tier"], 2);
    let res = app
        .get("/workspaces")
        .bearer_auth(&org_token)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn data_survives_a_restart_on_sqlite() {
    survives_a_restart(TestApp::spawn().await).await;
}

#[tokio::test]
async fn data_survives_a_restart_on_postgres() {
    survives_a_restart(Options::default().postgres().await.spawn().await).await;
}

/// Every byte the SQLite store has on disk: the database file, its WAL and shared memory.
fn sqlite_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.extend(std::fs::read(path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn sqlite_holds_token_hashes_never_plaintext() {
    let app = TestApp::spawn().await;
    let ws = app.create_workspace(json!({ "name": "h" })).await;
    let (ws_token, _) = app.workspace_token(&ws).await;
    let (org_token, _) = app.org_token(None).await;
    let Db::Sqlite(dir) = app.db.clone() else {
        unreachable!()
    };

    let bytes = sqlite_bytes(&dir);
    assert!(contains(
        &bytes,
        &workspace_server::auth::hash_token(&ws_token)
    ));
    assert!(contains(
        &bytes,
        &workspace_server::auth::hash_token(&org_token)
    ));
    assert!(
        !contains(&bytes, &ws_token),
        "workspace token plaintext on disk"
    );
    assert!(!contains(&bytes, &org_token), "org token plaintext on disk");
    // The admin token is configuration, never written to the database.
    assert!(!contains(&bytes, &app.admin), "admin token on disk");
}

#[tokio::test]
async fn postgres_holds_token_hashes_never_plaintext() {
    let app = Options::default().postgres().await.spawn().await;
    let ws = app.create_workspace(json!({ "name": "h" })).await;
    let (ws_token, _) = app.workspace_token(&ws).await;
    let (org_token, _) = app.org_token(None).await;
    let Db::Postgres(url) = app.db.clone() else {
        unreachable!()
    };

    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    // Every text column of every table, as one string per row.
    let mut dump = String::new();
    for table in [
        "workspaces",
        "workspace_auth_tokens",
        "org_api_tokens",
        "activity_logs",
        "terminal_tickets",
    ] {
        let rows: Vec<(String,)> = sqlx::query_as(&format!("SELECT t::text FROM {table} t"))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for (row,) in rows {
            dump.push_str(&row);
            dump.push('\n');
        }
    }
    assert!(dump.contains(&workspace_server::auth::hash_token(&ws_token)));
    assert!(dump.contains(&workspace_server::auth::hash_token(&org_token)));
    assert!(
        !dump.contains(&ws_token),
        "workspace token plaintext in PostgreSQL"
    );
    assert!(
        !dump.contains(&org_token),
        "org token plaintext in PostgreSQL"
    );
    assert!(!dump.contains(&app.admin), "admin token in PostgreSQL");
}
