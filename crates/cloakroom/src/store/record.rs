//! What stores keep (records) and what they are asked to apply (change sets).

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use super::{SessionStore, StoreError};
use crate::id::{SessionHandle, SessionId, StoreKey};

/// Everything a store keeps about one session besides its data.
///
/// ```
/// use cloakroom::SessionMeta;
/// use std::time::{Duration, SystemTime};
///
/// let now = SystemTime::now();
/// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(3600));
/// assert_eq!(meta.expires_at(), now + Duration::from_secs(60));
/// assert!(!meta.is_expired(now));
/// assert!(meta.is_expired(now + Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMeta {
    /// When the session was created.
    pub created_at: SystemTime,
    /// When the idle deadline was last slid (a request that used the session).
    pub last_seen: SystemTime,
    /// The session dies at this time unless a request slides it.
    pub idle_deadline: SystemTime,
    /// The session dies at this time whatever happens (creation + absolute timeout).
    pub absolute_deadline: SystemTime,
    /// The user the session is bound to, for the per-user index.
    pub user: Option<String>,
}

impl SessionMeta {
    /// Metadata of a session created at `now`.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::SessionMeta;
    ///
    /// let now = SystemTime::now();
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(3600));
    /// assert_eq!((meta.created_at, meta.last_seen), (now, now));
    /// assert_eq!(meta.absolute_deadline, now + Duration::from_secs(3600));
    /// assert_eq!(meta.user, None);
    /// ```
    pub fn new(now: SystemTime, idle_timeout: Duration, absolute_timeout: Duration) -> Self {
        Self {
            created_at: now,
            last_seen: now,
            idle_deadline: now + idle_timeout,
            absolute_deadline: now + absolute_timeout,
            user: None,
        }
    }

    /// The earlier of the two deadlines.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::SessionMeta;
    ///
    /// let now = SystemTime::now();
    /// let meta = SessionMeta::new(now, Duration::from_secs(3600), Duration::from_secs(60));
    /// assert_eq!(meta.expires_at(), meta.absolute_deadline);
    /// ```
    pub fn expires_at(&self) -> SystemTime {
        self.idle_deadline.min(self.absolute_deadline)
    }

    /// True when the session is dead at `now`.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::SessionMeta;
    ///
    /// let now = SystemTime::now();
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(3600));
    /// assert!(!meta.is_expired(now + Duration::from_secs(59)));
    /// assert!(meta.is_expired(now + Duration::from_secs(60)));
    /// ```
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now >= self.expires_at()
    }

    /// Applies a touch: moves the idle deadline to the one asked for when that
    /// moves it by at least `touch.min_step`. Moving it back (a deadline stored
    /// under a longer idle timeout, brought in line with a shorter one) happens only
    /// while the session is still within the shorter timeout since `last_seen`.
    /// Returns whether it moved.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::{SessionMeta, Touch};
    ///
    /// let now = SystemTime::now();
    /// let mut meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(3600));
    /// let later = now + Duration::from_secs(5);
    /// let touch = Touch::new(later, later + Duration::from_secs(60));
    /// assert!(!meta.apply_touch(&touch.min_step(Duration::from_secs(10)))); // 5 s: not worth a write
    /// assert!(meta.apply_touch(&touch));
    /// assert_eq!(meta.last_seen, later);
    /// ```
    pub fn apply_touch(&mut self, touch: &Touch) -> bool {
        let due = self.touch_due(touch);
        if due {
            self.idle_deadline = touch.idle_deadline;
            self.last_seen = touch.now;
        }
        due
    }

    /// Whether [`apply_touch`](Self::apply_touch) would move the idle deadline,
    /// without moving it.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::{SessionMeta, Touch};
    ///
    /// let now = SystemTime::now();
    /// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(3600));
    /// let later = now + Duration::from_secs(5);
    /// let touch = Touch::new(later, later + Duration::from_secs(60));
    /// assert!(!meta.touch_due(&touch.min_step(Duration::from_secs(10))));
    /// assert!(meta.touch_due(&touch));
    /// assert_eq!(meta.last_seen, now, "nothing moved");
    /// ```
    pub fn touch_due(&self, touch: &Touch) -> bool {
        let step = match touch.idle_deadline.duration_since(self.idle_deadline) {
            Ok(forward) => forward,
            Err(backward) => {
                let asked = touch.idle_deadline.duration_since(touch.now).unwrap_or_default();
                let unused = touch.now.duration_since(self.last_seen).unwrap_or_default();
                if unused >= asked {
                    return false;
                }
                backward.duration()
            }
        };
        !step.is_zero() && step >= touch.min_step
    }
}

