//! The store trait, the records and change sets it works with, and its errors.
//!
//! A store never sees a session ID: every method takes the [`StoreKey`] (SHA-256 of
//! the ID). Writes are change sets applied per key and atomically, never whole
//! records, so concurrent requests on one session keep each other's writes; and a
//! commit only ever updates a session that still exists, so a destroyed, expired or
//! revoked session stays gone.

mod memory;
mod record;
#[cfg(feature = "redis")]
mod redis_store;
mod simple;

pub use memory::{MemoryStore, MemoryStoreBuilder};
pub use record::{ChangeSet, CommitOutcome, FreshSession, SessionMeta, SessionRecord, Touch, UserChange, UserSession};
#[cfg(feature = "redis")]
pub use redis_store::{RedisStore, RedisStoreBuilder};
pub use simple::{SimpleStore, SimpleStoreAdapter};

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;

use crate::id::StoreKey;

/// Why a store could not do what it was asked.
///
/// The layer answers every store error with a 503 and logs the cause; it never
/// pretends the session was empty.
///
/// ```
/// use cloakroom::StoreError;
///
/// let err = StoreError::unavailable(std::io::Error::other("connection refused"));
/// assert_eq!(err.to_string(), "session store unavailable: connection refused");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or failed to answer in time.
    #[error("session store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store refuses new sessions because it holds as many as it may.
    #[error("session store is full: it holds its limit of {limit} sessions")]
    Full {
        /// The configured limit.
        limit: usize,
    },
    /// The backend returned something that is not a session record.
    #[error("session store returned corrupt data: {0}")]
    Corrupt(String),
    /// The store does not implement this operation.
    #[error("session store does not support {0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Wraps a backend error as [`StoreError::Unavailable`].
    ///
    /// ```
    /// use cloakroom::StoreError;
    ///
    /// let err = StoreError::unavailable("timed out after 2 s");
    /// assert!(matches!(err, StoreError::Unavailable(_)));
    /// ```
    pub fn unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(source.into())
    }
}

