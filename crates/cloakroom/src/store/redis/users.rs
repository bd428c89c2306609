//! The per-user index: one sorted set per user of session keys scored by absolute
//! deadline, written before a binding is applied.

use std::time::{Duration, SystemTime};

use super::RedisStore;
use super::layout::{meta_of, unpack_meta};
use super::scripts;
use crate::clock::to_millis;
use crate::id::StoreKey;
use crate::store::{ChangeSet, MAX_LOGOUT_PASSES, StoreError, UserChange, UserSession};

/// Score of a user-index entry whose absolute deadline the committer did not know.
const UNKNOWN_DEADLINE: Duration = Duration::from_secs(400 * 24 * 3600);

/// A pipeline that starts by dropping the user-index entries past their absolute
/// deadline at `now`; the caller adds what it came for.
fn pruning_pipe(index: &str, now: SystemTime) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(index)
        .arg("-inf")
        .arg(to_millis(now))
        .ignore();
    pipe
}

impl RedisStore {
    /// Files `member` under `user`, pruning entries past their absolute deadline.
    pub(super) async fn index_add(
        &self,
        user: &str,
        key: &StoreKey,
        absolute: SystemTime,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let index = self.layout.user(user);
        let mut pipe = pruning_pipe(&index, now);
        pipe.cmd("ZADD")
            .arg(&index)
            .arg(to_millis(absolute))
            .arg(key.to_hex())
            .ignore();
        self.pipeline(pipe).await
    }

    /// Takes `members` out of `user`'s index.
    pub(super) async fn index_remove(&self, user: &str, members: &[String]) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.layout.user(user)).arg(members);
        self.query::<i64>(cmd).await.map(drop)
    }

    /// Files a binding the change set makes, before it is applied.
    pub(super) async fn index_binding(&self, key: &StoreKey, changes: &ChangeSet) -> Result<(), StoreError> {
        if let Some(UserChange::Bind(user)) = &changes.user {
            let absolute = changes.absolute_deadline.unwrap_or(changes.now + UNKNOWN_DEADLINE);
            self.index_add(user, key, absolute, changes.now).await?;
        }
        Ok(())
    }

    /// Takes the session at `old_key` out of `previous` user's index when the change
    /// set moved it elsewhere (or to `new_key`).
    pub(super) async fn index_moved(
        &self,
        old_key: &StoreKey,
        new_key: &StoreKey,
        previous: &str,
        changes: &ChangeSet,
    ) -> Result<(), StoreError> {
        if previous.is_empty() {
            return Ok(());
        }
        let rebound = match &changes.user {
            Some(UserChange::Bind(user)) => user != previous,
            Some(UserChange::Unbind) => true,
            None => false,
        };
        if old_key != new_key && changes.user.is_none() {
            // Still bound to `previous` under its new key: file it there.
            let absolute = changes.absolute_deadline.unwrap_or(changes.now + UNKNOWN_DEADLINE);
            self.index_add(previous, new_key, absolute, changes.now).await?;
        }
        if rebound || old_key != new_key {
            self.index_remove(previous, &[old_key.to_hex()]).await?;
        }
        Ok(())
    }

    /// The live sessions bound to `user`, unindexing dead or rebound entries.
    pub(super) async fn sessions_of(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError> {
        let index = self.layout.user(user);
        let mut pipe = pruning_pipe(&index, now);
        pipe.cmd("ZRANGE").arg(&index).arg(0).arg(-1);
        let (members,): (Vec<String>,) = self.pipeline(pipe).await?;
        let keys: Vec<StoreKey> = members.iter().filter_map(|m| StoreKey::from_hex(m)).collect();
        let reads = keys
            .iter()
            .map(|key| {
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(self.layout.session(key)).arg(&["m", "m:u"]);
                cmd
            })
            .collect();
        let metas: Vec<(Option<String>, Option<String>)> = self.batch(reads).await?;
        let mut sessions = Vec::new();
        let mut dead = Vec::new();
        for (key, (packed, bound)) in keys.into_iter().zip(metas) {
            // No readable `m` field: gone, a moved marker, or data a late write left.
            match packed
                .as_deref()
                .and_then(unpack_meta)
                .map(|times| meta_of(times, bound))
            {
                Some(meta) if !meta.is_expired(now) && meta.user.as_deref() == Some(user) => {
                    sessions.push(UserSession { key, meta });
                }
                _ => dead.push(key.to_hex()),
            }
        }
        self.index_remove(user, &dead).await?;
        Ok(sessions)
    }

    /// Deletes every session bound to `user` that existed when the call began;
    /// returns how many of them were live.
    pub(super) async fn delete_sessions_of(&self, user: &str) -> Result<usize, StoreError> {
        let started = to_millis(SystemTime::now());
        let mut deleted = 0;
        // A session regenerated meanwhile is re-filed under its new key: go round
        // until a pass finds nothing that existed when we started.
        for _ in 0..MAX_LOGOUT_PASSES {
            let mut cmd = redis::cmd("ZRANGE");
            cmd.arg(self.layout.user(user)).arg(0).arg(-1);
            let members: Vec<String> = self.query(cmd).await?;
            let mut handled = Vec::new();
            for member in members {
                let Some(key) = StoreKey::from_hex(&member) else {
                    continue;
                };
                let mut invocation = scripts::DELETE.call();
                invocation
                    .key(self.layout.session(&key))
                    .key(self.layout.expiries(&key))
                    .key(self.layout.users(&key))
                    .arg(&member)
                    .arg(started)
                    .arg(user)
                    .arg(started);
                let (outcome, _): (i64, String) = self.invoke(invocation).await?;
                if outcome == 1 {
                    deleted += 1;
                }
                if outcome != -2 {
                    handled.push(member);
                }
            }
            if handled.is_empty() {
                break;
            }
            // Only the members handled here: a session bound meanwhile stays filed.
            self.index_remove(user, &handled).await?;
        }
        Ok(deleted)
    }
}