/// One session as a store keeps it: data (key → JSON text) plus metadata.
///
/// `Debug` lists the keys, never the values.
///
/// ```
/// use cloakroom::{SessionMeta, SessionRecord};
/// use std::time::{Duration, SystemTime};
///
/// let meta = SessionMeta::new(SystemTime::now(), Duration::from_secs(60), Duration::from_secs(60));
/// let mut record = SessionRecord::new(meta);
/// record.data.insert("cart".into(), r#"["apple"]"#.into());
/// assert!(!format!("{record:?}").contains("apple"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session's keys, each with its value as JSON text.
    pub data: HashMap<String, String>,
    /// Timestamps, deadlines and user binding.
    pub meta: SessionMeta,
}

impl SessionRecord {
    /// An empty record with the given metadata.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::{SessionMeta, SessionRecord};
    ///
    /// let meta = SessionMeta::new(SystemTime::now(), Duration::from_secs(60), Duration::from_secs(600));
    /// let record = SessionRecord::new(meta.clone());
    /// assert!(record.data.is_empty());
    /// assert_eq!(record.meta, meta);
    /// ```
    pub fn new(meta: SessionMeta) -> Self {
        Self {
            data: HashMap::new(),
            meta,
        }
    }

    /// Applies a change set in place: clear, then removals, then sets, then the user
    /// binding and the idle deadline. The caller has checked the session is live.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::{ChangeSet, SessionMeta, SessionRecord, UserChange};
    ///
    /// let now = SystemTime::now();
    /// let mut record = SessionRecord::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
    /// let mut changes = ChangeSet::new(now);
    /// changes.set.push(("cart".into(), r#"["apple"]"#.into()));
    /// changes.user = Some(UserChange::Bind("alice".into()));
    /// record.apply(&changes);
    /// assert_eq!(record.data["cart"], r#"["apple"]"#);
    /// assert_eq!(record.meta.user.as_deref(), Some("alice"));
    /// ```
    pub fn apply(&mut self, changes: &ChangeSet) {
        if changes.clear {
            self.data.clear();
        }
        for key in &changes.remove {
            self.data.remove(key);
        }
        for (key, value) in &changes.set {
            self.data.insert(key.clone(), value.clone());
        }
        match &changes.user {
            Some(UserChange::Bind(user)) => self.meta.user = Some(user.clone()),
            Some(UserChange::Unbind) => self.meta.user = None,
            None => {}
        }
        if let Some(deadline) = changes
            .idle_deadline
            .filter(|_| changes.slides(self.meta.idle_deadline))
        {
            self.meta.idle_deadline = deadline;
            self.meta.last_seen = changes.now;
        }
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&str> = self.data.keys().map(String::as_str).collect();
        keys.sort_unstable();
        f.debug_struct("SessionRecord")
            .field("keys", &keys)
            .field("meta", &self.meta)
            .finish()
    }
}

/// A request to slide a session's idle deadline while loading it.
///
/// ```
/// use cloakroom::Touch;
/// use std::time::{Duration, SystemTime};
///
/// let now = SystemTime::now();
/// let touch = Touch::new(now, now + Duration::from_secs(600)).min_step(Duration::from_secs(30));
/// assert_eq!(touch.min_step, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    /// The time of the request.
    pub now: SystemTime,
    /// The idle deadline the request asks for (now + idle timeout).
    pub idle_deadline: SystemTime,
    /// Skip the write when the deadline would move by less than this.
    pub min_step: Duration,
}

impl Touch {
    /// A touch that always moves the deadline forward.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::Touch;
    ///
    /// let now = SystemTime::now();
    /// let touch = Touch::new(now, now + Duration::from_secs(600));
    /// assert_eq!(touch.min_step, Duration::ZERO);
    /// ```
    pub fn new(now: SystemTime, idle_deadline: SystemTime) -> Self {
        Self {
            now,
            idle_deadline,
            min_step: Duration::ZERO,
        }
    }

    /// Sets the smallest step worth a write.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::Touch;
    ///
    /// let now = SystemTime::now();
    /// // Write the deadline at most once a minute for a 30-minute idle timeout.
    /// let touch = Touch::new(now, now + Duration::from_secs(1800)).min_step(Duration::from_secs(60));
    /// assert_eq!(touch.min_step, Duration::from_secs(60));
    /// ```
    pub fn min_step(mut self, min_step: Duration) -> Self {
        self.min_step = min_step;
        self
    }
}

/// A change to the session's user binding.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use cloakroom::{ChangeSet, SessionMeta, SessionRecord, UserChange};
///
/// let now = SystemTime::now();
/// let mut record = SessionRecord::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
/// let mut changes = ChangeSet::new(now);
/// changes.user = Some(UserChange::Bind("alice".into()));
/// record.apply(&changes);
/// assert_eq!(record.meta.user.as_deref(), Some("alice"));
/// changes.user = Some(UserChange::Unbind);
/// record.apply(&changes);
/// assert_eq!(record.meta.user, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    /// Bind the session to this user (listed, revoked and destroyed with the user).
    Bind(String),
    /// Remove the binding.
    Unbind,
}

