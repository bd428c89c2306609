//! The in-memory store: sharded, self-purging, optionally capped.
//!
//! Lock order: a shard lock may be held while the user index is locked, never the
//! other way round; index updates happen under the shard lock of the record they
//! describe, so "log out everywhere" cannot miss a binding that was already made.

mod purge;
mod session_store;
mod stored;
mod users;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use self::stored::Shard;
use super::{ChangeSet, CommitOutcome, DEFAULT_PURGE_INTERVAL, StoreError};
use crate::clock::{Clock, SystemClock};
use crate::id::StoreKey;

/// Number of shards; a power of two. Requests on different sessions rarely share a
/// lock, and one purge slice covers 1/128 of the sessions.
const SHARDS: usize = 128;

/// Sessions in this process's memory: the default store.
///
/// - Sharded: requests on different sessions almost never wait on each other.
/// - Self-purging: a background task deletes expired sessions every 60 s (see
///   [`MemoryStoreBuilder::purge_interval`]), one shard at a time, so no request
///   waits on a full sweep. The task starts on first use inside a tokio runtime and
///   stops when the last clone of the store is dropped.
/// - Optionally capped ([`MemoryStoreBuilder::max_sessions`]): past the cap, new
///   sessions are refused with [`StoreError::Full`] (the layer answers 503).
///
/// Sessions live as long as the process: use a server-backed store when several
/// processes serve the same users or when a restart must keep people signed in.
///
/// ```
/// use cloakroom::{MemoryStore, SessionLayer};
///
/// let store = MemoryStore::builder().max_sessions(1_000_000).build();
/// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec())
///     .store(store)
///     .build()
///     .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

/// Options of a [`MemoryStore`].
///
/// ```
/// use std::time::Duration;
/// use cloakroom::MemoryStore;
/// use cloakroom::clock::ManualClock;
///
/// let clock = ManualClock::new();
/// let store = MemoryStore::builder()
///     .purge_interval(Duration::from_secs(10))
///     .max_sessions(100_000)
///     .clock(clock.clone())
///     .build();
/// assert!(store.is_empty());
/// ```
#[derive(Debug)]
pub struct MemoryStoreBuilder {
    purge_interval: Duration,
    max_sessions: Option<usize>,
    clock: Arc<dyn Clock>,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    users: Mutex<HashMap<String, HashSet<StoreKey>>>,
    live: AtomicUsize,
    max_sessions: Option<usize>,
    purge_interval: Duration,
    clock: Arc<dyn Clock>,
    purger_started: AtomicBool,
    shutdown: Arc<Notify>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.live.load(Ordering::Relaxed))
            .field("max_sessions", &self.max_sessions)
            .field("purge_interval", &self.purge_interval)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.notify_one();
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with the default options: purge every 60 s, no cap.
    ///
    /// ```
    /// use cloakroom::MemoryStore;
    ///
    /// let store = MemoryStore::new();
    /// assert_eq!(store.len(), 0);
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts a store with non-default options.
    ///
    /// ```
    /// use cloakroom::MemoryStore;
    ///
    /// let store = MemoryStore::builder().max_sessions(1_000).build();
    /// assert!(store.is_empty());
    /// ```
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            purge_interval: DEFAULT_PURGE_INTERVAL,
            max_sessions: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The number of sessions held, expired ones not yet purged included.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let meta = SessionMeta::new(SystemTime::now(), Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&SessionId::generate().store_key(), &SessionRecord::new(meta)).await?;
    /// assert_eq!(store.len(), 1);
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub fn len(&self) -> usize {
        self.inner.live.load(Ordering::Relaxed)
    }

    /// True when the store holds no session.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key) = (MemoryStore::new(), SessionId::generate().store_key());
    /// let meta = SessionMeta::new(SystemTime::now(), Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// assert!(!store.is_empty());
    /// store.delete(&key).await?;
    /// assert!(store.is_empty());
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &StoreKey) -> MutexGuard<'_, Shard> {
        lock(&self.inner.shards[shard_index(key)])
    }

    /// Applies a change set to a live session that admits it; changes nothing
    /// otherwise.
    fn apply_commit(&self, key: &StoreKey, changes: &ChangeSet) -> CommitOutcome {
        let mut shard = self.shard(key);
        let Some(record) = shard.sessions.get_mut(key) else {
            return if shard.is_moved(key, changes.now) {
                CommitOutcome::Moved
            } else {
                CommitOutcome::Gone
            };
        };
        if record.meta.is_expired(changes.now) {
            if let Some(user) = self.drop_expired(&mut shard, key) {
                self.unindex(&user, key);
            }
            return CommitOutcome::Gone;
        }
        if !record.admits(changes) {
            return CommitOutcome::Conflict;
        }
        let before = changes.user.is_some().then(|| record.meta.user.clone());
        let slid = record.apply(changes);
        let slid_to = slid.then(|| record.meta.expires_at());
        if let Some(before) = before {
            let after = record.meta.user.clone();
            self.reindex(key, before.as_deref(), after.as_deref());
        }
        CommitOutcome::Applied(slid_to)
    }

    /// Removes a record found expired under the shard lock; returns its user.
    fn drop_expired(&self, shard: &mut Shard, key: &StoreKey) -> Option<String> {
        let record = shard.sessions.remove(key)?;
        self.inner.live.fetch_sub(1, Ordering::Relaxed);
        record.meta.user
    }

    fn reserve_slot(&self) -> Result<(), StoreError> {
        let before = self.inner.live.fetch_add(1, Ordering::AcqRel);
        if let Some(limit) = self.inner.max_sessions
            && before >= limit
        {
            self.inner.live.fetch_sub(1, Ordering::AcqRel);
            return Err(StoreError::Full { limit });
        }
        Ok(())
    }
}

