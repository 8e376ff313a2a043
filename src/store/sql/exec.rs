//! Exec runs (SPEC §14): a row per run with its final record; the output is a file (`exec/log.rs`).
//! Part of the one SQL `Store` implementation: see `store/sql.rs`.

/// Adds these methods to the accumulated `Store` impl, then hands on to `$crate::store::sql::replicas::replica_methods`.
macro_rules! exec_methods {
    ($store:ty; [$($acc:tt)*]) => {
        $crate::store::sql::replicas::replica_methods!{ $store; [$($acc)*
            async fn insert_exec_run(&self, run: &ExecRun) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO exec_runs (exec_id, workspace_id, argv, state, started_at_ms, \
                       ended_at_ms, final_record, idempotency_key, replica_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (workspace_id, idempotency_key) DO NOTHING",
                )
                .bind(run.exec_id)
                .bind(run.workspace_id.0)
                .bind(serde_json::to_string(&run.argv).unwrap_or_default())
                .bind(run.state.as_str())
                .bind(run.started_at_ms)
                .bind(run.ended_at_ms)
                .bind(run.final_record.as_ref().map(|v| v.to_string()))
                .bind(run.idempotency_key.as_deref())
                .bind(run.replica_id.as_deref())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn exec_run(
                &self,
                ws: WorkspaceId,
                id: Uuid,
            ) -> Result<Option<ExecRun>, StoreError> {
                let sql = format!(
                    "SELECT {EXEC_RUN_COLUMNS} FROM exec_runs WHERE workspace_id = $1 AND exec_id = $2"
                );
                let row = sqlx::query_as::<_, ExecRunRow>(&sql)
                    .bind(ws.0)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn exec_run_by_key(
                &self,
                ws: WorkspaceId,
                key: &str,
            ) -> Result<Option<ExecRun>, StoreError> {
                let sql = format!(
                    "SELECT {EXEC_RUN_COLUMNS} FROM exec_runs \
                     WHERE workspace_id = $1 AND idempotency_key = $2"
                );
                let row = sqlx::query_as::<_, ExecRunRow>(&sql)
                    .bind(ws.0)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn finish_exec_run(
                &self,
                id: Uuid,
                state: RunState,
                ended_at_ms: i64,
                final_record: &serde_json::Value,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE exec_runs SET state = $2, ended_at_ms = $3, final_record = $4 \
                     WHERE exec_id = $1 AND state = 'running'",
                )
                .bind(id)
                .bind(state.as_str())
                .bind(ended_at_ms)
                .bind(final_record.to_string())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn remove_exec_run(&self, id: Uuid) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM exec_runs WHERE exec_id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn running_exec_runs(&self) -> Result<Vec<ExecRun>, StoreError> {
                let sql = format!(
                    "SELECT {EXEC_RUN_COLUMNS} FROM exec_runs WHERE state = 'running' ORDER BY exec_id"
                );
                let rows = sqlx::query_as::<_, ExecRunRow>(&sql)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn purge_exec_runs(&self, ended_before_ms: i64) -> Result<Vec<Uuid>, StoreError> {
                Ok(sqlx::query_scalar::<_, Uuid>(
                    "DELETE FROM exec_runs WHERE ended_at_ms < $1 RETURNING exec_id",
                )
                .bind(ended_before_ms)
                .fetch_all(&self.pool)
                .await?)
            }
        ] }
    };
}

pub(crate) use exec_methods;
