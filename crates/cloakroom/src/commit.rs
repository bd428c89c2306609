//! Turning what a request did to its session into store calls, and deciding what
//! the response tells the client about its ticket.

use std::time::{Duration, SystemTime};

use http::header::{CACHE_CONTROL, HeaderValue, SET_COOKIE, VARY};
use http::response::Parts;

use crate::id::{SessionId, StoreKey};
use crate::session::{CookieAction, Incoming, Pending, RequestSession, State};
use crate::store::{ChangeSet, CommitOutcome, FreshSession, SessionMeta, SessionRecord, StoreError, UserChange};

/// The store work one commit needs, planned under the state lock and carried out
/// after it is released.
enum Plan {
    Nothing,
    Create {
        id: SessionId,
        record: SessionRecord,
    },
    Commit {
        key: StoreKey,
        changes: ChangeSet,
    },
    Regenerate {
        old: StoreKey,
        new: SessionId,
        changes: ChangeSet,
    },
    CommitOrCreate {
        key: StoreKey,
        changes: ChangeSet,
        fresh: FreshSession,
    },
}

/// How many fresh IDs to try when an insert finds its key taken (2^-256 odds).
const CREATE_ATTEMPTS: usize = 3;

impl RequestSession {
    /// Commits what the request changed so far. Safe to call more than once.
    ///
    /// Planning is synchronous; the store work (a large future) is boxed and only
    /// when there is some, so a request with nothing to commit carries and moves a
    /// small future.
    pub(crate) async fn commit(&self) -> Result<(), StoreError> {
        let (destroy, plan, taken) = {
            let mut state = self.state();
            let taken = std::mem::take(&mut state.pending);
            let plan = self.plan(&mut state, &taken);
            (taken.destroy, plan, taken)
        };
        if destroy.is_none() && matches!(plan, Plan::Nothing) {
            return Ok(());
        }
        let result = Box::pin(self.execute(destroy, plan)).await;
        if result.is_err() {
            let mut state = self.state();
            let newer = std::mem::take(&mut state.pending);
            state.pending = taken;
            state.pending.restore_under(newer);
        }
        result
    }

    fn plan(&self, state: &mut State, pending: &Pending) -> Plan {
        let config = &self.shared.config;
        let now = self.now();
        let writes = pending.has_writes();

        if !state.loaded {
            // Only the write-only handle was used: commit blind.
            if !writes {
                return Plan::Nothing;
            }
            let changes = self.change_set(state, pending, now);
            let fresh = FreshSession::new(SessionMeta::new(now, config.idle_timeout, config.absolute_timeout));
            return match &self.incoming {
                Incoming::Valid(ticket) if pending.destroy.is_none() => Plan::CommitOrCreate {
                    key: ticket.id.store_key(),
                    changes,
                    fresh,
                },
                _ => Plan::Create {
                    record: fresh.record(&changes),
                    id: SessionId::generate(),
                },
            };
        }
        if state.persisted {
            if !(writes || pending.touch || pending.regenerate || config.resave) {
                return Plan::Nothing;
            }
            let key = state.id.as_ref().expect("a stored session has an ID").store_key();
            let mut changes = self.change_set(state, pending, now);
            if pending.regenerate {
                // A new ticket goes out anyway: give it the whole idle timeout.
                changes.idle_min_step = Duration::ZERO;
                if changes.user.is_none() {
                    // Name the binding, so stores with a separate user index file the
                    // new key before the rename (log out everywhere cannot miss it).
                    if let Some(user) = state.meta.as_ref().and_then(|m| m.user.clone()) {
                        changes.user = Some(UserChange::Bind(user));
                    }
                }
                return Plan::Regenerate {
                    new: self.shared.store.successor_id(&key),
                    old: key,
                    changes,
                };
            }
            return Plan::Commit { key, changes };
        }
        if writes || config.save_uninitialized || (pending.touch && pending.destroy.is_none()) {
            let config = &self.shared.config;
            let mut record = SessionRecord::new(SessionMeta::new(now, config.idle_timeout, config.absolute_timeout));
            record.data = state.data.clone();
            if let Some(UserChange::Bind(user)) = &pending.user {
                record.meta.user = Some(user.clone());
            }
            return Plan::Create {
                id: SessionId::generate(),
                record,
            };
        }
        Plan::Nothing
    }