impl MemoryStoreBuilder {
    /// Time between two purges of expired sessions (default 60 s; values below
    /// 1 ms are raised to 1 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cloakroom::MemoryStore;
    ///
    /// // Many short-lived sessions: give memory back sooner.
    /// let store = MemoryStore::builder().purge_interval(Duration::from_secs(5)).build();
    /// assert!(format!("{store:?}").contains("purge_interval: 5s"));
    /// ```
    pub fn purge_interval(mut self, every: Duration) -> Self {
        self.purge_interval = every.max(Duration::from_millis(1));
        self
    }

    /// Refuse new sessions once this many are held (default: no cap).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore, StoreError};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = MemoryStore::builder().max_sessions(1).build();
    /// let meta = SessionMeta::new(SystemTime::now(), Duration::from_secs(60), Duration::from_secs(600));
    /// let record = SessionRecord::new(meta);
    /// assert!(store.create(&SessionId::generate().store_key(), &record).await.is_ok());
    /// let full = store.create(&SessionId::generate().store_key(), &record).await;
    /// assert!(matches!(full, Err(StoreError::Full { limit: 1 })));
    /// # });
    /// ```
    pub fn max_sessions(mut self, limit: usize) -> Self {
        self.max_sessions = Some(limit);
        self
    }

    /// The clock the purge task reads (default: the system clock). Give it the
    /// same clock as the layer when tests move time by hand.
    ///
    /// ```
    /// use cloakroom::{MemoryStore, SessionLayer};
    /// use cloakroom::clock::ManualClock;
    ///
    /// let clock = ManualClock::new();
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec())
    ///     .store(MemoryStore::builder().clock(clock.clone()).build())
    ///     .clock(clock.clone())
    ///     .build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the store.
    ///
    /// ```
    /// use cloakroom::MemoryStore;
    ///
    /// let store = MemoryStore::builder().build(); // same as MemoryStore::new()
    /// assert!(store.is_empty());
    /// ```
    pub fn build(self) -> MemoryStore {
        MemoryStore {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
                users: Mutex::new(HashMap::new()),
                live: AtomicUsize::new(0),
                max_sessions: self.max_sessions,
                purge_interval: self.purge_interval,
                clock: self.clock,
                purger_started: AtomicBool::new(false),
                shutdown: Arc::new(Notify::new()),
            }),
        }
    }
}

fn shard_index(key: &StoreKey) -> usize {
    key.0[31] as usize % SHARDS
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::clock::Clock;
    use crate::store::{SessionMeta, SessionRecord, SessionStore};

    fn record(now: SystemTime, idle: u64) -> SessionRecord {
        SessionRecord::new(SessionMeta::new(
            now,
            Duration::from_secs(idle),
            Duration::from_secs(3600),
        ))
    }

    fn key() -> StoreKey {
        crate::SessionId::generate().store_key()
    }

    #[tokio::test]
    async fn a_capped_store_refuses_new_sessions_with_a_clear_error() {
        let store = MemoryStore::builder().max_sessions(2).build();
        let now = SystemTime::now();
        assert!(store.create(&key(), &record(now, 60)).await.unwrap());
        assert!(store.create(&key(), &record(now, 60)).await.unwrap());
        let err = store.create(&key(), &record(now, 60)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "session store is full: it holds its limit of 2 sessions"
        );
        assert_eq!(store.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_purge_task_deletes_expired_sessions_by_itself() {
        let clock = crate::clock::ManualClock::new();
        let store = MemoryStore::builder()
            .purge_interval(Duration::from_secs(60))
            .clock(clock.clone())
            .build();
        let now = clock.now();
        store.create(&key(), &record(now, 10)).await.unwrap();
        store.create(&key(), &record(now, 1000)).await.unwrap();
        clock.advance(Duration::from_secs(11));
        tokio::time::sleep(Duration::from_secs(61)).await;
        for _ in 0..(SHARDS * 2) {
            tokio::task::yield_now().await;
        }
        assert_eq!(store.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_purge_task_stops_when_the_last_handle_is_dropped() {
        let store = MemoryStore::new();
        store.create(&key(), &record(SystemTime::now(), 10)).await.unwrap();
        let weak = Arc::downgrade(&store.inner);
        let shutdown = store.inner.shutdown.clone();
        drop(store);
        assert!(weak.upgrade().is_none());
        // The task was woken and has returned: its Notify is no longer awaited.
        tokio::task::yield_now().await;
        assert_eq!(Arc::strong_count(&shutdown), 1);
    }
}
