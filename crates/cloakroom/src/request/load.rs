//! The lazy load: the store is read on the first extraction, at most once per
//! request, and the layer's own timeouts are checked on top of the store's.

use std::collections::HashMap;

use super::RequestSession;
use super::state::{CookieAction, Incoming, Pending, Status};
use crate::id::SessionId;
use crate::store::{SessionRecord, StoreError, Touch};

/// A live record as the layer accepts it.
struct Live {
    record: SessionRecord,
    /// The load slid the idle deadline: the cookie should follow.
    slid: bool,
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

    /// Reads the session again, keeping this request's pending changes.
    pub(crate) async fn reload(&self) -> Result<(), StoreError> {
        let _guard = self.load_lock.lock().await;
        let id = {
            let state = self.state();
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
        let live = match &id {
            Some(id) => self.read_live(id).await?,
            None => None,
        };
        let mut state = self.state();
        match (id, live) {
            (Some(id), Some(Live { record, slid })) => {
                state.status = Status::Stored;
                state.id = Some(id);
                state.meta = Some(record.meta);
                if slid {
                    state.cookie = CookieAction::Set;
                }
                state.rebase(record.data);
            }
            (id, _) => {
                if id.is_some() {
                    state.incoming = Incoming::Gone;
                    // Writes meant for the session that is gone go nowhere.
                    state.pending = Pending::default();
                    tracing::debug!("session ticket refers to a session that is gone; starting anew");
                }
                state.status = Status::New;
                state.id = None;
                state.meta = None;
                state.rebase(HashMap::new());
            }
        }
        Ok(())
    }

    /// Loads a live session, enforcing this layer's timeouts on top of the store's
    /// deadlines.
    async fn read_live(&self, id: &SessionId) -> Result<Option<Live>, StoreError> {
        let settings = &self.settings;
        let now = self.now();
        let touch = Touch::new(now, now + settings.idle_timeout).min_step(settings.touch_step);
        let key = id.store_key();
        let Some(record) = settings.store.load(&key, &touch).await? else {
            return Ok(None);
        };
        let meta = &record.meta;
        if now >= meta.created_at + settings.absolute_timeout || now >= meta.last_seen + settings.idle_timeout {
            // Stored under longer timeouts than this layer allows: dead here.
            settings.store.delete(&key).await?;
            tracing::debug!("session expired under the configured timeouts");
            return Ok(None);
        }
        let slid = meta.idle_deadline == touch.idle_deadline && meta.last_seen == now;
        Ok(Some(Live { record, slid }))
    }
}