/// What one request changed in a session, for the store to apply atomically.
///
/// `Debug` lists the keys, never the values.
///
/// ```
/// use cloakroom::ChangeSet;
/// use std::time::SystemTime;
///
/// let mut changes = ChangeSet::new(SystemTime::now());
/// assert!(changes.is_empty());
/// changes.set.push(("visits".into(), "1".into()));
/// assert!(!changes.is_empty());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ChangeSet {
    /// Time of the commit: a session expired at this time is not changed.
    pub now: SystemTime,
    /// Remove every key before applying the rest.
    pub clear: bool,
    /// Keys to set, each with its new value as JSON text.
    pub set: Vec<(String, String)>,
    /// Keys to remove (disjoint from `set`).
    pub remove: Vec<String>,
    /// A change to the user binding.
    pub user: Option<UserChange>,
    /// A new idle deadline (and `last_seen = now`), applied only when it moves the
    /// stored one by at least [`idle_min_step`](Self::idle_min_step).
    pub idle_deadline: Option<SystemTime>,
    /// The smallest move of the idle deadline worth a write (zero: any move). The
    /// layer sets its touch step here for ordinary writes, so a busy session's
    /// deadline (and its TTL in Redis) is rewritten about once per step rather
    /// than on every request.
    pub idle_min_step: Duration,
    /// The session's absolute deadline as the committer knows it, if it does. Not
    /// applied: stores that index users by deadline use it to file a new binding
    /// before they apply the change set.
    pub absolute_deadline: Option<SystemTime>,
}

impl ChangeSet {
    /// An empty change set at `now`.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::ChangeSet;
    ///
    /// let now = SystemTime::now();
    /// let mut changes = ChangeSet::new(now);
    /// changes.remove.push("flash".into());
    /// changes.idle_deadline = Some(now + Duration::from_secs(60));
    /// assert_eq!(changes.now, now);
    /// ```
    pub fn new(now: SystemTime) -> Self {
        Self {
            now,
            clear: false,
            set: Vec::new(),
            remove: Vec::new(),
            user: None,
            idle_deadline: None,
            idle_min_step: Duration::ZERO,
            absolute_deadline: None,
        }
    }

    /// True when applying this change set to a session whose idle deadline is
    /// `current` moves that deadline: a new one is asked for and it differs from
    /// `current` by at least [`idle_min_step`](Self::idle_min_step), either way.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::ChangeSet;
    ///
    /// let now = SystemTime::now();
    /// let mut changes = ChangeSet::new(now);
    /// assert!(!changes.slides(now)); // no deadline asked for
    /// changes.idle_deadline = Some(now + Duration::from_secs(600));
    /// changes.idle_min_step = Duration::from_secs(30);
    /// assert!(!changes.slides(now + Duration::from_secs(590))); // 10 s: not worth a write
    /// assert!(changes.slides(now + Duration::from_secs(500)));
    /// ```
    pub fn slides(&self, current: SystemTime) -> bool {
        let Some(wanted) = self.idle_deadline else {
            return false;
        };
        let step = match wanted.duration_since(current) {
            Ok(forward) => forward,
            Err(backward) => backward.duration(),
        };
        !step.is_zero() && step >= self.idle_min_step
    }

    /// A change set that only slides the idle deadline.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::{ChangeSet, Touch};
    ///
    /// let now = SystemTime::now();
    /// let touch = Touch::new(now, now + Duration::from_secs(60));
    /// let changes = ChangeSet::touch_only(&touch);
    /// assert_eq!(changes.idle_deadline, Some(touch.idle_deadline));
    /// assert!(changes.set.is_empty() && changes.remove.is_empty());
    /// ```
    pub fn touch_only(touch: &Touch) -> Self {
        Self {
            idle_deadline: Some(touch.idle_deadline),
            idle_min_step: touch.min_step,
            ..Self::new(touch.now)
        }
    }

    /// True when applying it would change nothing.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::ChangeSet;
    ///
    /// let now = SystemTime::now();
    /// let mut changes = ChangeSet::new(now);
    /// changes.absolute_deadline = Some(now + Duration::from_secs(600)); // informative only
    /// assert!(changes.is_empty());
    /// changes.clear = true;
    /// assert!(!changes.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        !self.clear
            && self.set.is_empty()
            && self.remove.is_empty()
            && self.user.is_none()
            && self.idle_deadline.is_none()
    }
}

impl fmt::Debug for ChangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set: Vec<&str> = self.set.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ChangeSet")
            .field("now", &self.now)
            .field("clear", &self.clear)
            .field("set", &set)
            .field("remove", &self.remove)
            .field("user", &self.user)
            .field("idle_deadline", &self.idle_deadline)
            .field("idle_min_step", &self.idle_min_step)
            .field("absolute_deadline", &self.absolute_deadline)
            .finish()
    }
}

