//! Reading connect-redis records, and claiming them so that one import takes
//! each: a claimed record stays in Redis, marked, until the import is settled
//! (the response carrying the new ticket is ready: the record becomes a short
//! tombstone) or undone (the record is put back as it was, with what is left of
//! its life).
//!
//! A claim is the record's JSON with a first field `cloakroom_import` saying until
//! when it holds, so the record is still a session for express. A claim past that
//! time belongs to an import that never finished (its process died): the next
//! take recovers the record from it. A tombstone is an empty express session
//! (a `cookie` and nothing else) marked the same way, so express reads it as a
//! visitor without a session.
//!
//! Claim windows are judged by the application's clock, not Redis's: servers whose
//! clocks disagree by more than the window can each claim a record once.

use std::future::Future;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use redis::{RedisError, Script};

use crate::clock::to_millis;
use crate::store::StoreError;
use crate::store::redis::Connection;

/// How long a claim keeps other requests from importing the record; also how
/// long the tombstone of an import stays (concurrent requests of one page load
/// see it and keep the client's new ticket).
pub(crate) const CLAIM_WINDOW: Duration = Duration::from_secs(60);

/// KEYS[1] the record; ARGV: `claim` or `peek`, now (ms), the claim's end (ms).
/// Answers nil (no record), `{'claimed'}` (another import holds it), `{json,
/// ttl}` (read, not claimed: peeked, or not a JSON object) or `{json, ttl,
/// claim}`.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"local value = redis.call('GET', KEYS[1])
if not value then return false end
local ttl = redis.call('PTTL', KEYS[1])
local now = tonumber(ARGV[2])
local held, rest = string.match(value, '^{"cloakroom_import":{"until":(%d+)}(.*)$')
if not held then
  local done = string.match(value, '^{"cloakroom_import":{"until":(%d+),"imported":true}')
  if done then
    if tonumber(done) > now then return {'claimed'} end
    return false
  end
elseif tonumber(held) > now then
  return {'claimed'}
elseif rest == '}' then
  value = '{}'
else
  value = '{' .. string.sub(rest, 2)
end
if ttl == 0 or ttl < -1 then return false end
if ARGV[1] ~= 'claim' or string.sub(value, 1, 1) ~= '{' then
  return {value, string.format('%d', ttl)}
end
local claim = '{"cloakroom_import":{"until":' .. ARGV[3] .. '}'
if string.match(value, '^{%s*}$') then claim = claim .. '}' else claim = claim .. ',' .. string.sub(value, 2) end
if ttl > 0 then redis.call('SET', KEYS[1], claim, 'PX', ttl) else redis.call('SET', KEYS[1], claim) end
return {value, string.format('%d', ttl), claim}"#,
    )
});

/// KEYS[1] the record; ARGV: the claim, then what replaces it and for how long
/// (ms; empty: as long as the claim had left). Replaces only a claim still held.
static REPLACE_CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[3]) or redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
elseif ttl == -1 then redis.call('SET', KEYS[1], ARGV[2])
else return 0 end
return 1"#,
    )
});

/// How a record is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// Claimed for this import.
    Claim,
    /// Read and left as it is (records kept for express).
    Peek,
}

/// What a take found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Taken {
    /// No record.
    Nothing,
    /// Another import holds it, or just made it a tombstone.
    Claimed,
    /// The record.
    Record(Record),
}

/// A record as read from Redis, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// The session's JSON (bytes that are not UTF-8 are not JSON: the record is
    /// then judged unreadable, and put back as it was).
    pub(crate) json: Vec<u8>,
    /// What was left of its life in Redis; `None` when it had no TTL.
    pub(crate) ttl: Option<Duration>,
    /// The claim now in its place, when it was claimed.
    pub(crate) claim: Option<Vec<u8>>,
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

    /// The record at `key`, claimed (until `now` + [`CLAIM_WINDOW`]) or peeked.
    pub(crate) async fn take(&self, key: &str, how: Take, now: SystemTime) -> Result<Taken, StoreError> {
        let mut conn = self.conn.clone();
        let mut call = TAKE.key(key);
        call.arg(match how {
            Take::Claim => "claim",
            Take::Peek => "peek",
        })
        .arg(to_millis(now))
        .arg(to_millis(now + CLAIM_WINDOW));
        let found: Option<Vec<Vec<u8>>> = self.run(call.invoke_async(&mut conn)).await?;
        let Some(mut parts) = found else {
            return Ok(Taken::Nothing);
        };
        if parts.len() == 1 {
            return Ok(Taken::Claimed);
        }
        let claim = (parts.len() == 3).then(|| parts.pop()).flatten();
        let ttl = parts.pop().unwrap_or_default();
        let json = parts.pop().unwrap_or_default();
        let ttl: i64 = std::str::from_utf8(&ttl)
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(-1);
        Ok(Taken::Record(Record {
            json,
            ttl: u64::try_from(ttl).ok().map(Duration::from_millis),
            claim,
        }))
    }

    /// Settles an import: its claim becomes a tombstone for [`CLAIM_WINDOW`].
    /// Returns whether the claim was still held.
    pub(crate) async fn settle(&self, key: &str, claim: &[u8], now: SystemTime) -> Result<bool, StoreError> {
        let tombstone = format!(
            r#"{{"cloakroom_import":{{"until":{},"imported":true}},"cookie":{{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}}}}"#,
            to_millis(now + CLAIM_WINDOW)
        );
        let window = u64::try_from(CLAIM_WINDOW.as_millis()).unwrap_or(u64::MAX);
        self.replace_claim(key, claim, tombstone.as_bytes(), &window.to_string())
            .await
    }

    /// Undoes an import: the record goes back in place of its claim, with the
    /// life it had left. Returns whether the claim was still held.
    pub(crate) async fn put_back(&self, key: &str, claim: &[u8], json: &[u8]) -> Result<bool, StoreError> {
        self.replace_claim(key, claim, json, "").await
    }

    async fn replace_claim(&self, key: &str, claim: &[u8], value: &[u8], ttl_ms: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut call = REPLACE_CLAIM.key(key);
        call.arg(claim).arg(value).arg(ttl_ms);
        let replaced: i64 = self.run(call.invoke_async(&mut conn)).await?;
        Ok(replaced == 1)
    }

    /// Deletes the record at `key` (a sign-out on the Rust side), answering its
    /// JSON when there was one.
    pub(crate) async fn delete(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(key).cmd("DEL").arg(key).ignore();
        let (json,): (Option<Vec<u8>>,) = self.run(pipe.query_async(&mut conn)).await?;
        Ok(json.map(|json| String::from_utf8_lossy(&json).into_owned()))
    }
}
