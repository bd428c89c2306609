#![doc = include_str!("../../../../docs/STORES.md")]

mod change;
mod error;
mod fresh;
pub(crate) mod memory;
#[cfg(feature = "metrics")]
pub(crate) mod metered;
mod outcome;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
mod purge_task;
mod record;
#[cfg(feature = "redis")]
pub(crate) mod redis;
mod session_store;
mod simple;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql_rows;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql_schema;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

use std::time::Duration;

pub use self::change::{Addition, ChangeSet, MAX_COUNT, Touch, UserChange, added};
pub use self::error::StoreError;
pub use self::fresh::FreshSession;
pub use self::memory::MemoryStoreBuilder;
pub use self::outcome::{CommitOutcome, Loaded, MOVED_MARKER_TTL};
#[cfg(feature = "postgres")]
pub use self::postgres::PostgresStoreBuilder;
pub(crate) use self::record::data_bytes;
pub use self::record::{SessionMeta, SessionRecord, UserSession};
#[cfg(feature = "redis")]
pub use self::redis::RedisStoreBuilder;
pub use self::session_store::SessionStore;
pub use self::simple::{SimpleStore, SimpleStoreAdapter};
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteStoreBuilder;
pub use crate::id::StoreKey;

/// Default time between two purges of expired sessions, for the stores that purge
/// in the background.
pub(crate) const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// How many passes "log out everywhere" makes over a user's index at most: a pass
/// that finds a session regenerated meanwhile goes round again for its new key.
pub(crate) const MAX_LOGOUT_PASSES: usize = 8;
