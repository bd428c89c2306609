//! The SQLite store: sessions in one file, on sqlx (cargo feature `sqlite`).
//!
//! | file | concern |
//! | --- | --- |
//! | `builder.rs` | options, opening the file, adopting the application's pool |
//! | `schema.rs` | the table, its indexes and `migrate` |
//! | `statements.rs` | the SQL of each operation, written once per table |
//! | `writes.rs` | the operations that write, judged and applied in the writer's transaction |
//! | `writer.rs` | the one writer: a queue, group commit, cancellation |
//! | `session_store.rs` | the `SessionStore` impl: reads on the readers, writes through the writer |

mod builder;
mod schema;
mod session_store;
mod statements;
mod writer;
mod writes;

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::SqlitePool;

pub use self::builder::SqliteStoreBuilder;
use self::statements::Statements;
use self::writer::Writer;
use self::writes::{Write, Written};
use crate::store::StoreError;
use crate::store::purge_task::PurgeGuard;

#[doc = include_str!("../../../../../docs/SQLITE.md")]
#[derive(Clone)]
pub struct SqliteStore {
    readers: SqlitePool,
    writes: Arc<Writes>,
    sql: Arc<Statements>,
    timeout: Duration,
    purger: Option<Arc<PurgeGuard>>,
}

/// Where writes go: the pool the writer takes its connection from, and the
/// writer, started on the first write (inside the runtime that makes it).
struct Writes {
    pool: SqlitePool,
    writer: OnceLock<Writer>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.sql.name.as_str())
            .field("timeout", &self.timeout)
            .field("purging", &self.purger.is_some())
            .finish()
    }
}

impl SqliteStore {
    /// Runs one read within the store's timeout.
    async fn read<T, Fut>(&self, read: Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(StoreError::unavailable(err)),
            Err(_) => Err(StoreError::unavailable(format!(
                "SQLite did not answer a read within {:?}",
                self.timeout
            ))),
        }
    }

    /// Runs one write through the writer.
    async fn write(&self, write: Write) -> Result<Written, StoreError> {
        let writer = self
            .writes
            .writer
            .get_or_init(|| Writer::spawn(self.writes.pool.clone(), self.sql.clone()));
        writer.write(write, self.timeout).await
    }
}

/// An answer of the wrong kind for its write: a bug, reported rather than a panic.
fn unexpected(written: &Written) -> StoreError {
    StoreError::Corrupt(format!("unexpected answer from the SQLite writer: {written:?}"))
}