    /// The change set of what is pending, committed at `now`.
    fn change_set(&self, state: &State, pending: &Pending, now: SystemTime) -> ChangeSet {
        let mut changes = ChangeSet::new(now);
        changes.clear = pending.clear;
        changes.set = pending.set.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        changes.remove = pending.remove.iter().cloned().collect();
        changes.user = pending.user.clone();
        changes.idle_deadline = Some(now + self.shared.config.idle_timeout);
        // Slide as loads do, once per touch step; an explicit touch() slides now.
        if !pending.touch {
            changes.idle_min_step = self.shared.touch_step;
        }
        changes.absolute_deadline = state.meta.as_ref().map(|meta| meta.absolute_deadline);
        changes
    }

    async fn execute(&self, destroy: Option<StoreKey>, plan: Plan) -> Result<(), StoreError> {
        let store = &self.shared.store;
        if let Some(key) = destroy {
            store.delete(&key).await?;
            tracing::info!("session destroyed");
            let mut state = self.state();
            state.cookie = CookieAction::Remove;
        }
        match plan {
            Plan::Nothing => {}
            Plan::Create { id, record } => self.create(id, record).await?,
            Plan::Commit { key, changes } => {
                let applied = store.commit(&key, &changes).await?;
                let mut state = self.state();
                if applied {
                    let slid = state.meta.as_mut().is_some_and(|meta| apply_meta(meta, &changes));
                    // The cookie follows the idle deadline when it moved.
                    if slid {
                        state.cookie = CookieAction::Set;
                    }
                } else {
                    self.lost(&mut state);
                }
            }
            Plan::Regenerate { old, new, changes } => {
                let moved = store.regenerate(&old, &new.store_key(), &changes).await?;
                let mut state = self.state();
                if moved {
                    if !self.span.is_disabled() {
                        self.span.record(
                            "renewed",
                            tracing::field::display(self.shared.fingerprinter.fingerprint(&new)),
                        );
                    }
                    tracing::info!("session regenerated");
                    if let Some(meta) = state.meta.as_mut() {
                        apply_meta(meta, &changes);
                    }
                    state.id = Some(new);
                    state.cookie = CookieAction::Set;
                } else {
                    self.lost(&mut state);
                }
            }
            Plan::CommitOrCreate { key, changes, fresh } => match store.commit_or_create(&key, &changes, &fresh).await?
            {
                CommitOutcome::Applied(expiry) => {
                    let mut state = self.state();
                    state.persisted = true;
                    if let Incoming::Valid(ticket) = &self.incoming {
                        state.id = Some(ticket.id.clone());
                    }
                    // The commit slid the idle deadline: the cookie follows, when the
                    // store told us where the session now ends.
                    if let Some(expiry) = expiry {
                        state.expires_at = Some(expiry);
                        state.cookie = CookieAction::Set;
                    }
                }
                CommitOutcome::Created => match fresh.id() {
                    Some(id) => self.created(id.clone(), fresh.record(&changes)),
                    None => tracing::warn!("the store reported a fresh session it never drew a key for"),
                },
                CommitOutcome::Dropped => {
                    tracing::warn!("a fresh session ID was already taken; the change set was dropped")
                }
            },
        }
        Ok(())
    }

    async fn create(&self, mut id: SessionId, record: SessionRecord) -> Result<(), StoreError> {
        for _ in 0..CREATE_ATTEMPTS {
            if self.shared.store.create(&id.store_key(), &record).await? {
                self.created(id, record);
                return Ok(());
            }
            id = SessionId::generate();
        }
        tracing::warn!("could not find a free session ID; the new session was not stored");
        Ok(())
    }

    fn created(&self, id: SessionId, record: SessionRecord) {
        if !self.span.is_disabled() {
            self.span.record(
                "session",
                tracing::field::display(self.shared.fingerprinter.fingerprint(&id)),
            );
        }
        tracing::debug!("session created");
        let mut state = self.state();
        state.id = Some(id);
        state.persisted = true;
        state.loaded = true;
        state.meta = Some(record.meta);
        state.cookie = CookieAction::Set;
    }

