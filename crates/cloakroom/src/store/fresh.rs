//! The fresh session a write-only commit starts when its own is gone.

use std::fmt;
use std::sync::OnceLock;

use super::{ChangeSet, CommitOutcome, SessionMeta, SessionRecord, SessionStore, StoreError};
use crate::id::{SessionId, StoreKey};

/// The session a write-only commit starts when the one it was meant for is gone.
///
/// Its ID is drawn the first time a store asks for its [`key`](Self::key), and its
/// record is built only when a store asks for it: a commit that finds its session
/// live (the usual case) costs no random draw, no hash and no record.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use cloakroom::store::{ChangeSet, FreshSession, SessionMeta};
///
/// let now = SystemTime::now();
/// let fresh = FreshSession::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
/// assert!(fresh.id().is_none());
/// let key = fresh.key(); // draws the ID
/// assert_eq!(fresh.id().map(|id| id.store_key()), Some(key));
/// assert_eq!(fresh.key(), key, "drawn once");
///
/// let mut changes = ChangeSet::new(now);
/// changes.set.push(("theme".into(), r#""dark""#.into()));
/// assert_eq!(fresh.record(&changes).data["theme"], r#""dark""#);
/// ```
pub struct FreshSession {
    meta: SessionMeta,
    drawn: OnceLock<(SessionId, StoreKey)>,
}

impl FreshSession {
    /// A fresh session with this metadata (usually [`SessionMeta::new`] at the
    /// commit's time) and no ID yet.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::store::{FreshSession, SessionMeta};
    ///
    /// let meta = SessionMeta::new(SystemTime::now(), Duration::from_secs(60), Duration::from_secs(600));
    /// assert_eq!(FreshSession::new(meta.clone()).meta(), &meta);
    /// ```
    pub fn new(meta: SessionMeta) -> Self {
        Self {
            meta,
            drawn: OnceLock::new(),
        }
    }

    /// The store key to insert the fresh session under; the first call draws its ID.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::store::{FreshSession, SessionMeta};
    ///
    /// let fresh = FreshSession::new(SessionMeta::new(SystemTime::now(), Duration::from_secs(60), Duration::from_secs(60)));
    /// assert_eq!(fresh.key(), fresh.key());
    /// ```
    pub fn key(&self) -> StoreKey {
        self.drawn
            .get_or_init(|| {
                let id = SessionId::generate();
                let key = id.store_key();
                (id, key)
            })
            .1
    }

    /// The record to insert: the fresh metadata with `changes` applied.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::store::{ChangeSet, FreshSession, SessionMeta, UserChange};
    ///
    /// let now = SystemTime::now();
    /// let fresh = FreshSession::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
    /// let mut changes = ChangeSet::new(now);
    /// changes.user = Some(UserChange::Bind("alice".into()));
    /// assert_eq!(fresh.record(&changes).meta.user.as_deref(), Some("alice"));
    /// ```
    pub fn record(&self, changes: &ChangeSet) -> SessionRecord {
        let mut record = SessionRecord::new(self.meta.clone());
        record.apply(changes);
        record
    }

    /// The second half of [`commit_or_create`](crate::store::SessionStore::commit_or_create),
    /// once the session was found gone: inserts the fresh record of `changes` into
    /// `store` (insert-if-absent). `Created` when it went in, `Conflict` when the fresh
    /// key was taken (odds of 2^-256: the layer answers 409).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::MemoryStore;
    /// use cloakroom::store::{ChangeSet, CommitOutcome, FreshSession, SessionMeta, SessionStore, Touch};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, now) = (MemoryStore::new(), cloakroom::clock::whole_millis(SystemTime::now()));
    /// let fresh = FreshSession::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
    /// let changes = ChangeSet::new(now);
    /// assert_eq!(fresh.insert_into(&store, &changes).await?, CommitOutcome::Created);
    /// assert!(store.load(&fresh.key(), &Touch::new(now, now)).await?.live().is_some());
    /// assert_eq!(fresh.insert_into(&store, &changes).await?, CommitOutcome::Conflict, "the key is taken now");
    /// # Ok::<(), cloakroom::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub async fn insert_into<S: SessionStore + ?Sized>(
        &self,
        store: &S,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        Ok(if store.create(&self.key(), &self.record(changes)).await? {
            CommitOutcome::Created
        } else {
            CommitOutcome::Conflict
        })
    }

    /// The fresh session's metadata before any change set.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::store::{FreshSession, SessionMeta};
    ///
    /// let meta = SessionMeta::new(SystemTime::now(), Duration::from_secs(60), Duration::from_secs(600));
    /// assert_eq!(FreshSession::new(meta).meta().user, None);
    /// ```
    pub fn meta(&self) -> &SessionMeta {
        &self.meta
    }

    /// The ID, once [`key`](Self::key) has drawn it.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::store::{FreshSession, SessionMeta};
    ///
    /// let fresh = FreshSession::new(SessionMeta::new(SystemTime::now(), Duration::from_secs(60), Duration::from_secs(60)));
    /// assert!(fresh.id().is_none());
    /// fresh.key();
    /// assert!(fresh.id().is_some());
    /// ```
    pub fn id(&self) -> Option<&SessionId> {
        self.drawn.get().map(|(id, _)| id)
    }
}

impl fmt::Debug for FreshSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FreshSession")
            .field("meta", &self.meta)
            .field("drawn", &self.drawn.get().map(|(_, key)| key))
            .finish()
    }
}
