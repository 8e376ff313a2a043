//! The one SQL implementation of `Store`, instantiated for SQLite and PostgreSQL.
//!
//! Both databases accept the same statements (`$n` placeholders, `RETURNING`, recursive CTEs)
//! and the same Rust column types, so macros stamp out one `impl Store` per pool type rather
//! than keeping two copies in step by hand. The methods live by area in `sql/*.rs`; each area's
//! macro appends its methods to an accumulator and hands on to the next, and `finish_store`
//! emits the single `impl` (one block, so `#[async_trait]` sees every method).

pub(crate) mod activity;
pub(crate) mod browser;
pub(crate) mod exec;
pub(crate) mod replicas;
pub(crate) mod tokens;
pub(crate) mod workspaces;

/// Implements `Store` for `$store`, a type with a `pool` field.
macro_rules! impl_sql_store {
    ($store:ty) => {
        $crate::store::sql::workspaces::workspace_methods! { $store; [] }
    };
}

/// Emits the `impl Store` from the accumulated methods, with the names they use in scope.
macro_rules! finish_store {
    ($store:ty; [$($methods:tt)*]) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use uuid::Uuid;

            use $crate::store::rows::*;
            use $crate::store::{
                Activity, AllowlistEntry, ExecRun, Holder, NewActivity, OrgToken, RunState, StoreError, StoredSession, StoredTicket, WorkspaceFields,
                WorkspaceToken, MAX_TREE_DEPTH,
            };
            use $crate::workspace::{Status, Workspace, WorkspaceId};

            #[async_trait::async_trait]
            impl $crate::store::Store for $store {
                $($methods)*
            }
        };
    };
}

pub(crate) use {finish_store, impl_sql_store};
