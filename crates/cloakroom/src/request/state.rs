//! One request's session as the layer tracks it: where its ticket stood, what the
//! store holds for it, the view its handler sees, and what it changed.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use crate::id::{SessionId, StoreKey};
use crate::store::{Addition, MAX_COUNT, SessionMeta, UserChange, added};
use crate::ticket::VerifiedTicket;

/// Where the request's ticket stands.
#[derive(Debug, Clone)]
pub(crate) enum Incoming {
    /// No ticket came.
    Absent,
    /// A ticket came that failed verification.
    Invalid,
    /// A ticket the server signed.
    Valid(VerifiedTicket),
    /// A ticket the server signed, whose session turned out to be gone (at load, or
    /// under the request at commit): the client should forget it.
    Gone,
    /// A ticket the server signed, whose session was regenerated to another ID (at
    /// load, or under the request at commit): a stale ticket of a session that lives
    /// on. The request is served anonymously, its writes are refused (409), and its
    /// response leaves the client's cookie alone.
    Moved,
}

impl Incoming {
    /// The ID of a verified ticket whose session may still live.
    pub(crate) fn id(&self) -> Option<&SessionId> {
        match self {
            Incoming::Valid(ticket) => Some(&ticket.id),
            _ => None,
        }
    }
}

/// What the store holds for this request's session, as far as the request knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Nothing has read the store yet: the write-only handle commits blind.
    Unread,
    /// Not read, but a blind commit found it live under the incoming ticket's ID.
    WrittenBlind {
        /// Where the session ends, when the commit moved its idle deadline.
        expires_at: Option<SystemTime>,
    },
    /// Read (or created by this request): the store holds it under its ID.
    Stored,
    /// Read: the store holds nothing for it (no ticket came, its session is gone,
    /// or it was destroyed here). New and anonymous until first stored.
    New,
}

impl Status {
    /// The handler's view holds the store's data (read, or created here).
    pub(crate) fn is_loaded(self) -> bool {
        matches!(self, Status::Stored | Status::New)
    }

    /// The store holds the session under the request's ID.
    pub(crate) fn is_stored(self) -> bool {
        matches!(self, Status::Stored | Status::WrittenBlind { .. })
    }
}

/// Where a session keeps its own cookie persistence, when it overrides the
/// layer's (`true`: a cookie with `Max-Age`; `false`: a browser-session cookie).
pub(crate) const PERSISTENT_KEY: &str = "scope::persistent";

/// The prefix of the keys cloakroom keeps for itself (scopes, the CSRF token,
/// the device, flash messages).
pub(crate) const RESERVED_PREFIX: &str = "scope::";

/// What the response should do with the client's ticket, as decided so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieAction {
    /// Send nothing (unless the end of the request decides otherwise).
    Keep,
    /// Send the current ticket.
    Set,
    /// Tell the client to forget its ticket.
    Remove,
}

/// What changed in this request and is not yet committed.
#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) clear: bool,
    pub(crate) set: HashMap<String, String>,
    pub(crate) remove: HashSet<String>,
    /// Numbers to add to keys, by the store.
    pub(crate) add: HashMap<String, Addition>,
    /// What keys held when this request read them to compute its writes: the
    /// commit's compare-and-set.
    pub(crate) expect: HashMap<String, Option<String>>,
    /// What keys held before this request added to them, in case an `update` of the
    /// same key turns the addition into a write computed from that value.
    pub(crate) added_to: HashMap<String, Option<String>>,
    pub(crate) user: Option<UserChange>,
    pub(crate) regenerate: bool,
    /// The store key of a destroyed session, to delete at commit.
    pub(crate) destroy: Option<StoreKey>,
    /// `destroy()` was called, whether or not there was a stored session.
    pub(crate) ended: bool,
    pub(crate) touch: bool,
}

impl Pending {
    /// Keys set or removed, a clear, or a change of user binding.
    pub(crate) fn has_writes(&self) -> bool {
        self.clear || !self.set.is_empty() || !self.remove.is_empty() || !self.add.is_empty() || self.user.is_some()
    }

    /// The request means to change its session: writes, a regenerate, a touch, or
    /// an end.
    pub(crate) fn wants_change(&self) -> bool {
        self.has_writes() || self.regenerate || self.touch || self.ended
    }

    /// True when the request has already decided what `key` holds (set, removed or
    /// cleared it), so nothing it computes for that key depends on the store.
    fn decides(&self, key: &str) -> bool {
        self.clear || self.set.contains_key(key) || self.remove.contains(key)
    }

