//! The one SQL implementation of `Store`, instantiated for SQLite and PostgreSQL.
//!
//! Both databases accept the same statements (`$n` placeholders, `RETURNING`, recursive CTEs)
//! and the same Rust column types, so a macro stamps out one `impl Store` per pool type rather
//! than keeping two copies in step by hand.

macro_rules! impl_sql_store {
    ($store:ty) => {
        const _: () = {
        use chrono::{DateTime, Utc};
        use uuid::Uuid;

        use $crate::store::rows::*;
        use $crate::store::{
            Activity, AllowlistEntry, NewActivity, OrgToken, StoreError, WorkspaceFields,
            WorkspaceToken, MAX_TREE_DEPTH,
        };
        use $crate::workspace::{Status, Workspace, WorkspaceId};

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn insert_workspace(&self, ws: &Workspace) -> Result<(), StoreError> {
                let sql = format!(
                    "INSERT INTO workspaces ({WORKSPACE_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                );
                sqlx::query(&sql)
                    .bind(ws.id.0)
                    .bind(&ws.name)
                    .bind(&ws.runtime)
                    .bind(ws.tier)
                    .bind(ws.status.as_str())
                    .bind(ws.parent_id.map(|p| p.0))
                    .bind(&ws.instance_id)
                    .bind(&ws.image)
                    .bind(&ws.last_error)
                    .bind(&ws.host_key)
                    .bind(ws.created_at)
                    .bind(ws.updated_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError> {
                let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1");
                sqlx::query_as::<_, WorkspaceRow>(&sql)
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Workspace::try_from)
                    .transpose()
            }

            async fn list_workspaces(
                &self,
                org: Option<WorkspaceId>,
            ) -> Result<Vec<Workspace>, StoreError> {
                let rows = match org {
                    None => {
                        let sql = format!(
                            "SELECT {WORKSPACE_COLUMNS} FROM workspaces \
                             WHERE status <> 'removed' ORDER BY created_at, id"
                        );
                        sqlx::query_as::<_, WorkspaceRow>(&sql)
                            .fetch_all(&self.pool)
                            .await?
                    }
                    Some(org) => {
                        let sql = format!(
                            "WITH RECURSIVE tree(id, depth) AS ( \
                               SELECT id, 0 FROM workspaces WHERE id = $1 AND parent_id IS NULL \
                               UNION ALL \
                               SELECT w.id, t.depth + 1 FROM workspaces w \
                                 JOIN tree t ON w.parent_id = t.id WHERE t.depth < $2) \
                             SELECT {WORKSPACE_COLUMNS} FROM workspaces \
                             WHERE id IN (SELECT id FROM tree) AND status <> 'removed' \
                             ORDER BY created_at, id"
                        );
                        sqlx::query_as::<_, WorkspaceRow>(&sql)
                            .bind(org.0)
                            .bind(MAX_TREE_DEPTH)
                            .fetch_all(&self.pool)
                            .await?
                    }
                };
                rows.into_iter().map(Workspace::try_from).collect()
            }

            async fn ancestors(&self, id: WorkspaceId) -> Result<Vec<WorkspaceId>, StoreError> {
                let rows = sqlx::query_as::<_, IdRow>(
                    "WITH RECURSIVE chain(id, parent_id, depth) AS ( \
                       SELECT id, parent_id, 0 FROM workspaces WHERE id = $1 \
                       UNION ALL \
                       SELECT w.id, w.parent_id, c.depth + 1 FROM workspaces w \
                         JOIN chain c ON w.id = c.parent_id WHERE c.depth < $2) \
                     SELECT id FROM chain ORDER BY depth",
                )
                .bind(id.0)
                .bind(MAX_TREE_DEPTH - 1)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|r| WorkspaceId(r.id)).collect())
            }

            async fn update_workspace_fields(
                &self,
                id: WorkspaceId,
                f: &WorkspaceFields,
                at: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE workspaces SET name = $2, runtime = $3, tier = $4, parent_id = $5, \
                     instance_id = $6, image = $7, updated_at = $8 WHERE id = $1",
                )
                .bind(id.0)
                .bind(&f.name)
                .bind(&f.runtime)
                .bind(f.tier)
                .bind(f.parent_id.map(|p| p.0))
                .bind(&f.instance_id)
                .bind(&f.image)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_status(
                &self,
                id: WorkspaceId,
                status: Status,
                last_error: Option<&str>,
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE workspaces SET status = $2, last_error = $3, updated_at = $4 \
                     WHERE id = $1",
                )
                .bind(id.0)
                .bind(status.as_str())
                .bind(last_error)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_host_key(&self, id: WorkspaceId, key: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE workspaces SET host_key = $2 WHERE id = $1")
                    .bind(id.0)
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn remove_workspace(
                &self,
                id: WorkspaceId,
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "UPDATE workspaces SET status = 'removed', updated_at = $2 WHERE id = $1",
                )
                .bind(id.0)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE workspace_auth_tokens SET revoked_at = $2 \
                     WHERE workspace_id = $1 AND revoked_at IS NULL",
                )
                .bind(id.0)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn insert_workspace_token(
                &self,
                t: &WorkspaceToken,
                hash: &str,
                max_live: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO workspace_auth_tokens \
                       (id, workspace_id, token_hash, prefix, created_at) \
                     SELECT $1, $2, $3, $4, $5 WHERE (SELECT count(*) FROM workspace_auth_tokens \
                       WHERE workspace_id = $2 AND revoked_at IS NULL) < $6",
                )
                .bind(t.id)
                .bind(t.workspace_id.0)
                .bind(hash)
                .bind(&t.prefix)
                .bind(t.created_at)
                .bind(max_live)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn workspace_token_by_hash(
                &self,
                hash: &str,
            ) -> Result<Option<WorkspaceToken>, StoreError> {
                let sql = format!(
                    "SELECT {WORKSPACE_TOKEN_COLUMNS} FROM workspace_auth_tokens \
                     WHERE token_hash = $1 AND revoked_at IS NULL"
                );
                Ok(sqlx::query_as::<_, WorkspaceTokenRow>(&sql)
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Into::into))
            }

            async fn list_workspace_tokens(
                &self,
                ws: WorkspaceId,
            ) -> Result<Vec<WorkspaceToken>, StoreError> {
                let sql = format!(
                    "SELECT {WORKSPACE_TOKEN_COLUMNS} FROM workspace_auth_tokens \
                     WHERE workspace_id = $1 AND revoked_at IS NULL ORDER BY created_at, id"
                );
                let rows = sqlx::query_as::<_, WorkspaceTokenRow>(&sql)
                    .bind(ws.0)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn revoke_workspace_token(
                &self,
                ws: WorkspaceId,
                token_id: Uuid,
                at: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE workspace_auth_tokens SET revoked_at = $3 \
                     WHERE id = $2 AND workspace_id = $1 AND revoked_at IS NULL",
                )
                .bind(ws.0)
                .bind(token_id)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn touch_workspace_token(
                &self,
                id: Uuid,
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE workspace_auth_tokens SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_org_token(&self, t: &OrgToken, hash: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO org_api_tokens \
                       (id, token_hash, prefix, name, created_by, org_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(t.id)
                .bind(hash)
                .bind(&t.prefix)
                .bind(&t.name)
                .bind(&t.created_by)
                .bind(t.org_id.map(|o| o.0))
                .bind(t.created_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn org_token_by_hash(&self, hash: &str) -> Result<Option<OrgToken>, StoreError> {
                let sql = format!(
                    "SELECT {ORG_TOKEN_COLUMNS} FROM org_api_tokens \
                     WHERE token_hash = $1 AND revoked_at IS NULL"
                );
                Ok(sqlx::query_as::<_, OrgTokenRow>(&sql)
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Into::into))
            }

            async fn list_org_tokens(
                &self,
                org: Option<WorkspaceId>,
            ) -> Result<Vec<OrgToken>, StoreError> {
                let sql = format!(
                    "SELECT {ORG_TOKEN_COLUMNS} FROM org_api_tokens WHERE revoked_at IS NULL \
                     AND ($1 IS NULL OR org_id = $1) ORDER BY created_at, id"
                );
                let rows = sqlx::query_as::<_, OrgTokenRow>(&sql)
                    .bind(org.map(|o| o.0))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn revoke_org_token(
                &self,
                id: Uuid,
                org: Option<WorkspaceId>,
                at: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE org_api_tokens SET revoked_at = $3 WHERE id = $1 \
                     AND revoked_at IS NULL AND ($2 IS NULL OR org_id = $2)",
                )
                .bind(id)
                .bind(org.map(|o| o.0))
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn touch_org_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("UPDATE org_api_tokens SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_ticket(
                &self,
                hash: &str,
                ws: WorkspaceId,
                expires_at_ms: i64,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM terminal_tickets WHERE expires_at_ms < $1")
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO terminal_tickets (ticket_hash, workspace_id, expires_at_ms) \
                     VALUES ($1, $2, $3)",
                )
                .bind(hash)
                .bind(ws.0)
                .bind(expires_at_ms)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn take_ticket(
                &self,
                hash: &str,
            ) -> Result<Option<(WorkspaceId, i64)>, StoreError> {
                Ok(sqlx::query_as::<_, TicketRow>(
                    "DELETE FROM terminal_tickets WHERE ticket_hash = $1 \
                     RETURNING workspace_id, expires_at_ms",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| (WorkspaceId(r.workspace_id), r.expires_at_ms)))
            }

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
        }
        };
    };
}

pub(crate) use impl_sql_store;
