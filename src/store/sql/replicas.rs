//! Replicas on one database (SPEC §16): their leases, the resumable sessions each holds, and the
//! announcements between them. Part of the one SQL `Store` implementation: see `store/sql.rs`.

/// Adds these methods to the accumulated `Store` impl, then hands on to `$crate::store::sql::activity::activity_methods`.
macro_rules! replica_methods {
    ($store:ty; [$($acc:tt)*]) => {
        $crate::store::sql::activity::activity_methods!{ $store; [$($acc)*
            async fn renew_replica(
                &self,
                id: &str,
                url: Option<&str>,
                until_ms: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO replicas (id, url, lease_until_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET url = excluded.url, \
                       lease_until_ms = excluded.lease_until_ms",
                )
                .bind(id)
                .bind(url)
                .bind(until_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn replica(&self, id: &str, now_ms: i64) -> Result<Option<Holder>, StoreError> {
                let row = sqlx::query_as::<_, (String, Option<String>, i64)>(
                    "SELECT id, url, lease_until_ms FROM replicas WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(replica_id, url, until)| Holder {
                    replica_id,
                    url,
                    live: until > now_ms,
                }))
            }

            async fn forget_replicas(&self, before_ms: i64) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "DELETE FROM terminal_sessions WHERE replica_id IN \
                       (SELECT id FROM replicas WHERE lease_until_ms < $1)",
                )
                .bind(before_ms)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM replicas WHERE lease_until_ms < $1")
                    .bind(before_ms)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn insert_terminal_session(
                &self,
                session: &StoredSession,
                max_live: i64,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO terminal_sessions (id, workspace_id, replica_id, created_at_ms) \
                     SELECT $1, $2, $3, $4 WHERE ( \
                       SELECT COUNT(*) FROM terminal_sessions s \
                       JOIN replicas r ON r.id = s.replica_id \
                       WHERE s.workspace_id = $2 AND r.lease_until_ms > $6) < $5",
                )
                .bind(&session.id)
                .bind(session.workspace_id.0)
                .bind(&session.replica_id)
                .bind(session.created_at_ms)
                .bind(max_live)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn remove_terminal_session(&self, id: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM terminal_sessions WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn terminal_session(
                &self,
                ws: WorkspaceId,
                id: &str,
                now_ms: i64,
            ) -> Result<Option<StoredSession>, StoreError> {
                let row = sqlx::query_as::<_, SessionRow>(
                    "SELECT s.id, s.workspace_id, s.replica_id, s.created_at_ms, s.killed_at_ms, \
                       r.url, r.lease_until_ms \
                     FROM terminal_sessions s LEFT JOIN replicas r ON r.id = s.replica_id \
                     WHERE s.workspace_id = $1 AND s.id = $2",
                )
                .bind(ws.0)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| r.read(now_ms)))
            }

            async fn session_holders(
                &self,
                ws: WorkspaceId,
                except: &str,
                now_ms: i64,
            ) -> Result<Vec<Holder>, StoreError> {
                let rows = sqlx::query_as::<_, (String, Option<String>)>(
                    "SELECT DISTINCT r.id, r.url FROM terminal_sessions s \
                     JOIN replicas r ON r.id = s.replica_id \
                     WHERE s.workspace_id = $1 AND r.id <> $2 AND r.lease_until_ms > $3 \
                     ORDER BY r.id",
                )
                .bind(ws.0)
                .bind(except)
                .bind(now_ms)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(replica_id, url)| Holder { replica_id, url, live: true })
                    .collect())
            }

            async fn kill_terminal_session(
                &self,
                ws: WorkspaceId,
                id: &str,
                at_ms: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE terminal_sessions SET killed_at_ms = COALESCE(killed_at_ms, $3) \
                     WHERE workspace_id = $1 AND id = $2",
                )
                .bind(ws.0)
                .bind(id)
                .bind(at_ms)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn killed_terminal_sessions(
                &self,
                replica_id: &str,
            ) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar::<_, String>(
                    "SELECT id FROM terminal_sessions \
                     WHERE replica_id = $1 AND killed_at_ms IS NOT NULL ORDER BY id",
                )
                .bind(replica_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn announce(&self, payload: &str) -> Result<(), StoreError> {
                self.notify(payload).await
            }

            async fn listen(&self) -> Result<Option<$crate::store::Announcements>, StoreError> {
                self.announcements().await
            }
        ] }
    };
}

pub(crate) use replica_methods;