    /// Puts back what a failed commit took, under what was written since.
    pub(crate) fn restore_under(&mut self, newer: Pending) {
        let older = std::mem::replace(self, newer);
        if self.clear {
            return;
        }
        self.clear |= older.clear;
        for (key, value) in older.set {
            if !self.remove.contains(&key) {
                self.set.entry(key).or_insert(value);
            }
        }
        for key in older.remove {
            if !self.set.contains_key(&key) {
                self.remove.insert(key);
            }
        }
        for (key, older) in older.add {
            if self.decides(&key) {
                continue;
            }
            match self.add.get_mut(&key) {
                Some(newer) => newer.combine(&older),
                None => {
                    self.add.insert(key, older);
                }
            }
        }
        for (key, value) in older.expect {
            self.expect.entry(key).or_insert(value);
        }
        for (key, value) in older.added_to {
            self.added_to.entry(key).or_insert(value);
        }
        self.user = self.user.take().or(older.user);
        self.regenerate |= older.regenerate;
        self.destroy = self.destroy.or(older.destroy);
        self.ended |= older.ended;
        self.touch |= older.touch;
    }
}

/// Why an increment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddError {
    /// The key holds no integer, or the sum would leave ±`MAX_COUNT`.
    NotACount,
    /// The sum would pass the increment's cap.
    OverCap,
}

/// `current + addition.by`, checked against the range and the cap.
fn checked_sum(addition: &Addition, current: Option<&str>) -> Result<i64, AddError> {
    let sum: i64 = added(current, addition.by)
        .ok_or(AddError::NotACount)?
        .parse()
        .map_err(|_| AddError::NotACount)?;
    match addition.cap {
        Some(cap) if sum > cap => Err(AddError::OverCap),
        _ => Ok(sum),
    }
}

/// The request's session, under the lock of its `RequestSession`.
pub(crate) struct State {
    pub(crate) incoming: Incoming,
    pub(crate) status: Status,
    /// The session's ID once known: the incoming one when read or written blind,
    /// a new one once created or regenerated.
    pub(crate) id: Option<SessionId>,
    /// The session's data as this request sees it: the store's, with pending
    /// changes applied. Empty until read.
    pub(crate) data: HashMap<String, String>,
    pub(crate) meta: Option<SessionMeta>,
    pub(crate) pending: Pending,
    pub(crate) cookie: CookieAction,
    /// A commit of this request applied nothing because the session changed under
    /// it (a key it read, or a regenerate): the response is a 409 unless the
    /// handler reloads.
    pub(crate) conflict: bool,
    /// The pre-session CSRF nonce: the one the request's cookie carried, or one
    /// drawn for this response.
    pub(crate) presession: Option<String>,
    /// The response sets the pre-session cookie (the nonce was drawn here).
    pub(crate) set_presession: bool,
    /// The session's own cookie persistence, learned by a write-only request
    /// that never read the session (see `commit.rs`).
    pub(crate) persistent_hint: Option<bool>,
    /// The `Set-Cookie` removing the express cookie, once an import or a sign-out
    /// made it due.
    #[cfg(feature = "express")]
    pub(crate) express_removal: Option<http::HeaderValue>,
    /// An express import of this request, settled once its response is ready.
    #[cfg(feature = "express")]
    pub(crate) express_claim: Option<super::import::PendingImport>,
}

impl State {
    pub(crate) fn new(incoming: Incoming) -> Self {
        Self {
            incoming,
            status: Status::Unread,
            id: None,
            data: HashMap::new(),
            meta: None,
            pending: Pending::default(),
            cookie: CookieAction::Keep,
            conflict: false,
            presession: None,
            set_presession: false,
            persistent_hint: None,
            #[cfg(feature = "express")]
            express_removal: None,
            #[cfg(feature = "express")]
            express_claim: None,
        }
    }

    /// Whether the session's cookie is persistent: its own choice when the
    /// request knows it, else `default`.
    pub(crate) fn persistent(&self, default: bool) -> bool {
        self.data
            .get(PERSISTENT_KEY)
            .and_then(|json| json.parse::<bool>().ok())
            .or(self.persistent_hint)
            .unwrap_or(default)
    }

    /// Where the session ends, as far as the request knows.
    pub(crate) fn expires_at(&self) -> Option<SystemTime> {
        match (&self.meta, self.status) {
            (Some(meta), _) => Some(meta.expires_at()),
            (None, Status::WrittenBlind { expires_at }) => expires_at,
            (None, _) => None,
        }
    }

    /// Sets `key` to `json` at commit.
    pub(crate) fn write(&mut self, key: String, json: String) {
        self.pending.remove.remove(&key);
        if !self.pending.add.is_empty() {
            self.pending.add.remove(&key);
        }
        // Before the load (the write-only handle), the view is built by the load
        // from the store's data and the pending changes: no copy needed here.
        if self.status.is_loaded() {
            self.data.insert(key.clone(), json.clone());
        }
        self.pending.set.insert(key, json);
    }