/// A place to keep sessions, shaped around change sets.
///
/// Every method must be atomic on its own: a store backed by a server does each in
/// one round trip where it can (a script, a single statement or a transaction).
/// The [`conformance`](crate::conformance) suite (cargo feature `conformance`) checks
/// an implementation against every rule below; run it on yours.
///
/// Expiry: a record whose [`SessionMeta::expires_at`] is not after the time of a
/// call (the `now` of the touch or change set) is gone for that call: `load`
/// returns `None`, `commit` returns `false`, and the store may delete it.
///
/// ```
/// use cloakroom::{MemoryStore, SessionStore, SessionId, Touch};
/// use std::time::{Duration, SystemTime};
///
/// # tokio_test_block(async {
/// let store = MemoryStore::new();
/// let key = SessionId::generate().store_key();
/// let now = SystemTime::now();
/// let touch = Touch::new(now, now + Duration::from_secs(60));
/// assert!(store.load(&key, &touch).await.unwrap().is_none());
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// Reads a live session and, in the same atomic step, moves its idle deadline
    /// to `touch.idle_deadline` (and `last_seen` to `touch.now`) when that moves it
    /// by at least `touch.min_step`, forward or back ([`SessionMeta::apply_touch`]).
    /// Returns the record as it is after the touch, or `None` if absent or expired.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore, Touch};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// let later = now + Duration::from_secs(10);
    /// let touch = Touch::new(later, later + Duration::from_secs(60));
    /// let record = store.load(&key, &touch).await?.expect("live");
    /// assert_eq!(record.meta.idle_deadline, touch.idle_deadline); // slid by 10 s
    /// assert!(store.load(&SessionId::generate().store_key(), &touch).await?.is_none());
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Option<SessionRecord>, StoreError>;

    /// Inserts a new session if no session has this key. Returns `false`, changing
    /// nothing, if one does.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// assert!(store.create(&key, &SessionRecord::new(meta.clone())).await?);
    /// assert!(!store.create(&key, &SessionRecord::new(meta)).await?); // taken: unchanged
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError>;

    /// Applies `changes` to a live session, atomically. Keys the change set does not
    /// name are left as the store has them. Returns `false`, changing nothing, if
    /// the session is absent or expired: a commit never recreates a session.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore, ChangeSet};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// let mut changes = ChangeSet::new(now);
    /// changes.set.push(("theme".into(), r#""dark""#.into()));
    /// assert!(store.commit(&key, &changes).await?);
    /// store.delete(&key).await?;
    /// assert!(!store.commit(&key, &changes).await?); // never brings a session back
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<bool, StoreError>;

    /// Applies `changes` to the session at `key` if it is live; otherwise inserts
    /// `fresh` (its [`record`](FreshSession::record) of `changes`, under its
    /// [`key`](FreshSession::key), insert-if-absent). Used by the write-only handle,
    /// which does not load the session first.
    ///
    /// The default commits, then creates when the session was gone: one call in the
    /// usual case. A store can override it to report the expiry when the commit slid
    /// the idle deadline ([`CommitOutcome::Applied`]), or to do both steps in one
    /// round trip (asking for `fresh.key()` up front draws the ID every time).
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{ChangeSet, CommitOutcome, FreshSession, MemoryStore, SessionId, SessionMeta, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
    /// // The request's session (`key`) is gone: the fresh record is inserted instead.
    /// let fresh = FreshSession::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
    /// let outcome = store.commit_or_create(&key, &ChangeSet::new(now), &fresh).await?;
    /// assert_eq!(outcome, CommitOutcome::Created);
    /// assert!(store.load(&fresh.key(), &cloakroom::Touch::new(now, now)).await?.is_some());
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn commit_or_create(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        fresh: &FreshSession,
    ) -> Result<CommitOutcome, StoreError> {
        if self.commit(key, changes).await? {
            return Ok(CommitOutcome::Applied(None));
        }
        fresh.insert_into(self, changes).await
    }

    /// Moves the live session at `old` to `new`, applying `changes` on the way, in
    /// one atomic step; `old` no longer exists afterwards. `new` is the store key of
    /// an ID drawn by [`successor_id`](Self::successor_id) for `old`. Returns `false`, changing
    /// nothing, if `old` is absent or expired or `new` already exists.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore, ChangeSet, Touch};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// let new = store.successor_id(&key).store_key();
    /// assert!(store.regenerate(&key, &new, &ChangeSet::new(now)).await?);
    /// let touch = Touch::new(now, now + Duration::from_secs(60));
    /// assert!(store.load(&key, &touch).await?.is_none());
    /// assert!(store.load(&new, &touch).await?.is_some());
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn regenerate(&self, old: &StoreKey, new: &StoreKey, changes: &ChangeSet) -> Result<bool, StoreError>;

    /// The ID to give a session regenerated from `old`. The default draws a new
    /// random ID; a store whose regenerate must keep both keys together (Redis
    /// Cluster: in one hash slot) may draw until the new key lands beside `old`.
    ///
    /// ```
    /// use cloakroom::{MemoryStore, SessionId, SessionStore};
    ///
    /// let old = SessionId::generate().store_key();
    /// let next = MemoryStore::new().successor_id(&old);
    /// assert_ne!(next.store_key(), old);
    /// ```
    fn successor_id(&self, old: &StoreKey) -> crate::SessionId {
        let _ = old;
        crate::SessionId::generate()
    }

    /// Deletes a session (and its entry in the per-user index). Returns whether
    /// there was a session to delete.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// assert!(store.delete(&key).await?);
    /// assert!(!store.delete(&key).await?);
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError>;

    /// Slides the idle deadline of a live session. Returns `false` if it is gone.
    ///
    /// The default is a commit of an empty change set.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore, Touch};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// let later = now + Duration::from_secs(30);
    /// assert!(store.touch(&key, &Touch::new(later, later + Duration::from_secs(60))).await?);
    /// store.delete(&key).await?;
    /// assert!(!store.touch(&key, &Touch::new(later, later + Duration::from_secs(60))).await?);
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn touch(&self, key: &StoreKey, touch: &Touch) -> Result<bool, StoreError> {
        self.commit(key, &ChangeSet::touch_only(touch)).await
    }

    /// Deletes every session expired at `now`; returns how many went.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// assert_eq!(store.purge_expired(now).await?, 0);
    /// assert_eq!(store.purge_expired(now + Duration::from_secs(61)).await?, 1);
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn purge_expired(&self, now: SystemTime) -> Result<usize, StoreError>;

    /// The live sessions bound to `user`, in no particular order.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// let mut record = SessionRecord::new(meta);
    /// record.meta.user = Some("alice".into());
    /// store.create(&key, &record).await?;
    /// let sessions = store.list_user("alice", now).await?;
    /// assert_eq!(sessions.len(), 1);
    /// assert_eq!(sessions[0].key, key);
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn list_user(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError>;

    /// Deletes every session bound to `user`; returns how many went.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// let mut record = SessionRecord::new(meta);
    /// record.meta.user = Some("alice".into());
    /// store.create(&key, &record).await?;
    /// assert_eq!(store.delete_user("alice").await?, 1);
    /// assert!(store.list_user("alice", now).await?.is_empty());
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn delete_user(&self, user: &str) -> Result<usize, StoreError>;

    /// The number of live sessions at `now`.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// assert_eq!(store.count(now).await?, 1);
    /// assert_eq!(store.count(now + Duration::from_secs(61)).await?, 0); // idle deadline passed
    /// # Ok::<(), cloakroom::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn count(&self, now: SystemTime) -> Result<usize, StoreError>;

    /// Checks that the backend answers. The default says yes.
    ///
    /// ```
    /// use cloakroom::{MemoryStore, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// assert!(MemoryStore::new().ping().await.is_ok());
    /// # });
    /// ```
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
