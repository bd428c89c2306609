//! `SessionStore` for the memory store: each call under the lock of its shard.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use async_trait::async_trait;

use super::stored::{Shard, Stored};
use super::{MemoryStore, lock, shard_index};
use crate::clock::to_millis;
use crate::id::StoreKey;
use crate::store::{
    ChangeSet, CommitOutcome, Loaded, MOVED_MARKER_TTL, SessionRecord, SessionStore, StoreError, Touch, UserSession,
};

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        self.ensure_purger();
        let mut shard = self.shard(key);
        let Some(record) = shard.sessions.get_mut(key) else {
            return Ok(if shard.is_moved(key, touch.now) {
                Loaded::Moved
            } else {
                Loaded::Gone
            });
        };
        if record.meta.is_expired(touch.now) {
            if let Some(user) = self.drop_expired(&mut shard, key) {
                self.unindex(&user, key);
            }
            return Ok(Loaded::Gone);
        }
        record.meta.apply_touch(touch);
        Ok(Loaded::Live(record.to_record()))
    }

    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        self.ensure_purger();
        let mut shard = self.shard(key);
        if shard.is_moved(key, record.meta.created_at) {
            return Ok(false);
        }
        let expired_user = match shard.sessions.get(key) {
            Some(existing) if !existing.meta.is_expired(record.meta.created_at) => return Ok(false),
            Some(_) => self.drop_expired(&mut shard, key),
            None => None,
        };
        if let Err(full) = self.reserve_slot() {
            if let Some(user) = expired_user {
                self.unindex(&user, key);
            }
            return Err(full);
        }
        shard.sessions.insert(*key, Stored::from_record(record));
        if let Some(user) = expired_user {
            self.unindex(&user, key);
        }
        if let Some(user) = &record.meta.user {
            self.index(user, *key);
        }
        Ok(true)
    }

    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<CommitOutcome, StoreError> {
        Ok(self.apply_commit(key, changes))
    }

    async fn regenerate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        let (a, b) = (shard_index(old), shard_index(new));
        // Lock both shards in index order so two regenerations cannot deadlock.
        let mut low = lock(&self.inner.shards[a.min(b)]);
        let mut high = (a != b).then(|| lock(&self.inner.shards[a.max(b)]));
        let moved = match &mut high {
            None => move_record(&mut low, None, old, new, changes),
            Some(high) if a < b => move_record(&mut low, Some(high), old, new, changes),
            Some(high) => move_record(high, Some(&mut low), old, new, changes),
        };
        let (before, after) = match moved {
            Ok(users) => users,
            Err(outcome) => return Ok(outcome),
        };
        if let Some(user) = before {
            self.unindex(&user, old);
        }
        if let Some(user) = after {
            self.index(&user, *new);
        }
        Ok(CommitOutcome::Applied(None))
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let mut shard = self.shard(key);
        let Some(record) = shard.sessions.remove(key) else {
            shard.moved.remove(key);
            return Ok(false);
        };
        self.inner.live.fetch_sub(1, Ordering::Relaxed);
        if let Some(user) = &record.meta.user {
            self.unindex(user, key);
        }
        Ok(!record.meta.is_expired(self.inner.clock.now()))
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<usize, StoreError> {
        Ok(self.purge_all(now).await)
    }

    async fn list_user(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError> {
        Ok(self.sessions_of(user, now))
    }

    async fn delete_user(&self, user: &str) -> Result<usize, StoreError> {
        Ok(self.delete_sessions_of(user))
    }

    async fn count(&self, now: SystemTime) -> Result<usize, StoreError> {
        Ok(self
            .inner
            .shards
            .iter()
            .map(|shard| {
                lock(shard)
                    .sessions
                    .values()
                    .filter(|r| !r.meta.is_expired(now))
                    .count()
            })
            .sum())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// Moves the live record at `old` to `new` (in `to`, or in `from` when `None`),
/// applying `changes`, and leaves a moved marker at `old`. Returns its user binding
/// before and after, or what stopped it: `old` gone, moved or not admitting the
/// change set, or `new` taken.
fn move_record(
    from: &mut Shard,
    to: Option<&mut Shard>,
    old: &StoreKey,
    new: &StoreKey,
    changes: &ChangeSet,
) -> Result<(Option<String>, Option<String>), CommitOutcome> {
    let refused = match from.sessions.get(old) {
        Some(record) if record.meta.is_expired(changes.now) => Some(CommitOutcome::Gone),
        Some(record) if !record.admits(changes) => Some(CommitOutcome::Conflict),
        Some(_) => None,
        None => Some(CommitOutcome::Gone),
    };
    match refused {
        Some(CommitOutcome::Gone) if from.is_moved(old, changes.now) => return Err(CommitOutcome::Moved),
        Some(outcome) => return Err(outcome),
        None => {}
    }
    let taken = match &to {
        Some(to) => to.sessions.contains_key(new) || to.moved.contains_key(new),
        None => from.sessions.contains_key(new) || from.moved.contains_key(new),
    };
    if taken {
        return Err(CommitOutcome::Conflict);
    }
    let mut record = from.sessions.remove(old).ok_or(CommitOutcome::Gone)?;
    from.moved.insert(*old, to_millis(changes.now + MOVED_MARKER_TTL));
    let before = record.meta.user.clone();
    record.apply(changes);
    let after = record.meta.user.clone();
    to.unwrap_or(from).sessions.insert(*new, record);
    Ok((before, after))
}
