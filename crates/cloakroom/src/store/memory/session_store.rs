//! `SessionStore` for the memory store: each call under the lock of its shard.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use async_trait::async_trait;

use super::stored::{Shard, Stored};
use super::{MemoryStore, lock, shard_index};
use crate::id::StoreKey;
use crate::store::{
    Applied, ChangeSet, CommitOutcome, FreshSession, SessionRecord, SessionStore, StoreError, Touch, UserSession,
};

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Option<SessionRecord>, StoreError> {
        self.ensure_purger();
        let mut shard = self.shard(key);
        let Some(record) = shard.get_mut(key) else {
            return Ok(None);
        };
        if record.meta.is_expired(touch.now) {
            if let Some(user) = self.drop_expired(&mut shard, key) {
                self.unindex(&user, key);
            }
            return Ok(None);
        }
        record.meta.apply_touch(touch);
        Ok(Some(record.to_record()))
    }

    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        self.ensure_purger();
        let mut shard = self.shard(key);
        let expired_user = match shard.get(key) {
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
        shard.insert(*key, Stored::from_record(record));
        if let Some(user) = expired_user {
            self.unindex(&user, key);
        }
        if let Some(user) = &record.meta.user {
            self.index(user, *key);
        }
        Ok(true)
    }

    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<bool, StoreError> {
        Ok(self.apply_commit(key, changes).is_live())
    }

    async fn commit_or_create(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        fresh: &FreshSession,
    ) -> Result<CommitOutcome, StoreError> {
        if let Applied::Live { slid_to } = self.apply_commit(key, changes) {
            return Ok(CommitOutcome::Applied(slid_to));
        }
        fresh.insert_into(self, changes).await
    }

    async fn regenerate(&self, old: &StoreKey, new: &StoreKey, changes: &ChangeSet) -> Result<bool, StoreError> {
        let (a, b) = (shard_index(old), shard_index(new));
        // Lock both shards in index order so two regenerations cannot deadlock.
        let mut low = lock(&self.inner.shards[a.min(b)]);
        let mut high = (a != b).then(|| lock(&self.inner.shards[a.max(b)]));
        let moved = match &mut high {
            None => move_record(&mut low, None, old, new, changes),
            Some(high) if a < b => move_record(&mut low, Some(high), old, new, changes),
            Some(high) => move_record(high, Some(&mut low), old, new, changes),
        };
        let Some((before, after)) = moved else {
            return Ok(false);
        };
        if let Some(user) = before {
            self.unindex(&user, old);
        }
        if let Some(user) = after {
            self.index(&user, *new);
        }
        Ok(true)
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let mut shard = self.shard(key);
        let Some(record) = shard.remove(key) else {
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
            .map(|shard| lock(shard).values().filter(|r| !r.meta.is_expired(now)).count())
            .sum())
    }
}

/// Moves the live record at `old` to `new` (in `to`, or in `from` when `None`),
/// applying `changes`. Returns its user binding before and after, or `None` when
/// `old` is not live or `new` is taken.
fn move_record(
    from: &mut Shard,
    to: Option<&mut Shard>,
    old: &StoreKey,
    new: &StoreKey,
    changes: &ChangeSet,
) -> Option<(Option<String>, Option<String>)> {
    if from.get(old).is_none_or(|r| r.meta.is_expired(changes.now)) {
        return None;
    }
    let taken = match &to {
        Some(to) => to.contains_key(new),
        None => from.contains_key(new),
    };
    if taken {
        return None;
    }
    let mut record = from.remove(old)?;
    let before = record.meta.user.clone();
    record.apply(changes);
    let after = record.meta.user.clone();
    to.unwrap_or(from).insert(*new, record);
    Some((before, after))
}
