//! What stores are asked to apply: change sets, touches and user bindings.

use std::fmt;
use std::time::{Duration, SystemTime};

/// A request to slide a session's idle deadline while loading it.
///
/// ```
/// use cloakroom::store::Touch;
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
    /// use cloakroom::store::Touch;
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
    /// use cloakroom::store::Touch;
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

    /// A read that never moves the deadline: for looking at a session (its
    /// device details, its cookie persistence) beside the request's own load.
    pub(crate) fn peek(now: SystemTime, idle_deadline: SystemTime) -> Self {
        Self::new(now, idle_deadline).min_step(Duration::from_secs(100 * 365 * 86_400))
    }
}

/// A change to the session's user binding.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use cloakroom::store::{ChangeSet, SessionMeta, SessionRecord, UserChange};
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
/// use cloakroom::store::ChangeSet;
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
    /// Numbers to add to keys, applied by the store (their keys disjoint from `set`
    /// and `remove`): the key holds a JSON integer, or nothing (counted as 0), and
    /// the sum stays within ±[`MAX_COUNT`] and under the addition's cap, if any.
    /// Concurrent additions to one key all count: counters and quantities never
    /// conflict (unless a cap would be passed).
    pub add: Vec<Addition>,
    /// Keys this change set's writes were computed from, each with the JSON text the
    /// request read (`None`: the key was absent). The store applies the change set
    /// only if every one still holds exactly that: a per-key compare-and-set. When
    /// one does not, or a key of [`add`](Self::add) holds something else than an
    /// integer, nothing is applied ([`CommitOutcome::Conflict`](super::CommitOutcome::Conflict)).
    pub expect: Vec<(String, Option<String>)>,
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
    /// use cloakroom::store::ChangeSet;
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
            add: Vec::new(),
            expect: Vec::new(),
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
    /// use cloakroom::store::ChangeSet;
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

    /// True when the change set can be applied to a session whose keys hold what
    /// `current` gives (their JSON text): every expectation holds, and every key to
    /// add to holds an integer (or nothing) whose sum stays within ±[`MAX_COUNT`].
    /// Stores check it, under the same lock or in the same script as the write.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::time::SystemTime;
    /// use cloakroom::store::{Addition, ChangeSet};
    ///
    /// let data = HashMap::from([("cart".to_owned(), r#"["apple"]"#.to_owned()), ("n".to_owned(), "2".to_owned())]);
    /// let current = |key: &str| data.get(key).map(String::as_str);
    ///
    /// let mut changes = ChangeSet::new(SystemTime::now());
    /// changes.expect.push(("cart".into(), Some(r#"["apple"]"#.into())));
    /// changes.add.push(Addition::new("n", 1));
    /// assert!(changes.admits(current));
    /// changes.expect.push(("coupon".into(), Some(r#""SAVE10""#.into()))); // it is absent now
    /// assert!(!changes.admits(current));
    /// ```
    pub fn admits<'a>(&self, current: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.expect
            .iter()
            .all(|(key, expected)| current(key) == expected.as_deref())
            && self.add.iter().all(|addition| addition.admits(current(&addition.key)))
    }

    /// True when applying it would change nothing.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cloakroom::store::ChangeSet;
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
            && self.add.is_empty()
            && self.user.is_none()
            && self.idle_deadline.is_none()
    }
}

impl fmt::Debug for ChangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set: Vec<&str> = self.set.iter().map(|(k, _)| k.as_str()).collect();
        let add: Vec<&str> = self.add.iter().map(|a| a.key.as_str()).collect();
        let expect: Vec<&str> = self.expect.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ChangeSet")
            .field("now", &self.now)
            .field("clear", &self.clear)
            .field("set", &set)
            .field("remove", &self.remove)
            .field("add", &add)
            .field("expect", &expect)
            .field("user", &self.user)
            .field("idle_deadline", &self.idle_deadline)
            .field("idle_min_step", &self.idle_min_step)
            .field("absolute_deadline", &self.absolute_deadline)
            .finish()
    }
}

