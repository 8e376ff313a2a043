//! Activity rows and org plugin allowlists.
//! Part of the one SQL `Store` implementation: see `store/sql.rs`.

/// Adds these methods to the accumulated `Store` impl, then hands on to `$crate::store::sql::finish_store`.
macro_rules! activity_methods {
    ($store:ty; [$($acc:tt)*]) => {
        $crate::store::sql::finish_store!{ $store; [$($acc)*
            async fn insert_activity(&self, a: &NewActivity) -> Result<i64, StoreError> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO activity_logs (workspace_id, activity_type, actor, method, \
                       summary, request_body, duration_ms, status, error_detail, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                )
                .bind(a.workspace_id.0)
                .bind(&a.activity_type)
                .bind(&a.actor)
                .bind(&a.method)
                .bind(&a.summary)
                .bind(a.request_body.as_ref().map(sqlx::types::Json))
                .bind(a.duration_ms)
                .bind(&a.status)
                .bind(&a.error_detail)
                .bind(a.created_at)
                .fetch_one(&self.pool)
                .await?;
                Ok(id)
            }

            async fn list_activity(
                &self,
                ws: WorkspaceId,
                activity_type: Option<&str>,
                limit: i64,
            ) -> Result<Vec<Activity>, StoreError> {
                let sql = format!(
                    "SELECT {ACTIVITY_COLUMNS} FROM activity_logs WHERE workspace_id = $1 \
                     AND ($2 IS NULL OR activity_type = $2) \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                );
                let rows = sqlx::query_as::<_, ActivityRow>(&sql)
                    .bind(ws.0)
                    .bind(activity_type)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn allowlist(&self, org: WorkspaceId) -> Result<Vec<AllowlistEntry>, StoreError> {
                let rows = sqlx::query_as::<_, AllowlistRow>(
                    "SELECT org_id, plugin_name, enabled_by, enabled_at FROM org_plugin_allowlist \
                     WHERE org_id = $1 ORDER BY plugin_name",
                )
                .bind(org.0)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn replace_allowlist(
                &self,
                org: WorkspaceId,
                names: &[String],
                enabled_by: &str,
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM org_plugin_allowlist WHERE org_id = $1")
                    .bind(org.0)
                    .execute(&mut *tx)
                    .await?;
                for name in names {
                    sqlx::query(
                        "INSERT INTO org_plugin_allowlist \
                           (org_id, plugin_name, enabled_by, enabled_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(org.0)
                    .bind(name)
                    .bind(enabled_by)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        ] }
    };
}

pub(crate) use activity_methods;
