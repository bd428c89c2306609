//! What stores keep: one session's metadata and data, and a user's sessions.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use super::{ChangeSet, Touch, UserChange, added};
use crate::id::{SessionHandle, StoreKey};

/// Everything a store keeps about one session besides its data.
///
/// ```
/// use cloakroom::store::SessionMeta;
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
    /// use cloakroom::store::SessionMeta;
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
    /// use cloakroom::store::SessionMeta;
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
    /// use cloakroom::store::SessionMeta;
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
    /// use cloakroom::store::{SessionMeta, Touch};
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
    /// use cloakroom::store::{SessionMeta, Touch};
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
/// use cloakroom::store::{SessionMeta, SessionRecord};
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

/// The size of session data as the size cap counts it: the bytes of every key and
/// of its JSON value.
pub(crate) fn data_bytes<'a>(data: impl IntoIterator<Item = (&'a String, &'a String)>) -> usize {
    data.into_iter().map(|(key, value)| key.len() + value.len()).sum()
}

impl SessionRecord {
    /// An empty record with the given metadata.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::store::{SessionMeta, SessionRecord};
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

    /// True when `changes` can be applied to this record
    /// ([`ChangeSet::admits`]): its expectations hold and its additions meet
    /// integers.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::store::{ChangeSet, SessionMeta, SessionRecord};
    ///
    /// let now = SystemTime::now();
    /// let mut record = SessionRecord::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
    /// record.data.insert("visits".into(), "4".into());
    /// let mut changes = ChangeSet::new(now);
    /// changes.expect.push(("visits".into(), Some("3".into()))); // another request counted already
    /// assert!(!record.admits(&changes));
    /// ```
    pub fn admits(&self, changes: &ChangeSet) -> bool {
        changes.admits(|key| self.data.get(key).map(String::as_str))
    }

    /// Applies a change set in place: clear, then removals, sets and additions, then
    /// the user binding and the idle deadline. The caller has checked the session is
    /// live and that it [`admits`](Self::admits) the change set.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::store::{ChangeSet, SessionMeta, SessionRecord, UserChange};
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
        for addition in &changes.add {
            if let Some(sum) = added(self.data.get(&addition.key).map(String::as_str), addition.by) {
                self.data.insert(addition.key.clone(), sum);
            }
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

/// One of a user's live sessions, as the per-user index lists it.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use cloakroom::{MemoryStore, SessionId};
/// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (store, key, now) = (MemoryStore::new(), SessionId::generate().store_key(), cloakroom::clock::whole_millis(SystemTime::now()));
/// let mut record = SessionRecord::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
/// record.meta.user = Some("alice".into());
/// store.create(&key, &record).await?;
/// let listed = store.list_user("alice", now).await?;
/// assert_eq!((listed[0].key, &listed[0].meta), (key, &record.meta));
/// # Ok::<(), cloakroom::store::StoreError>(())
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
    /// use cloakroom::SessionId;
    /// use cloakroom::store::{SessionMeta, UserSession};
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
