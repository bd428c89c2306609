//! Turning what a request did to its session into store calls, and following what
//! the store did in the request's state.

use std::time::{Duration, SystemTime};

use super::RequestSession;
use super::state::{CookieAction, Incoming, PERSISTENT_KEY, Pending, State, Status};
use crate::clock::to_millis;
use crate::device::DEVICE_KEY;
use crate::id::{SessionId, StoreKey};
use crate::store::{
    ChangeSet, CommitOutcome, FreshSession, SessionMeta, SessionRecord, StoreError, Touch, UserChange, data_bytes,
};

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
    /// The request may not write at all (its ticket's session moved).
    Refused,
}

/// Why a commit wrote nothing, when it is not the session being gone.
#[derive(Debug)]
pub(crate) enum CommitError {
    /// The store failed: nothing is known to be written; the pending changes were
    /// put back.
    Store(StoreError),
    /// The session changed under the request (a key it read, or a regenerate):
    /// nothing of the request was applied, and its changes are dropped.
    Conflict,
    /// The request's writes would take the session to `bytes`, past the cap:
    /// nothing was applied, and its changes are dropped.
    TooLarge { bytes: usize },
}

impl From<StoreError> for CommitError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// How many fresh IDs to try when an insert finds its key taken (2^-256 odds).
const CREATE_ATTEMPTS: usize = 3;

impl RequestSession {
    /// Commits what the request changed so far. Safe to call more than once; after a
    /// conflict, every call answers `Conflict` until the session is reloaded.
    ///
    /// Planning is synchronous; the store work (a large future) is boxed and only
    /// when there is some, so a request with nothing to commit carries and moves a
    /// small future.
    pub(crate) async fn commit(&self) -> Result<(), CommitError> {
        let (destroy, plan, taken) = {
            let mut state = self.state();
            if state.conflict {
                return Err(CommitError::Conflict);
            }
            // One time for the whole commit: a sign-in's recorded time and the
            // session's own times agree to the millisecond.
            let now = self.now();
            self.record_device(&mut state, now);
            if let Some(bytes) = self.past_cap(&state) {
                state.pending = Pending::default();
                return Err(CommitError::TooLarge { bytes });
            }
            let taken = std::mem::take(&mut state.pending);
            let plan = self.plan(&mut state, &taken, now);
            (taken.destroy, plan, taken)
        };
        if destroy.is_none() && matches!(plan, Plan::Nothing) {
            #[cfg(feature = "express")]
            if taken.ended {
                Box::pin(self.end_express()).await;
            }
            return Ok(());
        }
        if matches!(plan, Plan::Refused) {
            return Err(self.conflicted(false));
        }
        #[cfg(feature = "express")]
        let ended = taken.ended;
        match Box::pin(self.execute(destroy, plan)).await {
            #[cfg(feature = "express")]
            Ok(()) if ended => {
                Box::pin(self.end_express()).await;
                Ok(())
            }
            Err(CommitError::Store(err)) => {
                let mut state = self.state();
                let newer = std::mem::take(&mut state.pending);
                state.pending = taken;
                state.pending.restore_under(newer);
                Err(CommitError::Store(err))
            }
            other => other,
        }
    }

    /// The cookie persistence the session at `key` chose for itself (`Some(None)`:
    /// the layer's default), read without moving its deadline; `None` when the
    /// read failed (the cookie then stays as the client has it).
    async fn persistence_of(&self, key: &StoreKey) -> Option<Option<bool>> {
        let now = self.now();
        let touch = Touch::peek(now, now);
        match self.settings.store.load(key, &touch).await {
            Ok(loaded) => Some(
                loaded
                    .live()
                    .and_then(|record| record.data.get(PERSISTENT_KEY).and_then(|json| json.parse().ok())),
            ),
            Err(err) => {
                tracing::debug!(error = %err, "reading the session's cookie persistence failed; the cookie stays");
                None
            }
        }
    }

    /// The size the request's writes would give the session, when that passes
    /// the cap: the session as the request sees it (loaded, with its writes), or
    /// for a write-only request its writes alone. A request that writes nothing
    /// passes.
    fn past_cap(&self, state: &State) -> Option<usize> {
        if !state.pending.has_writes() {
            return None;
        }
        let bytes = if state.status.is_loaded() {
            data_bytes(&state.data)
        } else {
            data_bytes(&state.pending.set)
        };
        (bytes > self.settings.max_session_bytes).then_some(bytes)
    }

