//! Browser sessions: the cookie of SPEC §13, stored as a hash with its bearer's hash.
//! Part of the one SQL `Store` implementation: see `store/sql.rs`.

/// Adds these methods to the accumulated `Store` impl, then hands on to `$crate::store::sql::exec::exec_methods`.
macro_rules! browser_methods {
    ($store:ty; [$($acc:tt)*]) => {
        $crate::store::sql::exec::exec_methods!{ $store; [$($acc)*
            async fn insert_browser_session(
                &self,
                hash: &str,
                credential_hash: &str,
                expires_at_ms: i64,
                now_ms: i64,
                keep: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM browser_sessions WHERE expires_at_ms <= $1")
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO browser_sessions (session_hash, credential_hash, expires_at_ms) \
                     VALUES ($1, $2, $3)",
                )
                .bind(hash)
                .bind(credential_hash)
                .bind(expires_at_ms)
                .execute(&mut *tx)
                .await?;
                // One bearer keeps its newest `keep` sessions: signing in again and again
                // cannot grow the table.
                sqlx::query(
                    "DELETE FROM browser_sessions WHERE credential_hash = $1 AND session_hash NOT IN \
                     (SELECT session_hash FROM browser_sessions WHERE credential_hash = $1 \
                      ORDER BY expires_at_ms DESC, session_hash LIMIT $2)",
                )
                .bind(credential_hash)
                .bind(keep)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn browser_session(
                &self,
                hash: &str,
                now_ms: i64,
            ) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar::<_, String>(
                    "SELECT credential_hash FROM browser_sessions \
                     WHERE session_hash = $1 AND expires_at_ms > $2",
                )
                .bind(hash)
                .bind(now_ms)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn remove_browser_session(&self, hash: &str) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM browser_sessions WHERE session_hash = $1")
                    .bind(hash)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        ] }
    };
}

pub(crate) use browser_methods;
