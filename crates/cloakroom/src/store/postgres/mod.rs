//! The Postgres store: one row per session, one statement per read and per write,
//! on sqlx (cargo feature `postgres`).
//!
//! | file | concern |
//! | --- | --- |
//! | `builder.rs` | options, connecting, adopting the application's pool |
//! | `schema.rs` | table names, the schema and `migrate` |
//! | `statements.rs` | the SQL of each operation, written once per table |
//! | `commit_shape.rs` | the fast commit: one `UPDATE` per shape of change set |
//! | `params.rs` | a change set as statement parameters |
//! | `sessions.rs` | load, create, commit, regenerate, delete |
//! | `users.rs` | the sessions of a user |
//! | `purge.rs` | the background purge, and counting |
//! | `session_store.rs` | the `SessionStore` impl, which calls the files above |

mod builder;
mod commit_shape;
mod params;
mod purge;
mod schema;
mod session_store;
mod sessions;
mod statements;
mod users;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

pub use self::builder::PostgresStoreBuilder;
use self::statements::Statements;
use crate::store::StoreError;
use crate::store::purge_task::PurgeGuard;

#[doc = include_str!("../../../../../docs/POSTGRES.md")]
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sql: Arc<Statements>,
    timeout: Duration,
    purger: Option<Arc<PurgeGuard>>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.sql.name.qualified())
            .field("timeout", &self.timeout)
            .field("purging", &self.purger.is_some())
            .finish()
    }
}

impl PostgresStore {
    /// The pool the store runs its statements on.
    ///
    /// ```no_run
    /// use cloakroom::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PostgresStore::connect("postgres://app@127.0.0.1/app").await?;
    /// let pool = store.pool().clone(); // one pool for sessions and the application's own queries
    /// sqlx::query("SELECT 1").execute(&pool).await?;
    /// # Ok(()) }
    /// ```
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs one store operation within the store's timeout. An operation whose
    /// connection the server had closed (`pg_terminate_backend`, a restart, a
    /// failover) runs again on another connection, up to once per connection the
    /// pool may hold: the server said it did not run it, so it cannot apply twice.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let attempts = async {
            let mut retries = self.pool.options().get_max_connections();
            loop {
                match op().await {
                    Err(err) if retries > 0 && server_closed_connection(&err) => {
                        tracing::debug!(error = %err, "Postgres had closed a pooled connection; running the statement again");
                        retries -= 1;
                    }
                    other => return other,
                }
            }
        };
        match tokio::time::timeout(self.timeout, attempts).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(StoreError::unavailable(err)),
            Err(_) => Err(StoreError::unavailable(format!(
                "Postgres did not answer within {:?}",
                self.timeout
            ))),
        }
    }
}

/// True when the server ended the connection before running the statement:
/// SQLSTATE class 57P (`admin_shutdown`, `crash_shutdown`, `cannot_connect_now`)
/// reported on a connection, which Postgres sends only as it terminates a backend
/// that runs no statement, or rolls back the one it runs.
fn server_closed_connection(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("57P")),
        _ => false,
    }
}
