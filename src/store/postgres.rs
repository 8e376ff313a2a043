//! The PostgreSQL store, for production and for several replicas sharing one database.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};

use super::sql::impl_sql_store;
use super::{Announcements, StoreError};

/// How long a request waits for a pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per server process (one of them listens for announcements).
const MAX_CONNECTIONS: u32 = 16;
/// The channel replicas announce changes on (SPEC §16); payloads are ids only.
const CHANNEL: &str = "workspace_server";
/// How long a listener whose connection failed waits before it tries again.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// `Store` over a PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects and migrates. Concurrent replicas serialise on sqlx's migration lock.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    async fn notify(&self, payload: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `LISTEN` on its own connection. A lost connection is reconnected by the listener on the
    /// next receive; what was announced meanwhile is missed, which the tables make up for.
    async fn announcements(&self) -> Result<Option<Announcements>, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let stream = futures_util::stream::unfold(listener, |mut listener| async move {
            loop {
                match listener.recv().await {
                    Ok(notice) => return Some((notice.payload().to_owned(), listener)),
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for other replicas' announcements");
                        tokio::time::sleep(RELISTEN_AFTER).await;
                    }
                }
            }
        });
        Ok(Some(Box::pin(stream)))
    }
}

impl_sql_store!(PostgresStore);