    /// Removes `key` at commit; returns whether the view held it.
    pub(crate) fn delete(&mut self, key: &str) -> bool {
        self.pending.set.remove(key);
        self.pending.add.remove(key);
        if self.status != Status::New {
            self.pending.remove.insert(key.to_owned());
        }
        self.data.remove(key).is_some()
    }

    /// Removes every key at commit.
    pub(crate) fn clear(&mut self) {
        self.data.clear();
        self.pending.set.clear();
        self.pending.remove.clear();
        self.pending.add.clear();
        self.pending.clear = true;
    }

    /// Before a write computed from `key`'s value: the commit applies only if the
    /// store still holds what this request read there, unless the request itself
    /// decided that value. An addition pending on the key becomes part of the
    /// write, expecting the value it was added to.
    pub(crate) fn guard(&mut self, key: &str) {
        let pending = &mut self.pending;
        if pending.decides(key) || pending.expect.contains_key(key) {
            return;
        }
        let read = match pending.add.remove(key) {
            Some(_) => pending.added_to.remove(key).flatten(),
            None => self.data.get(key).cloned(),
        };
        pending.expect.insert(key.to_owned(), read);
    }

    /// Adds `by` to the integer under `key` at commit, refusing a sum past `cap`:
    /// by the store, so concurrent additions all count, unless this request decided
    /// the key's value itself (then it is a plain write). Returns the value as this
    /// request now sees it (`None` before the session is read).
    pub(crate) fn add(&mut self, key: &str, by: i64, cap: Option<i64>) -> Result<Option<i64>, AddError> {
        let addition = Addition {
            key: key.to_owned(),
            by,
            cap,
        };
        if self.pending.decides(key) {
            let current = self.pending.set.get(key).map(String::as_str);
            let sum = checked_sum(&addition, current)?;
            self.write(key.to_owned(), sum.to_string());
            return Ok(Some(sum).filter(|_| self.status.is_loaded()));
        }
        let mut combined = addition.clone();
        if let Some(pending) = self.pending.add.get(key) {
            combined.combine(pending);
            if combined.by.abs() > MAX_COUNT {
                return Err(AddError::NotACount);
            }
        }
        let mut seen = None;
        if self.status.is_loaded() {
            let sum = checked_sum(&addition, self.data.get(key).map(String::as_str))?;
            seen = Some(sum);
            let before = self.data.insert(key.to_owned(), sum.to_string());
            if !self.pending.added_to.contains_key(key) {
                self.pending.added_to.insert(key.to_owned(), before);
            }
        }
        self.pending.add.insert(key.to_owned(), combined);
        Ok(seen)
    }

    /// Binds (`Some`) or unbinds (`None`) the user at commit.
    pub(crate) fn bind(&mut self, user: Option<String>) {
        if let Some(meta) = self.meta.as_mut() {
            meta.user.clone_from(&user);
        }
        self.pending.user = Some(match user {
            Some(user) => UserChange::Bind(user),
            None => UserChange::Unbind,
        });
    }

    /// The user the session is bound to, pending changes included.
    pub(crate) fn user(&self) -> Option<String> {
        match &self.pending.user {
            Some(UserChange::Bind(user)) => Some(user.clone()),
            Some(UserChange::Unbind) => None,
            None => self.meta.as_ref().and_then(|m| m.user.clone()),
        }
    }

    /// Marks the session for deletion at commit; the state stands for a new, empty
    /// anonymous session from here on.
    pub(crate) fn destroy(&mut self) {
        let key = match (self.status, &self.id) {
            (status, Some(id)) if status.is_stored() => Some(id.store_key()),
            (Status::Unread, _) => self.incoming.id().map(SessionId::store_key),
            _ => None,
        };
        self.pending = Pending {
            destroy: self.pending.destroy.or(key),
            ended: true,
            ..Pending::default()
        };
        self.status = Status::New;
        self.id = None;
        self.meta = None;
        self.data.clear();
    }

    /// Replaces the view with the store's data and re-applies pending changes.
    pub(crate) fn rebase(&mut self, mut data: HashMap<String, String>) {
        if self.pending.clear {
            data.clear();
        }
        for key in &self.pending.remove {
            data.remove(key);
        }
        for (key, value) in &self.pending.set {
            data.insert(key.clone(), value.clone());
        }
        for (key, addition) in &self.pending.add {
            let before = data.get(key).cloned();
            self.pending.added_to.insert(key.clone(), before.clone());
            match added(before.as_deref(), addition.by) {
                Some(sum) => data.insert(key.clone(), sum),
                // Not an integer in the store: the commit will conflict; the view
                // shows what is there.
                None => None,
            };
        }
        self.data = data;
    }
}
