//! The in-memory store: sharded, self-purging, optionally capped.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{
    ChangeSet, CommitOutcome, FreshSession, SessionMeta, SessionRecord, SessionStore, StoreError, Touch, UserChange,
    UserSession,
};
use crate::clock::{Clock, SystemClock};
use crate::id::StoreKey;

/// Lock order: a shard lock may be held while the user index is locked, never the
/// other way round; index updates happen under the shard lock of the record they
/// describe, so "log out everywhere" cannot miss a binding that was already made.
///
/// Number of shards; a power of two. Requests on different sessions rarely share a
/// lock, and one purge slice covers 1/128 of the sessions.
const SHARDS: usize = 128;

/// Most expired sessions a purge removes under one hold of a shard's lock.
const PURGE_BATCH: usize = 256;

/// How many passes "log out everywhere" makes over a user's index at most.
const MAX_LOGOUT_PASSES: usize = 8;

/// Default time between two purges of expired sessions.
pub const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(60);

type Shard = HashMap<StoreKey, Stored, BuildHasherDefault<KeyHasher>>;

/// A session as the memory store keeps it: like a [`SessionRecord`], but with its
/// keys in an exactly sized vector instead of a hash map (a small session's map
/// costs more than its data), turned into a record when loaded.
struct Stored {
    data: Vec<(String, String)>,
    meta: StoredMeta,
}

/// [`SessionMeta`] in whole milliseconds since the epoch (the precision every store
/// keeps): half the size of four `SystemTime`s.
struct StoredMeta {
    created: u64,
    seen: u64,
    idle: u64,
    absolute: u64,
    user: Option<String>,
}

fn ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl StoredMeta {
    fn from_meta(meta: &SessionMeta) -> Self {
        Self {
            created: ms(meta.created_at),
            seen: ms(meta.last_seen),
            idle: ms(meta.idle_deadline),
            absolute: ms(meta.absolute_deadline),
            user: meta.user.clone(),
        }
    }

    fn to_meta(&self) -> SessionMeta {
        SessionMeta {
            created_at: time(self.created),
            last_seen: time(self.seen),
            idle_deadline: time(self.idle),
            absolute_deadline: time(self.absolute),
            user: self.user.clone(),
        }
    }

    fn created_at(&self) -> SystemTime {
        time(self.created)
    }

    fn expires_at(&self) -> SystemTime {
        time(self.idle.min(self.absolute))
    }

    fn is_expired(&self, now: SystemTime) -> bool {
        ms(now) >= self.idle.min(self.absolute)
    }

    /// [`SessionMeta::apply_touch`], in milliseconds.
    fn apply_touch(&mut self, touch: &Touch) -> bool {
        let (now, wanted) = (ms(touch.now), ms(touch.idle_deadline));
        let step = if wanted >= self.idle {
            wanted - self.idle
        } else {
            let asked = wanted.saturating_sub(now);
            let unused = now.saturating_sub(self.seen);
            if unused >= asked {
                return false;
            }
            self.idle - wanted
        };
        let min_step = u64::try_from(touch.min_step.as_millis()).unwrap_or(u64::MAX);
        let due = step != 0 && step >= min_step;
        if due {
            self.idle = wanted;
            self.seen = now;
        }
        due
    }
}

impl Stored {
    fn from_record(record: &SessionRecord) -> Self {
        let mut data = Vec::with_capacity(record.data.len());
        data.extend(record.data.iter().map(|(k, v)| (k.clone(), v.clone())));
        Self {
            data,
            meta: StoredMeta::from_meta(&record.meta),
        }
    }

    fn to_record(&self) -> SessionRecord {
        SessionRecord {
            data: self.data.iter().cloned().collect(),
            meta: self.meta.to_meta(),
        }
    }

    /// Applies a change set as [`SessionRecord::apply`] does; returns whether the
    /// idle deadline moved.
    fn apply(&mut self, changes: &ChangeSet) -> bool {
        if changes.clear {
            self.data.clear();
        }
        if !changes.remove.is_empty() {
            self.data.retain(|(key, _)| !changes.remove.contains(key));
        }
        for (key, value) in &changes.set {
            match self.data.iter_mut().find(|(k, _)| k == key) {
                Some((_, stored)) => value.clone_into(stored),
                None => {
                    self.data.reserve_exact(1);
                    self.data.push((key.clone(), value.clone()));
                }
            }
        }
        match &changes.user {
            Some(UserChange::Bind(user)) => self.meta.user = Some(user.clone()),
            Some(UserChange::Unbind) => self.meta.user = None,
            None => {}
        }
        match changes.idle_deadline {
            Some(deadline) if changes.slides(time(self.meta.idle)) => {
                self.meta.idle = ms(deadline);
                self.meta.seen = ms(changes.now);
                true
            }
            _ => false,
        }
    }
}

