//! The Redis store: standalone Redis or Redis Cluster, one round trip per load
//! (plain `HGETALL` unless a slide is due) and per commit (a plain pipeline for
//! writes that only set or only remove keys, else a script) (cargo feature `redis`).
//!
//! | file | concern |
//! | --- | --- |
//! | `builder.rs` | options and connecting |
//! | `connection.rs` | one connection type over standalone and Cluster |
//! | `layout.rs` | key names and the hash encoding of a record |
//! | `load.rs` | loads: plain `HGETALL`, the `load` script when a slide is due |
//! | `commit.rs` | create, commit, regenerate, delete |
//! | `restore.rs`, `crc64.rs` | a new session's hash as a `RESTORE` payload |
//! | `plain_write.rs` | commits without a script |
//! | `users.rs` | the per-user index |
//! | `purge.rs` | the background purge of the expiry sets, and counting |
//! | `scripts.rs`, `lua/` | the Lua scripts |
//! | `session_store.rs` | the `SessionStore` impl, which calls the files above |

mod builder;
mod commit;
mod connection;
mod crc64;
mod layout;
mod load;
mod plain_write;
mod purge;
mod restore;
mod scripts;
mod session_store;
mod users;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::{Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, ServerErrorKind};

pub use self::builder::RedisStoreBuilder;
#[cfg(feature = "express")]
pub(crate) use self::builder::{DEFAULT_TIMEOUT, connect_manager, connect_nodes};
pub(crate) use self::connection::Connection;
use self::layout::Layout;
use self::restore::RestoreSupport;
use self::scripts::ScriptCall;
use crate::store::StoreError;
use crate::store::purge_task::PurgeGuard;

/// Sessions in Redis, standalone or Cluster (cargo feature `redis`): one hash per
/// session keyed by the SHA-256 of its ID, change sets applied atomically, one
/// round trip per load and per commit while a session is in steady use.
///
#[doc = include_str!("../../../../../docs/REDIS.md")]
#[derive(Clone)]
pub struct RedisStore {
    conn: Connection,
    layout: Arc<Layout>,
    timeout: Duration,
    /// Whether new sessions are still created with `RESTORE`.
    restore: Arc<RestoreSupport>,
    /// Stops the purge task when the last clone of the store is dropped.
    purger: Option<Arc<PurgeGuard>>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &self.conn.is_cluster())
            .field("layout", &self.layout)
            .field("timeout", &self.timeout)
            .field("restore", &self.restore.usable())
            .field("purging", &self.purger.is_some())
            .finish()
    }
}

impl RedisStore {
    /// The store's connection and its limit on one call, for other readers of the
    /// same Redis (the express importer).
    #[cfg_attr(not(feature = "express"), allow(dead_code))]
    pub(crate) fn connection(&self) -> (Connection, Duration) {
        (self.conn.clone(), self.timeout)
    }

    async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, RedisError>>,
    {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(StoreError::unavailable(err)),
            Err(_) => Err(StoreError::unavailable(format!(
                "Redis did not answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// Runs a script call; when Redis does not know the script (a restart, `SCRIPT
    /// FLUSH`), loads it and tries once more.
    async fn invoke<T: FromRedisValue>(&self, call: ScriptCall) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        self.run(async move {
            match call.cmd.query_async(&mut conn).await {
                Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    call.script.script.load_async(&mut conn).await?;
                    call.cmd.query_async(&mut conn).await
                }
                other => other,
            }
        })
        .await
    }

    async fn query<T: FromRedisValue>(&self, cmd: Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        self.run(async move { cmd.query_async(&mut conn).await }).await
    }

    /// Sends a pipeline (whose commands share one slot on a cluster).
    async fn pipeline<T: FromRedisValue>(&self, pipe: Pipeline) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        self.run(async move { pipe.query_async(&mut conn).await }).await
    }

    /// Runs independent commands: one pipeline on a single server, concurrent
    /// requests on a cluster (a pipeline there must stay in one slot).
    async fn batch<T: FromRedisValue>(&self, cmds: Vec<Cmd>) -> Result<Vec<T>, StoreError> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.conn.clone();
        self.run(async move {
            if conn.is_cluster() {
                let calls = cmds.into_iter().map(|cmd| {
                    let mut conn = conn.clone();
                    async move { cmd.query_async::<T>(&mut conn).await }
                });
                futures_util::future::join_all(calls).await.into_iter().collect()
            } else {
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                let mut conn = conn;
                pipe.query_async(&mut conn).await
            }
        })
        .await
    }
}
