//! The background purge: one shard at a time, in bounded batches.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use super::stored::Stored;
use super::{Inner, MemoryStore, SHARDS, lock};
use crate::clock::to_millis;
use crate::id::StoreKey;

/// Most expired sessions a purge removes under one hold of a shard's lock.
const PURGE_BATCH: usize = 256;

impl MemoryStore {
    /// Starts the purge task on first use, if there is a runtime to run it on.
    pub(super) fn ensure_purger(&self) {
        if self.inner.purger_started.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.purger_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let shutdown = self.inner.shutdown.clone();
        let every = self.inner.purge_interval;
        runtime.spawn(purge_loop(weak, shutdown, every));
    }

    /// Deletes the expired sessions (and moved markers) of one shard; returns how
    /// many sessions went. The shard's lock is held for a scan, then for at most
    /// [`PURGE_BATCH`] removals at a time; records are freed outside the lock and the
    /// task yields between batches, so requests on the same thread keep being served.
    pub(super) async fn purge_shard(&self, index: usize, now: SystemTime) -> usize {
        let dead: Vec<StoreKey> = {
            let mut shard = lock(&self.inner.shards[index]);
            let now_ms = to_millis(now);
            shard.moved.retain(|_, until| *until > now_ms);
            shard
                .sessions
                .iter()
                .filter(|(_, record)| record.meta.is_expired(now))
                .map(|(key, _)| *key)
                .collect()
        };
        let mut purged = 0;
        for batch in dead.chunks(PURGE_BATCH) {
            let removed: Vec<Stored> = {
                let mut shard = lock(&self.inner.shards[index]);
                let mut removed = Vec::with_capacity(batch.len());
                for key in batch {
                    if shard.sessions.get(key).is_some_and(|r| r.meta.is_expired(now)) {
                        let record = shard.sessions.remove(key).expect("checked above");
                        if let Some(user) = &record.meta.user {
                            self.unindex(user, key);
                        }
                        removed.push(record);
                    }
                }
                removed
            };
            self.inner.live.fetch_sub(removed.len(), Ordering::Relaxed);
            purged += removed.len();
            drop(removed);
            tokio::task::yield_now().await;
        }
        if purged > 0 {
            let mut shard = lock(&self.inner.shards[index]);
            if shard.sessions.len() < shard.sessions.capacity() / 4 {
                shard.sessions.shrink_to_fit();
            }
        }
        purged
    }

    /// Deletes the expired sessions of every shard, yielding between shards.
    pub(super) async fn purge_all(&self, now: SystemTime) -> usize {
        let mut total = 0;
        for index in 0..SHARDS {
            total += self.purge_shard(index, now).await;
            tokio::task::yield_now().await;
        }
        total
    }
}

async fn purge_loop(weak: Weak<Inner>, shutdown: Arc<Notify>, every: Duration) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.notified() => return,
        }
        for index in 0..SHARDS {
            let Some(inner) = weak.upgrade() else { return };
            let store = MemoryStore { inner };
            let now = store.inner.clock.now();
            let _purged = store.purge_shard(index, now).await;
            #[cfg(feature = "metrics")]
            crate::store::metered::purged("memory", _purged);
            drop(store);
            tokio::task::yield_now().await;
        }
    }
}
