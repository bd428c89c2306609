//! What a store says it found or did: a load's session, a write's outcome, and how
//! long a regenerated session's old key stays marked as moved.

use std::time::{Duration, SystemTime};

use super::SessionRecord;

/// How long a regenerated session's old key stays marked as moved: a request that
/// still carries the old ticket (sent before the browser had the new cookie) is told
/// "moved" rather than "gone", so its response leaves the new cookie alone. The
/// marker holds nothing but that fact.
///
/// ```
/// assert_eq!(cloakroom::store::MOVED_MARKER_TTL.as_secs(), 600);
/// ```
pub const MOVED_MARKER_TTL: Duration = Duration::from_secs(10 * 60);

/// What [`SessionStore::load`](super::SessionStore::load) found.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use cloakroom::{MemoryStore, SessionId};
/// use cloakroom::store::{ChangeSet, Loaded, SessionMeta, SessionRecord, SessionStore, Touch};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
/// let touch = Touch::new(now, now);
/// assert_eq!(store.load(&key, &touch).await?, Loaded::Gone);
/// store.create(&key, &SessionRecord::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)))).await?;
/// assert!(matches!(store.load(&key, &touch).await?, Loaded::Live(_)));
/// let new = store.successor_id(&key).store_key();
/// store.regenerate(&key, &new, &ChangeSet::new(now)).await?;
/// assert_eq!(store.load(&key, &touch).await?, Loaded::Moved);
/// # Ok::<(), cloakroom::store::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// The live session, after the load's touch.
    Live(SessionRecord),
    /// The session was regenerated to another key (within [`MOVED_MARKER_TTL`]):
    /// the request that asks carries a stale ticket of a session that lives on.
    Moved,
    /// No live session: never created, expired, destroyed or revoked.
    Gone,
}

impl Loaded {
    /// The live record, if any.
    ///
    /// ```
    /// use cloakroom::store::Loaded;
    ///
    /// assert!(Loaded::Moved.live().is_none());
    /// ```
    pub fn live(self) -> Option<SessionRecord> {
        match self {
            Loaded::Live(record) => Some(record),
            Loaded::Moved | Loaded::Gone => None,
        }
    }
}

/// What a write to a session did: [`commit`](super::SessionStore::commit),
/// [`commit_or_create`](super::SessionStore::commit_or_create) or
/// [`regenerate`](super::SessionStore::regenerate). Only `Applied` and `Created`
/// wrote anything.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use cloakroom::{MemoryStore, SessionId};
/// use cloakroom::store::{ChangeSet, CommitOutcome, SessionMeta, SessionRecord, SessionStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
/// store.create(&key, &SessionRecord::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)))).await?;
/// let later = now + Duration::from_secs(10);
/// let mut changes = ChangeSet::new(later);
/// changes.idle_deadline = Some(later + Duration::from_secs(60));
/// let outcome = store.commit(&key, &changes).await?;
/// assert_eq!(outcome, CommitOutcome::Applied(Some(later + Duration::from_secs(60)))); // slid
///
/// // A write computed from a value that is no longer there applies nothing.
/// let mut stale = ChangeSet::new(later);
/// stale.expect.push(("visits".into(), Some("1".into())));
/// stale.set.push(("visits".into(), "2".into()));
/// assert_eq!(store.commit(&key, &stale).await?, CommitOutcome::Conflict);
/// # Ok::<(), cloakroom::store::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitOutcome {
    /// The session was live and the change set was applied to it. When the commit
    /// moved the idle deadline ([`ChangeSet::slides`](super::ChangeSet::slides)) and
    /// the store can tell, it carries the session's expiry afterwards, and the layer
    /// re-sends the cookie with a matching `Max-Age`; `None` when the deadline stayed
    /// (or the store cannot tell), and the client keeps the cookie it has.
    Applied(Option<SystemTime>),
    /// `commit_or_create` only: the session was gone, and the fresh record was
    /// inserted instead.
    Created,
    /// The session is absent or expired, destroyed or revoked: nothing was written,
    /// and a commit never brings it back.
    Gone,
    /// The session was regenerated to another key: nothing was written (no data is
    /// ever forwarded from an old ID to a new one).
    Moved,
    /// Nothing was written: a key the change set expects no longer holds what the
    /// request read, or a key to add to holds no integer; for `regenerate` and
    /// `commit_or_create`, also the new key was taken. The layer answers 409.
    Conflict,
}

impl CommitOutcome {
    /// True when the change set was written (`Applied` or `Created`).
    ///
    /// ```
    /// use cloakroom::store::CommitOutcome;
    ///
    /// assert!(CommitOutcome::Applied(None).is_written());
    /// assert!(!CommitOutcome::Moved.is_written());
    /// ```
    pub fn is_written(self) -> bool {
        matches!(self, CommitOutcome::Applied(_) | CommitOutcome::Created)
    }
}