    /// Writes the request's device details into a session about to be created
    /// or bound to a user (with the time of that sign-in), when the layer records
    /// them.
    fn record_device(&self, state: &mut State, now: SystemTime) {
        let Some(device) = &self.device else {
            return;
        };
        let binds = matches!(state.pending.user, Some(UserChange::Bind(_)));
        let creates = state.status == Status::New && (state.pending.has_writes() || self.settings.save_uninitialized);
        if !(binds || creates) {
            return;
        }
        let json = device.device(binds.then(|| to_millis(now))).to_json();
        if state.data.get(DEVICE_KEY) != Some(&json) {
            state.write(DEVICE_KEY.to_owned(), json);
        }
    }

    fn plan(&self, state: &mut State, pending: &Pending, now: SystemTime) -> Plan {
        let settings = &self.settings;
        let writes = pending.has_writes();

        if matches!(state.incoming, Incoming::Moved) && !pending.regenerate {
            // A stale ticket of a session regenerated away: nothing it means to do
            // may land, in the old session or a new one (whose cookie would replace
            // the client's newer one). A sign-in (a regenerate) may start afresh: the
            // client asks for a new session then, and gets one.
            return if pending.wants_change() {
                Plan::Refused
            } else {
                Plan::Nothing
            };
        }
        if !state.status.is_loaded() {
            // Only the write-only handle was used: commit blind.
            if !writes {
                return Plan::Nothing;
            }
            let changes = self.change_set(state, pending, now);
            let fresh = FreshSession::new(settings.fresh_meta(now));
            return match &state.incoming {
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
        if state.status == Status::Stored {
            if !(writes || pending.touch || pending.regenerate || settings.resave) {
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
                    new: settings.store.successor_id(&key),
                    old: key,
                    changes,
                };
            }
            return Plan::Commit { key, changes };
        }
        if writes || settings.save_uninitialized || (pending.touch && pending.destroy.is_none()) {
            let mut record = SessionRecord::new(settings.fresh_meta(now));
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
        changes.add = pending.add.values().cloned().collect();
        changes.expect = pending.expect.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        changes.user = pending.user.clone();
        changes.idle_deadline = Some(now + self.settings.idle_timeout);
        // Slide as loads do, once per touch step; an explicit touch() slides now.
        if !pending.touch {
            changes.idle_min_step = self.settings.touch_step;
        }
        changes.absolute_deadline = state.meta.as_ref().map(|meta| meta.absolute_deadline);
        changes
    }

    async fn execute(&self, destroy: Option<StoreKey>, plan: Plan) -> Result<(), CommitError> {
        let store = &self.settings.store;
        if let Some(key) = destroy {
            store.delete(&key).await?;
            tracing::info!("session destroyed");
            let mut state = self.state();
            state.cookie = CookieAction::Remove;
        }
        match plan {
            Plan::Nothing => Ok(()),
            Plan::Refused => Err(self.conflicted(false)),
            Plan::Create { id, record } => self.create(id, record).await,
            Plan::Commit { key, changes } => match store.commit(&key, &changes).await? {
                CommitOutcome::Applied(_) => {
                    let mut state = self.state();
                    let slid = state.meta.as_mut().is_some_and(|meta| apply_meta(meta, &changes));
                    // The cookie follows the idle deadline when it moved.
                    if slid {
                        state.cookie = CookieAction::Set;
                    }
                    Ok(())
                }
                outcome => self.not_written(outcome),
            },
            Plan::Regenerate { old, new, changes } => match store.regenerate(&old, &new.store_key(), &changes).await? {
                CommitOutcome::Applied(_) => {
                    if !self.span.is_disabled() {
                        self.span.record(
                            "renewed",
                            tracing::field::display(self.settings.fingerprinter.fingerprint(&new)),
                        );
                    }
                    tracing::info!("session regenerated");
                    let mut state = self.state();
                    if let Some(meta) = state.meta.as_mut() {
                        apply_meta(meta, &changes);
                    }
                    #[cfg(feature = "express")]
                    if let Some(pending) = state.express_claim.as_mut() {
                        // An import undone later deletes the session where it now is.
                        pending.session = Some(new.store_key());
                    }
                    state.id = Some(new);
                    state.cookie = CookieAction::Set;
                    Ok(())
                }
                outcome => self.not_written(outcome),
            },
            Plan::CommitOrCreate { key, changes, fresh } => match store.commit_or_create(&key, &changes, &fresh).await?
            {
                CommitOutcome::Applied(expiry) => {
                    {
                        let mut state = self.state();
                        let known = match state.status {
                            Status::WrittenBlind { expires_at } => expires_at,
                            _ => None,
                        };
                        state.status = Status::WrittenBlind {
                            expires_at: expiry.or(known),
                        };
                        state.id = state.incoming.id().cloned();
                    }
                    // The commit slid the idle deadline: the cookie follows, when the
                    // store told us where the session now ends, with the session's
                    // own persistence (read for it: once per touch step at most).
                    if expiry.is_some()
                        && let Some(persistent) = self.persistence_of(&key).await
                    {
                        let mut state = self.state();
                        state.persistent_hint = persistent;
                        state.cookie = CookieAction::Set;
                    }
                    Ok(())
                }
                CommitOutcome::Created => match fresh.id() {
                    Some(id) => {
                        self.created(id.clone(), fresh.record(&changes));
                        Ok(())
                    }
                    None => {
                        tracing::warn!("the store reported a fresh session it never drew a key for");
                        Err(self.conflicted(false))
                    }
                },
                CommitOutcome::Gone => {
                    tracing::warn!("the store neither applied nor created a write-only commit");
                    Err(self.conflicted(false))
                }
                outcome => self.not_written(outcome),
            },
        }
    }

    /// Follows a write the store did not apply: the session is gone (the change set
    /// is dropped and the client told to forget its ticket), or it moved or changed
    /// under the request (a conflict).
    fn not_written(&self, outcome: CommitOutcome) -> Result<(), CommitError> {
        match outcome {
            CommitOutcome::Gone => {
                self.lost(&mut self.state());
                Ok(())
            }
            CommitOutcome::Moved => Err(self.conflicted(true)),
            _ => Err(self.conflicted(false)),
        }
    }

    /// Marks the request as conflicted: what it meant to write is dropped, and its
    /// response becomes a 409 unless the handler reloads. `moved`: the session was
    /// regenerated away, so the request goes on as an anonymous one whose ticket is
    /// stale.
    fn conflicted(&self, moved: bool) -> CommitError {
        let mut state = self.state();
        state.conflict = true;
        state.pending = Pending::default();
        if moved {
            if matches!(state.incoming, Incoming::Valid(_)) {
                state.incoming = Incoming::Moved;
            }
            state.status = Status::New;
            state.id = None;
            state.meta = None;
        }
        tracing::debug!(
            moved,
            "the session changed under the request; nothing of it was applied"
        );
        CommitError::Conflict
    }

    pub(super) async fn create(&self, mut id: SessionId, record: SessionRecord) -> Result<(), CommitError> {
        for _ in 0..CREATE_ATTEMPTS {
            if self.settings.store.create(&id.store_key(), &record).await? {
                self.created(id, record);
                return Ok(());
            }
            id = SessionId::generate();
        }
        tracing::warn!("could not find a free session ID; the new session was not stored");
        Err(self.conflicted(false))
    }

    fn created(&self, id: SessionId, record: SessionRecord) {
        if !self.span.is_disabled() {
            self.span.record(
                "session",
                tracing::field::display(self.settings.fingerprinter.fingerprint(&id)),
            );
        }
        tracing::debug!("session created");
        let mut state = self.state();
        if !state.status.is_loaded() {
            // Written blind: the view is what was just stored, under anything since.
            state.rebase(record.data);
        }
        state.id = Some(id);
        state.status = Status::Stored;
        state.meta = Some(record.meta);
        state.cookie = CookieAction::Set;
    }

    /// The session vanished under the request (destroyed, expired, revoked): its
    /// change set is dropped and the client starts anew next time.
    fn lost(&self, state: &mut State) {
        tracing::debug!("session is gone; its change set was dropped");
        state.status = Status::New;
        state.id = None;
        state.meta = None;
        if matches!(state.incoming, Incoming::Valid(_)) {
            state.incoming = Incoming::Gone;
        }
        state.cookie = CookieAction::Remove;
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
