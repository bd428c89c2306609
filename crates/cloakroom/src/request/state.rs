//! One request's session as the layer tracks it: where its ticket stood, what the
//! store holds for it, the view its handler sees, and what it changed.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use crate::id::{SessionId, StoreKey};
use crate::store::{SessionMeta, UserChange};
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
    pub(crate) user: Option<UserChange>,
    pub(crate) regenerate: bool,
    /// The store key of a destroyed session, to delete at commit.
    pub(crate) destroy: Option<StoreKey>,
    pub(crate) touch: bool,
}

impl Pending {
    /// Keys set or removed, a clear, or a change of user binding.
    pub(crate) fn has_writes(&self) -> bool {
        self.clear || !self.set.is_empty() || !self.remove.is_empty() || self.user.is_some()
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
        self.user = self.user.take().or(older.user);
        self.regenerate |= older.regenerate;
        self.destroy = self.destroy.or(older.destroy);
        self.touch |= older.touch;
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
        }
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
        self.pending.clear = true;
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
        self.data = data;
    }
}