/// Store keys are SHA-256 digests, already uniform: hash by taking 8 of their bytes.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `StoreKey` hashes as its 32-byte array (a length prefix, then the bytes).
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _len: usize) {}
}

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
/// use cloakroom::{ManualClock, MemoryStore};
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
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let meta = SessionMeta::new(SystemTime::now(), Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&SessionId::generate().store_key(), &SessionRecord::new(meta)).await?;
    /// assert_eq!(store.len(), 1);
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub fn len(&self) -> usize {
        self.inner.live.load(Ordering::Relaxed)
    }

    /// True when the store holds no session.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key) = (MemoryStore::new(), SessionId::generate().store_key());
    /// let meta = SessionMeta::new(SystemTime::now(), Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// assert!(!store.is_empty());
    /// store.delete(&key).await?;
    /// assert!(store.is_empty());
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &StoreKey) -> MutexGuard<'_, Shard> {
        lock(&self.inner.shards[shard_index(key)])
    }

    /// Starts the purge task on first use, if there is a runtime to run it on.
    fn ensure_purger(&self) {
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

    /// Removes `key` from `user`'s index entry.
    fn unindex(&self, user: &str, key: &StoreKey) {
        let mut users = lock(&self.inner.users);
        if let Some(keys) = users.get_mut(user) {
            keys.remove(key);
            if keys.is_empty() {
                users.remove(user);
            }
        }
    }

    fn index(&self, user: &str, key: StoreKey) {
        lock(&self.inner.users).entry(user.to_owned()).or_default().insert(key);
    }

    /// Keeps the per-user index in step with a binding that went from `before` to
    /// `after` for `key`.
    fn reindex(&self, key: &StoreKey, before: Option<&str>, after: Option<&str>) {
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

    /// Deletes the expired sessions of one shard; returns how many went. The
    /// shard's lock is held for a scan, then for at most [`PURGE_BATCH`] removals
    /// at a time; records are freed outside the lock and the task yields between
    /// batches, so requests on the same thread keep being served.
    async fn purge_shard(&self, index: usize, now: SystemTime) -> usize {
        let dead: Vec<StoreKey> = lock(&self.inner.shards[index])
            .iter()
            .filter(|(_, record)| record.meta.is_expired(now))
            .map(|(key, _)| *key)
            .collect();
        let mut purged = 0;
        for batch in dead.chunks(PURGE_BATCH) {
            let removed: Vec<Stored> = {
                let mut shard = lock(&self.inner.shards[index]);
                let mut removed = Vec::with_capacity(batch.len());
                for key in batch {
                    if shard.get(key).is_some_and(|r| r.meta.is_expired(now)) {
                        let record = shard.remove(key).expect("checked above");
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
            if shard.len() < shard.capacity() / 4 {
                shard.shrink_to_fit();
            }
        }
        purged
    }

    /// Applies a change set to a live session; returns `None` (changing nothing)
    /// when it is absent or dead, else its expiry afterwards if the idle deadline
    /// moved.
    fn apply_commit(&self, key: &StoreKey, changes: &ChangeSet) -> Option<Option<SystemTime>> {
        let mut shard = self.shard(key);
        let record = shard.get_mut(key)?;
        if record.meta.is_expired(changes.now) {
            if let Some(user) = self.drop_expired(&mut shard, key) {
                self.unindex(&user, key);
            }
            return None;
        }
        let before = changes.user.is_some().then(|| record.meta.user.clone());
        let slid = record.apply(changes);
        let expiry = slid.then(|| record.meta.expires_at());
        if let Some(before) = before {
            let after = record.meta.user.clone();
            self.reindex(key, before.as_deref(), after.as_deref());
        }
        Some(expiry)
    }

    /// Removes a record found expired under the shard lock; returns its user.
    fn drop_expired(&self, shard: &mut Shard, key: &StoreKey) -> Option<String> {
        let record = shard.remove(key)?;
        self.inner.live.fetch_sub(1, Ordering::Relaxed);
        record.meta.user
    }

    fn reserve_slot(&self) -> Result<(), StoreError> {
        let before = self.inner.live.fetch_add(1, Ordering::AcqRel);
        if let Some(limit) = self.inner.max_sessions {
            if before >= limit {
                self.inner.live.fetch_sub(1, Ordering::AcqRel);
                return Err(StoreError::Full { limit });
            }
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
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore, StoreError};
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
    /// use cloakroom::{ManualClock, MemoryStore, SessionLayer};
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
            store.purge_shard(index, now).await;
            drop(store);
            tokio::task::yield_now().await;
        }
    }
}

fn shard_index(key: &StoreKey) -> usize {
    key.0[31] as usize % SHARDS
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
        Ok(self.apply_commit(key, changes).is_some())
    }

    async fn commit_or_create(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        fresh: &FreshSession,
    ) -> Result<CommitOutcome, StoreError> {
        if let Some(expiry) = self.apply_commit(key, changes) {
            return Ok(CommitOutcome::Applied(expiry));
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
        let mut total = 0;
        for index in 0..SHARDS {
            total += self.purge_shard(index, now).await;
            tokio::task::yield_now().await;
        }
        Ok(total)
    }

    async fn list_user(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError> {
        let keys: Vec<StoreKey> = match lock(&self.inner.users).get(user) {
            Some(keys) => keys.iter().copied().collect(),
            None => return Ok(Vec::new()),
        };
        let mut sessions = Vec::with_capacity(keys.len());
        for key in keys {
            let shard = self.shard(&key);
            match shard.get(&key) {
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
        Ok(sessions)
    }

    async fn delete_user(&self, user: &str) -> Result<usize, StoreError> {
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
                match shard.get(&key) {
                    Some(r) if r.meta.user.as_deref() == Some(user) => {
                        if r.meta.created_at() > started {
                            continue; // a sign-in after the logout began
                        }
                        let record = shard.remove(&key).expect("checked above");
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
        Ok(deleted)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SessionMeta;

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
        let clock = crate::ManualClock::new();
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
