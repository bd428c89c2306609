//! Reading connect-redis records: taken (read and deleted) in one atomic script,
//! put back when the import cannot finish, deleted at a sign-out.

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use redis::{RedisError, Script};

use crate::store::StoreError;
use crate::store::redis::Connection;

/// Reads the record and its remaining life (ms; -1 when it has none), and deletes
/// it when `ARGV[1]` is `1`: concurrent takers of one record get it once.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local value = redis.call('GET', KEYS[1])
         if not value then return false end
         local ttl = redis.call('PTTL', KEYS[1])
         if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) end
         return {value, ttl}",
    )
});

/// A record as read from Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Taken {
    /// The session's JSON.
    pub(crate) json: String,
    /// What was left of its life in Redis; `None` when it had no TTL.
    pub(crate) ttl: Option<Duration>,
}

/// The Redis that holds connect-redis records.
#[derive(Clone)]
pub(crate) struct RecordSource {
    conn: Connection,
    timeout: Duration,
}

impl std::fmt::Debug for RecordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordSource")
            .field("cluster", &self.conn.is_cluster())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RecordSource {
    pub(crate) fn new(conn: Connection, timeout: Duration) -> Self {
        Self { conn, timeout }
    }

    async fn run<T>(&self, op: impl Future<Output = Result<T, RedisError>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(result) => result.map_err(StoreError::unavailable),
            Err(_) => Err(StoreError::unavailable(format!(
                "Redis (express records) did not answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// The record at `key`, deleted in the same step when `consume`.
    pub(crate) async fn take(&self, key: &str, consume: bool) -> Result<Option<Taken>, StoreError> {
        let mut conn = self.conn.clone();
        let found: Option<(String, i64)> = self
            .run(
                TAKE.key(key)
                    .arg(if consume { "1" } else { "0" })
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(found.map(|(json, ttl)| Taken {
            json,
            ttl: u64::try_from(ttl).ok().map(Duration::from_millis),
        }))
    }

    /// Puts a taken record back, with what was left of its life, unless the key
    /// holds something again. Returns whether it went back.
    pub(crate) async fn put_back(&self, key: &str, taken: &Taken) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(&taken.json).arg("NX");
        if let Some(ttl) = taken.ttl {
            cmd.arg("PX")
                .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        }
        let mut conn = self.conn.clone();
        let placed: Option<String> = self.run(cmd.query_async(&mut conn)).await?;
        Ok(placed.is_some())
    }

    /// Deletes the record at `key`.
    pub(crate) async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let deleted: u64 = self.run(redis::cmd("DEL").arg(key).query_async(&mut conn)).await?;
        Ok(deleted > 0)
    }
}
