//! Workspaces: insert, read, list, the org tree, updates and removal.
//! Part of the one SQL `Store` implementation: see `store/sql.rs`.

/// Adds these methods to the accumulated `Store` impl, then hands on to `$crate::store::sql::tokens::token_methods`.
macro_rules! workspace_methods {
    ($store:ty; [$($acc:tt)*]) => {
        $crate::store::sql::tokens::token_methods!{ $store; [$($acc)*
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
                let mut tx = self.pool.begin().await?;
                // The lock first (a write, so SQLite takes its writer lock before any read).
                sqlx::query("UPDATE tree_lock SET id = id WHERE id = 1")
                    .execute(&mut *tx)
                    .await?;
                if let Some(parent) = f.parent_id {
                    let cycle = sqlx::query_as::<_, IdRow>(
                        "WITH RECURSIVE chain(id, parent_id, depth) AS ( \
                           SELECT id, parent_id, 0 FROM workspaces WHERE id = $1 \
                           UNION ALL \
                           SELECT w.id, w.parent_id, c.depth + 1 FROM workspaces w \
                             JOIN chain c ON w.id = c.parent_id WHERE c.depth < $3) \
                         SELECT id FROM chain WHERE id = $2 LIMIT 1",
                    )
                    .bind(parent.0)
                    .bind(id.0)
                    .bind(MAX_TREE_DEPTH)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if cycle.is_some() {
                        return Err(StoreError::Cycle);
                    }
                }
                let done = sqlx::query(
                    "UPDATE workspaces SET name = $2, runtime = $3, tier = $4, parent_id = $5, \
                     host_key = CASE WHEN instance_id IS DISTINCT FROM $6 THEN NULL \
                       ELSE host_key END, \
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
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
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

            async fn clear_host_key(&self, id: WorkspaceId) -> Result<(), StoreError> {
                sqlx::query("UPDATE workspaces SET host_key = NULL WHERE id = $1")
                    .bind(id.0)
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
        ] }
    };
}

pub(crate) use workspace_methods;
