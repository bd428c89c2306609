//! The per-user index: which sessions each user has, kept in step with bindings.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::{MemoryStore, lock};
use crate::id::StoreKey;
use crate::store::{MAX_LOGOUT_PASSES, UserSession};

impl MemoryStore {
    /// Removes `key` from `user`'s index entry.
    pub(super) fn unindex(&self, user: &str, key: &StoreKey) {
        let mut users = lock(&self.inner.users);
        if let Some(keys) = users.get_mut(user) {
            keys.remove(key);
            if keys.is_empty() {
                users.remove(user);
            }
        }
    }

    pub(super) fn index(&self, user: &str, key: StoreKey) {
        lock(&self.inner.users).entry(user.to_owned()).or_default().insert(key);
    }

    /// Keeps the per-user index in step with a binding that went from `before` to
    /// `after` for `key`.
    pub(super) fn reindex(&self, key: &StoreKey, before: Option<&str>, after: Option<&str>) {
        if before == after {
            return;
        }
        if let Some(user) = before {
            self.unindex(user, key);
        }
        if let Some(user) = after {
            self.index(user, *key);
        }
    }

    /// The live sessions bound to `user`, pruning dead or rebound index entries.
    pub(super) fn sessions_of(&self, user: &str, now: SystemTime) -> Vec<UserSession> {
        let keys: Vec<StoreKey> = match lock(&self.inner.users).get(user) {
            Some(keys) => keys.iter().copied().collect(),
            None => return Vec::new(),
        };
        let mut sessions = Vec::with_capacity(keys.len());
        for key in keys {
            let shard = self.shard(&key);
            match shard.sessions.get(&key) {
                Some(record) if !record.meta.is_expired(now) && record.meta.user.as_deref() == Some(user) => {
                    sessions.push(UserSession {
                        key,
                        meta: record.meta.to_meta(),
                    });
                }
                // Dead or rebound: prune the index entry as we go.
                _ => self.unindex(user, &key),
            }
        }
        sessions
    }

    /// Deletes every session bound to `user` that existed when the call began;
    /// returns how many of them were live.
    pub(super) fn delete_sessions_of(&self, user: &str) -> usize {
        let started = self.inner.clock.now();
        let mut deleted = 0;
        // A session regenerated meanwhile is re-filed under its new key: go round
        // until a pass finds nothing that existed when we started.
        for _ in 0..MAX_LOGOUT_PASSES {
            let keys: Vec<StoreKey> = match lock(&self.inner.users).get(user) {
                Some(keys) => keys.iter().copied().collect(),
                None => break,
            };
            let mut progressed = false;
            for key in keys {
                let mut shard = self.shard(&key);
                match shard.sessions.get(&key) {
                    Some(r) if r.meta.user.as_deref() == Some(user) => {
                        if r.meta.created_at() > started {
                            continue; // a sign-in after the logout began
                        }
                        let record = shard.sessions.remove(&key).expect("checked above");
                        self.inner.live.fetch_sub(1, Ordering::Relaxed);
                        self.unindex(user, &key);
                        deleted += usize::from(!record.meta.is_expired(started));
                        progressed = true;
                    }
                    _ => self.unindex(user, &key),
                }
            }
            if !progressed {
                break;
            }
        }
        deleted
    }
}