/// A number the store adds to a key: one entry of [`ChangeSet::add`].
///
/// ```
/// use cloakroom::store::Addition;
///
/// let add = Addition::new("cart:socks", 3).at_most(99);
/// assert!(add.admits(Some("96")));
/// assert!(!add.admits(Some("97")), "100 would pass the cap");
/// assert!(!add.admits(Some(r#""three""#)), "not an integer");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addition {
    /// The session key.
    pub key: String,
    /// What to add (negative to take away).
    pub by: i64,
    /// The most the key may hold after the addition: the store refuses the change
    /// set when the sum would pass it, checked atomically with the write.
    pub cap: Option<i64>,
}

impl Addition {
    /// Adds `by` to `key`, with no cap but ±[`MAX_COUNT`].
    ///
    /// ```
    /// use cloakroom::store::Addition;
    ///
    /// assert_eq!(Addition::new("visits", 1).cap, None);
    /// ```
    pub fn new(key: impl Into<String>, by: i64) -> Self {
        Self {
            key: key.into(),
            by,
            cap: None,
        }
    }

    /// The same addition, refused when the sum would pass `cap`.
    ///
    /// ```
    /// use cloakroom::store::Addition;
    ///
    /// assert_eq!(Addition::new("qty", 1).at_most(99).cap, Some(99));
    /// ```
    pub fn at_most(mut self, cap: i64) -> Self {
        self.cap = Some(cap);
        self
    }

    /// Two additions to one key as one: the amounts add up, the tighter cap holds.
    pub(crate) fn combine(&mut self, other: &Addition) {
        self.by = self.by.saturating_add(other.by);
        self.cap = match (self.cap, other.cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Whether it applies to a key holding `current` (its JSON text, or `None`).
    ///
    /// ```
    /// use cloakroom::store::Addition;
    ///
    /// assert!(Addition::new("n", 5).admits(None));
    /// ```
    pub fn admits(&self, current: Option<&str>) -> bool {
        sum(current, self.by).is_some_and(|total| self.cap.is_none_or(|cap| total <= cap))
    }
}

/// The largest count a key added to may hold, either way: 2^53 - 1 (JavaScript's
/// `Number.MAX_SAFE_INTEGER`), so every store, a Redis script's numbers and every
/// client that reads the JSON hold it exactly.
///
/// ```
/// assert_eq!(cloakroom::store::MAX_COUNT, 9_007_199_254_740_991);
/// ```
pub const MAX_COUNT: i64 = (1 << 53) - 1;

/// `current + by` as JSON text, where `current` is a key's JSON text (`None`:
/// absent, counted as 0); `None` when it is not an integer or the sum leaves
/// ±[`MAX_COUNT`].
///
/// ```
/// use cloakroom::store::{MAX_COUNT, added};
///
/// assert_eq!(added(None, 3).as_deref(), Some("3"));
/// assert_eq!(added(Some("-2"), 5).as_deref(), Some("3"));
/// assert_eq!(added(Some(r#""two""#), 1), None);
/// assert_eq!(added(Some("1.5"), 1), None);
/// assert_eq!(added(Some(&MAX_COUNT.to_string()), 1), None);
/// ```
pub fn added(current: Option<&str>, by: i64) -> Option<String> {
    sum(current, by).map(|total| total.to_string())
}

/// `current + by`, where `current` is a key's JSON text; `None` as for [`added`].
fn sum(current: Option<&str>, by: i64) -> Option<i64> {
    let held = match current {
        None => 0,
        Some(text) => parse_count(text)?,
    };
    let total = held.checked_add(by)?;
    (total.abs() <= MAX_COUNT).then_some(total)
}

/// A JSON integer within ±[`MAX_COUNT`]: an optional `-` and digits, nothing else.
fn parse_count(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 16 {
        return None;
    }
    let value: i64 = text.parse().ok()?;
    (value.abs() <= MAX_COUNT).then_some(value)
}
