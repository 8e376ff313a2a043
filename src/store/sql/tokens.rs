//! Workspace tokens, org tokens and terminal tickets.
//! Part of the one SQL `Store` implementation: see `store/sql.rs`.

/// Adds these methods to the accumulated `Store` impl, then hands on to `$crate::store::sql::browser::browser_methods`.
macro_rules! token_methods {
    ($store:ty; [$($acc:tt)*]) => {
        $crate::store::sql::browser::browser_methods!{ $store; [$($acc)*
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
                ticket: &StoredTicket,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM terminal_tickets WHERE expires_at_ms < $1")
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO terminal_tickets \
                     (ticket_hash, workspace_id, view_session, credential_id, expires_at_ms) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(hash)
                .bind(ticket.workspace_id.0)
                .bind(ticket.view_session.as_deref())
                .bind(ticket.credential_id)
                .bind(ticket.expires_at_ms)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn take_ticket(
                &self,
                hash: &str,
            ) -> Result<Option<StoredTicket>, StoreError> {
                Ok(sqlx::query_as::<_, TicketRow>(
                    "DELETE FROM terminal_tickets WHERE ticket_hash = $1 \
                     RETURNING workspace_id, view_session, credential_id, expires_at_ms",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| StoredTicket {
                    workspace_id: WorkspaceId(r.workspace_id),
                    view_session: r.view_session,
                    credential_id: r.credential_id,
                    expires_at_ms: r.expires_at_ms,
                }))
            }

            async fn revoked_credentials(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
                // Well under either database's limit of bound parameters per statement.
                const PER_QUERY: usize = 500;
                let mut live = std::collections::HashSet::new();
                for chunk in ids.chunks(PER_QUERY) {
                    let mut q = sqlx::QueryBuilder::new(
                        "SELECT id FROM workspace_auth_tokens WHERE revoked_at IS NULL AND id IN (",
                    );
                    let mut listed = q.separated(", ");
                    chunk.iter().for_each(|id| {
                        listed.push_bind(*id);
                    });
                    q.push(") UNION ALL SELECT id FROM org_api_tokens WHERE revoked_at IS NULL AND id IN (");
                    let mut listed = q.separated(", ");
                    chunk.iter().for_each(|id| {
                        listed.push_bind(*id);
                    });
                    q.push(")");
                    let found: Vec<Uuid> = q.build_query_scalar().fetch_all(&self.pool).await?;
                    live.extend(found);
                }
                Ok(ids.iter().filter(|id| !live.contains(*id)).copied().collect())
            }
        ] }
    };
}

pub(crate) use token_methods;