/// The session a write-only commit starts when the one it was meant for is gone.
///
/// Its ID is drawn the first time a store asks for its [`key`](Self::key), and its
/// record is built only when a store asks for it: a commit that finds its session
/// live (the usual case) costs no random draw, no hash and no record.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use cloakroom::{ChangeSet, FreshSession, SessionMeta};
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
    /// use cloakroom::{FreshSession, SessionMeta};
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
    /// use cloakroom::{FreshSession, SessionMeta};
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
    /// use cloakroom::{ChangeSet, FreshSession, SessionMeta, UserChange};
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

    /// The second half of [`commit_or_create`](crate::SessionStore::commit_or_create),
    /// once the session was found gone: inserts the fresh record of `changes` into
    /// `store` (insert-if-absent). `Created` when it went in, `Dropped` when the fresh
    /// key was taken.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::{ChangeSet, CommitOutcome, FreshSession, MemoryStore, SessionMeta, SessionStore, Touch};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (store, now) = (MemoryStore::new(), cloakroom::whole_millis(SystemTime::now()));
    /// let fresh = FreshSession::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
    /// let changes = ChangeSet::new(now);
    /// assert_eq!(fresh.insert_into(&store, &changes).await?, CommitOutcome::Created);
    /// assert!(store.load(&fresh.key(), &Touch::new(now, now)).await?.is_some());
    /// assert_eq!(fresh.insert_into(&store, &changes).await?, CommitOutcome::Dropped, "the key is taken now");
    /// # Ok::<(), cloakroom::StoreError>(())
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
            CommitOutcome::Dropped
        })
    }

    /// The fresh session's metadata before any change set.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::{FreshSession, SessionMeta};
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
    /// use cloakroom::{FreshSession, SessionMeta};
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

/// What [`SessionStore::commit_or_create`](crate::SessionStore::commit_or_create) did.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use cloakroom::{ChangeSet, CommitOutcome, FreshSession, MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
/// let meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
/// store.create(&key, &SessionRecord::new(meta.clone())).await?;
/// let fresh = FreshSession::new(meta);
/// let later = now + Duration::from_secs(10);
/// let mut changes = ChangeSet::new(later);
/// changes.idle_deadline = Some(later + Duration::from_secs(60));
/// match store.commit_or_create(&key, &changes, &fresh).await? {
///     CommitOutcome::Applied(expiry) => assert_eq!(expiry, Some(later + Duration::from_secs(60))),
///     other => panic!("the session was live, got {other:?}"),
/// }
/// // Within the change set's minimum step: applied, the deadline stays.
/// changes.idle_min_step = Duration::from_secs(5);
/// let outcome = store.commit_or_create(&key, &changes, &fresh).await?;
/// assert_eq!(outcome, CommitOutcome::Applied(None));
/// assert!(fresh.id().is_none(), "no fresh ID was drawn");
/// # Ok::<(), cloakroom::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The session was live and the change set was applied to it. When the commit
    /// moved the idle deadline ([`ChangeSet::slides`]) and the store can tell, it
    /// carries the session's expiry afterwards, and the layer re-sends the cookie
    /// with a matching `Max-Age`; `None` when the deadline stayed (or the store
    /// cannot tell), and the client keeps the cookie it has.
    Applied(Option<SystemTime>),
    /// The session was gone; the fresh record was inserted instead.
    Created,
    /// The session was gone and the fresh key was taken; nothing was written.
    Dropped,
}

/// One of a user's live sessions, as the per-user index lists it.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use cloakroom::{MemoryStore, SessionId, SessionMeta, SessionRecord, SessionStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::whole_millis(SystemTime::now()));
/// let mut record = SessionRecord::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
/// record.meta.user = Some("alice".into());
/// store.create(&key, &record).await?;
/// let listed = store.list_user("alice", now).await?;
/// assert_eq!((listed[0].key, &listed[0].meta), (key, &record.meta));
/// # Ok::<(), cloakroom::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    /// The session's store key.
    pub key: StoreKey,
    /// Its metadata.
    pub meta: SessionMeta,
}

impl UserSession {
    /// The opaque handle to show to the user and accept back for revocation.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::{SessionId, SessionMeta, UserSession};
    ///
    /// let key = SessionId::generate().store_key();
    /// let meta = SessionMeta::new(SystemTime::now(), Duration::from_secs(60), Duration::from_secs(600));
    /// let session = UserSession { key, meta };
    /// assert_eq!(session.handle(), key.handle());
    /// ```
    pub fn handle(&self) -> SessionHandle {
        self.key.handle()
    }
}
