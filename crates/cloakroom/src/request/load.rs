//! The lazy load: the store is read on the first extraction, at most once per
//! request, and the layer's own timeouts are checked on top of the store's.

use std::collections::HashMap;

use super::RequestSession;
use super::state::{CookieAction, Incoming, Pending, Status};
use crate::id::SessionId;
use crate::store::{Loaded, SessionRecord, StoreError, Touch};

/// What a load found, as the layer judges it.
enum Found {
    /// A live record within this layer's timeouts.
    Live {
        record: SessionRecord,
        /// The load slid the idle deadline: the cookie should follow.
        slid: bool,
    },
    /// The session was regenerated away: the ticket is stale.
    Moved,
    /// No session (or one past this layer's timeouts).
    Gone,
}

impl RequestSession {
    /// Reads the session from the store unless this request already did.
    pub(crate) async fn ensure_loaded(&self) -> Result<(), StoreError> {
        if self.state().status.is_loaded() {
            return Ok(());
        }
        let _guard = self.load_lock.lock().await;
        let id = {
            let state = self.state();
            if state.status.is_loaded() {
                return Ok(());
            }
            state.incoming.id().cloned()
        };
        self.load(id).await
    }

    /// Reads the session again, keeping this request's pending changes; after a
    /// conflict, this is the fresh start a retry needs.
    pub(crate) async fn reload(&self) -> Result<(), StoreError> {
        let _guard = self.load_lock.lock().await;
        let id = {
            let mut state = self.state();
            state.conflict = false;
            match state.status {
                Status::Stored => state.id.clone(),
                Status::New => None,
                Status::Unread | Status::WrittenBlind { .. } => state.incoming.id().cloned(),
            }
        };
        self.load(id).await
    }

    /// Reads the session at `id` (if any) into the state.
    async fn load(&self, id: Option<SessionId>) -> Result<(), StoreError> {
        let found = match &id {
            Some(id) => self.read_live(id).await?,
            None => Found::Gone,
        };
        let mut state = self.state();
        let from_client = matches!(state.incoming, Incoming::Valid(_));
        match (id, found) {
            (Some(id), Found::Live { record, slid }) => {
                state.status = Status::Stored;
                state.id = Some(id);
                state.meta = Some(record.meta);
                if slid {
                    state.cookie = CookieAction::Set;
                }
                state.rebase(record.data);
                return Ok(());
            }
            (Some(_), Found::Moved) => {
                tracing::debug!("session ticket is stale: its session was regenerated; serving it anonymously");
                // What was written before the load was meant for the session that moved.
                state.conflict |= state.pending.wants_change();
                state.pending = Pending::default();
                if from_client {
                    state.incoming = Incoming::Moved;
                }
            }
            (Some(_), _) => {
                tracing::debug!("session ticket refers to a session that is gone; starting anew");
                // Writes meant for the session that is gone go nowhere.
                state.pending = Pending::default();
                if from_client {
                    state.incoming = Incoming::Gone;
                }
            }
            (None, _) => {}
        }
        state.status = Status::New;
        state.id = None;
        state.meta = None;
        state.rebase(HashMap::new());
        Ok(())
    }

    /// Loads a live session, enforcing this layer's timeouts on top of the store's
    /// deadlines.
    async fn read_live(&self, id: &SessionId) -> Result<Found, StoreError> {
        let settings = &self.settings;
        let now = self.now();
        let touch = Touch::new(now, now + settings.idle_timeout).min_step(settings.touch_step);
        let key = id.store_key();
        let record = match settings.store.load(&key, &touch).await? {
            Loaded::Live(record) => record,
            Loaded::Moved => return Ok(Found::Moved),
            Loaded::Gone => return Ok(Found::Gone),
        };
        let meta = &record.meta;
        if now >= meta.created_at + settings.absolute_timeout || now >= meta.last_seen + settings.idle_timeout {
            // Stored under longer timeouts than this layer allows: dead here.
            settings.store.delete(&key).await?;
            tracing::debug!("session expired under the configured timeouts");
            return Ok(Found::Gone);
        }
        // The deadline is the one this load asked for, and the session is not one
        // created this very millisecond (whose deadline is that already).
        let slid = meta.idle_deadline == touch.idle_deadline && meta.last_seen == now && meta.created_at < now;
        Ok(Found::Live { record, slid })
    }
}