    /// The session vanished under the request (destroyed, expired, revoked): its
    /// change set is dropped and the client starts anew next time.
    fn lost(&self, state: &mut State) {
        tracing::debug!("session is gone; its change set was dropped");
        state.persisted = false;
        state.id = None;
        state.meta = None;
        state.incoming_gone = true;
        state.cookie = CookieAction::Remove;
    }

    /// Writes the ticket (cookie or header) and cache headers into the response.
    pub(crate) fn finish(&self, response: &mut Parts) {
        let shared = &self.shared;
        let state = self.state();
        let live_and_loaded = state.loaded && state.persisted;
        let action = match state.cookie {
            CookieAction::Keep if live_and_loaded => {
                let resign = matches!(&self.incoming, Incoming::Valid(t) if t.needs_resign);
                if shared.config.rolling || resign || state.slid {
                    CookieAction::Set
                } else {
                    CookieAction::Keep
                }
            }
            CookieAction::Keep if matches!(self.incoming, Incoming::Invalid) || state.incoming_gone => {
                CookieAction::Remove
            }
            other => other,
        };
        // Nothing to remove when the client never sent a ticket.
        let action = match (action, &self.incoming) {
            (CookieAction::Remove, Incoming::Absent) => CookieAction::Keep,
            (action, _) => action,
        };
        let via_header = self.via_header && shared.header.is_some();
        if matches!(action, CookieAction::Keep) && !via_header {
            return; // the client's cookie stands: nothing to write
        }
        let ticket = match (action, &state.id) {
            (CookieAction::Set, Some(id)) => Some(shared.signer.sign(id)),
            (CookieAction::Set, None) => return,
            _ => None,
        };
        let max_age = match state.meta.as_ref().map(SessionMeta::expires_at).or(state.expires_at) {
            Some(expiry) if matches!(action, CookieAction::Set) => {
                expiry.duration_since(self.now()).unwrap_or(Duration::ZERO)
            }
            _ => shared.config.idle_timeout,
        };
        drop(state);

        if let (true, Some(header)) = (self.via_header, &shared.header) {
            let value = match (action, ticket) {
                (CookieAction::Set, Some(ticket)) => ticket,
                (CookieAction::Remove, _) => String::new(),
                _ => match &self.incoming {
                    // Echo the (re-signed) ticket the client sent and still holds.
                    Incoming::Valid(t) if !self.state().incoming_gone => shared.signer.sign(&t.id),
                    _ => return,
                },
            };
            let value = HeaderValue::from_str(&value).expect("tickets are base64url");
            response.headers.insert(header.clone(), value);
            add_cache_headers(
                response,
                HeaderValue::from_str(header.as_str()).expect("header names are valid values"),
            );
            return;
        }
        let cookie = match (action, ticket) {
            (CookieAction::Set, Some(ticket)) => shared.cookie.set(&ticket, max_age),
            (CookieAction::Remove, _) => shared.cookie.removal(),
            _ => return,
        };
        response.headers.append(SET_COOKIE, cookie);
        add_cache_headers(response, HeaderValue::from_static("cookie"));
    }
}

/// Applies the change set's user binding and idle deadline to the request's view of
/// the metadata, as the store did; returns whether the idle deadline moved.
fn apply_meta(meta: &mut SessionMeta, changes: &ChangeSet) -> bool {
    match &changes.user {
        Some(UserChange::Bind(user)) => meta.user = Some(user.clone()),
        Some(UserChange::Unbind) => meta.user = None,
        None => {}
    }
    match changes.idle_deadline {
        Some(deadline) if changes.slides(meta.idle_deadline) => {
            meta.idle_deadline = deadline;
            meta.last_seen = changes.now;
            true
        }
        _ => false,
    }
}

fn add_cache_headers(response: &mut Parts, vary_on: HeaderValue) {
    response.headers.append(VARY, vary_on);
    if !response.headers.contains_key(CACHE_CONTROL) {
        response
            .headers
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
