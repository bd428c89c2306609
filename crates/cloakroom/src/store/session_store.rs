//! The contract every store implements.

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{ChangeSet, CommitOutcome, FreshSession, Loaded, SessionRecord, StoreError, Touch, UserSession};
use crate::id::{SessionId, StoreKey};

/// A place to keep sessions, shaped around change sets.
///
/// Every method must be atomic on its own: a store backed by a server does each in
/// one round trip where it can (a script, a single statement or a transaction).
/// The [`conformance`](crate::conformance) suite (cargo feature `conformance`) checks
/// an implementation against every rule below; run it on yours.
///
/// Expiry: a record whose [`SessionMeta::expires_at`](super::SessionMeta::expires_at)
/// is not after the time of a call (the `now` of the touch or change set) is gone
/// for that call: `load` finds [`Loaded::Gone`], a write
/// [`CommitOutcome::Gone`], and the store may delete it.
///
/// Regenerate leaves a marker under the old key for [`MOVED_MARKER_TTL`](super::MOVED_MARKER_TTL),
/// holding nothing but the fact that the session moved: loads and writes on that
/// key answer `Moved`, so the layer can tell a stale ticket from a gone session.
///
/// ```
/// use cloakroom::{MemoryStore, SessionId};
/// use cloakroom::store::{SessionStore, Touch};
/// use std::time::{Duration, SystemTime};
///
/// # tokio_test_block(async {
/// let store = MemoryStore::new();
/// let key = SessionId::generate().store_key();
/// let now = SystemTime::now();
/// let touch = Touch::new(now, now + Duration::from_secs(60));
/// assert!(store.load(&key, &touch).await.unwrap().live().is_none());
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// Reads a live session and, in the same atomic step, moves its idle deadline
    /// to `touch.idle_deadline` (and `last_seen` to `touch.now`) when that moves it
    /// by at least `touch.min_step`, forward or back ([`SessionMeta::apply_touch`](super::SessionMeta::apply_touch)).
    /// Returns the record as it is after the touch, [`Loaded::Moved`] when a
    /// regenerate moved it away (within the marker's lifetime), else
    /// [`Loaded::Gone`].
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore, Touch};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// let later = now + Duration::from_secs(10);
    /// let touch = Touch::new(later, later + Duration::from_secs(60));
    /// let record = store.load(&key, &touch).await?.live().expect("live");
    /// assert_eq!(record.meta.idle_deadline, touch.idle_deadline); // slid by 10 s
    /// assert!(store.load(&SessionId::generate().store_key(), &touch).await?.live().is_none());
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError>;

    /// Inserts a new session if no session (nor a moved marker) has this key.
    /// Returns `false`, changing nothing, if one does.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// assert!(store.create(&key, &SessionRecord::new(meta.clone())).await?);
    /// assert!(!store.create(&key, &SessionRecord::new(meta)).await?); // taken: unchanged
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError>;

    /// Applies `changes` to a live session, atomically, if the session
    /// [admits](ChangeSet::admits) them. Keys the change set does not name are left
    /// as the store has them.
    ///
    /// Changing nothing, it answers [`CommitOutcome::Gone`] when the session is
    /// absent or expired (a commit never recreates a session),
    /// [`CommitOutcome::Moved`] when it was regenerated away, and
    /// [`CommitOutcome::Conflict`] when a key the change set expects no longer holds
    /// what it read, or a key to add to holds no integer. Otherwise
    /// [`CommitOutcome::Applied`], with the expiry when the idle deadline moved.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{ChangeSet, CommitOutcome, SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// let mut changes = ChangeSet::new(now);
    /// changes.set.push(("theme".into(), r#""dark""#.into()));
    /// assert_eq!(store.commit(&key, &changes).await?, CommitOutcome::Applied(None));
    /// store.delete(&key).await?;
    /// assert_eq!(store.commit(&key, &changes).await?, CommitOutcome::Gone); // never brings it back
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<CommitOutcome, StoreError>;

    /// Applies `changes` to the session at `key` if it is live; otherwise inserts
    /// `fresh` (its [`record`](FreshSession::record) of `changes`, under its
    /// [`key`](FreshSession::key), insert-if-absent). Used by the write-only handle,
    /// which does not load the session first.
    ///
    /// The default commits, then creates when the session was gone (`Created`, or
    /// `Conflict` should the fresh key be taken): one call in the usual case, whose
    /// [`CommitOutcome::Applied`] carries the expiry when the commit slid the idle
    /// deadline. A session that moved is not replaced: `Moved`. A store may
    /// override it to do both steps in one round trip (asking for `fresh.key()` up
    /// front draws the ID every time).
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{ChangeSet, CommitOutcome, FreshSession, SessionMeta, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
    /// // The request's session (`key`) is gone: the fresh record is inserted instead.
    /// let fresh = FreshSession::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
    /// let outcome = store.commit_or_create(&key, &ChangeSet::new(now), &fresh).await?;
    /// assert_eq!(outcome, CommitOutcome::Created);
    /// assert!(store.load(&fresh.key(), &cloakroom::store::Touch::new(now, now)).await?.live().is_some());
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn commit_or_create(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        fresh: &FreshSession,
    ) -> Result<CommitOutcome, StoreError> {
        match self.commit(key, changes).await? {
            CommitOutcome::Gone => fresh.insert_into(self, changes).await,
            outcome => Ok(outcome),
        }
    }

    /// Moves the live session at `old` to `new`, applying `changes` on the way, in
    /// one atomic step; `old` then holds only a moved marker for
    /// [`MOVED_MARKER_TTL`](super::MOVED_MARKER_TTL). `new` is the store key of an
    /// ID drawn by [`successor_id`](Self::successor_id) for `old`. The record keeps
    /// its creation time and absolute deadline.
    ///
    /// Changing nothing, it answers as [`commit`](Self::commit) does when `old` is
    /// gone, moved or does not admit `changes`, and `Conflict` when `new` is taken.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{ChangeSet, CommitOutcome, Loaded, SessionMeta, SessionRecord, SessionStore, Touch};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// let new = store.successor_id(&key).store_key();
    /// assert!(store.regenerate(&key, &new, &ChangeSet::new(now)).await?.is_written());
    /// let touch = Touch::new(now, now + Duration::from_secs(60));
    /// assert_eq!(store.load(&key, &touch).await?, Loaded::Moved);
    /// assert!(store.load(&new, &touch).await?.live().is_some());
    /// assert_eq!(store.commit(&key, &ChangeSet::new(now)).await?, CommitOutcome::Moved);
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn regenerate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError>;

    /// The ID to give a session regenerated from `old`. The default draws a new
    /// random ID; a store whose regenerate must keep both keys together (Redis
    /// Cluster: in one hash slot) may draw until the new key lands beside `old`.
    ///
    /// ```
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::SessionStore;
    ///
    /// let old = SessionId::generate().store_key();
    /// let next = MemoryStore::new().successor_id(&old);
    /// assert_ne!(next.store_key(), old);
    /// ```
    fn successor_id(&self, old: &StoreKey) -> SessionId {
        let _ = old;
        SessionId::generate()
    }

    /// Deletes a session (and its entry in the per-user index), or a moved marker.
    /// Returns whether there was a live session to delete.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// assert!(store.delete(&key).await?);
    /// assert!(!store.delete(&key).await?);
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError>;

    /// Deletes every session expired at `now`; returns how many went.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// assert_eq!(store.purge_expired(now).await?, 0);
    /// assert_eq!(store.purge_expired(now + Duration::from_secs(61)).await?, 1);
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn purge_expired(&self, now: SystemTime) -> Result<usize, StoreError>;

    /// The live sessions bound to `user`, in no particular order.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// let mut record = SessionRecord::new(meta);
    /// record.meta.user = Some("alice".into());
    /// store.create(&key, &record).await?;
    /// let sessions = store.list_user("alice", now).await?;
    /// assert_eq!(sessions.len(), 1);
    /// assert_eq!(sessions[0].key, key);
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn list_user(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError>;

    /// Deletes every session bound to `user`; returns how many went.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// let mut record = SessionRecord::new(meta);
    /// record.meta.user = Some("alice".into());
    /// store.create(&key, &record).await?;
    /// assert_eq!(store.delete_user("alice").await?, 1);
    /// assert!(store.list_user("alice", now).await?.is_empty());
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn delete_user(&self, user: &str) -> Result<usize, StoreError>;

    /// The number of live sessions at `now`.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use cloakroom::{MemoryStore, SessionId};
    /// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// store.create(&key, &SessionRecord::new(meta)).await?;
    /// assert_eq!(store.count(now).await?, 1);
    /// assert_eq!(store.count(now + Duration::from_secs(61)).await?, 0); // idle deadline passed
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn count(&self, now: SystemTime) -> Result<usize, StoreError>;

    /// Checks that the backend answers. The default says yes.
    ///
    /// ```
    /// use cloakroom::MemoryStore;
    /// use cloakroom::store::SessionStore;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// assert!(MemoryStore::new().ping().await.is_ok());
    /// # });
    /// ```
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// What kind of store this is, as the `store` label of the metrics (cargo
    /// feature `metrics`): `memory`, `redis`, `postgres`, `sqlite`, `simple` for
    /// the [`SimpleStoreAdapter`](super::SimpleStoreAdapter); the default is
    /// `custom`. A short constant: never a session ID, user or host.
    ///
    /// ```
    /// use cloakroom::MemoryStore;
    /// use cloakroom::store::SessionStore;
    ///
    /// assert_eq!(MemoryStore::new().kind(), "memory");
    /// ```
    fn kind(&self) -> &'static str {
        "custom"
    }
}
