//! Taking over an express session: the record becomes this request's session
//! before the handler runs, its claim is settled once the response carries the
//! new ticket (or undone when the request never answers), and a sign-out here
//! ends the express session too.

use std::sync::Arc;

use http::header::SET_COOKIE;
use http::response::Parts;
use http::{HeaderMap, HeaderValue};

use super::RequestSession;
use super::state::{Incoming, PERSISTENT_KEY, RESERVED_PREFIX};
use crate::clock::to_millis;
use crate::cookie::SameSite;
use crate::device::DEVICE_KEY;
use crate::id::{SessionId, StoreKey};
use crate::import::express::{Claim, ExpressSid, Found, Outcome};
use crate::settings::Settings;
use crate::store::SessionRecord;

/// An import whose response is not ready yet. Dropped unsettled (the request
/// failed or was cancelled before it answered), it undoes itself: the record goes
/// back and the session made of it is deleted, so the next request imports again.
pub(crate) struct PendingImport {
    settings: Arc<Settings>,
    claim: Option<Claim>,
    session: StoreKey,
}

impl PendingImport {
    async fn settle(mut self, now: std::time::SystemTime) {
        if let (Some(claim), Some(importer)) = (self.claim.take(), &self.settings.express) {
            importer.settle(claim, now).await;
        }
    }
}

impl Drop for PendingImport {
    fn drop(&mut self) {
        let Some(claim) = self.claim.take() else {
            return;
        };
        let (settings, session) = (self.settings.clone(), self.session);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("an unanswered express import could not be undone outside a runtime; its claim lapses");
            return;
        };
        runtime.spawn(async move {
            // The session goes first: it never outlives the record's return.
            if let Err(err) = settings.store.delete(&session).await {
                tracing::warn!(error = %err, "deleting the session of an unanswered express import failed");
            }
            if let Some(importer) = &settings.express {
                importer.put_back(&claim).await;
            }
            tracing::info!("undid an express import whose request never answered");
        });
    }
}

impl RequestSession {
    /// Keeps the request's express cookie (for a sign-out), and answers its sid
    /// when it verifies and the request may import it: `may_import` (no valid
    /// ticket of the layer, cookies rather than the header), and not a cross-site
    /// request, whose response could not set this layer's `SameSite` ticket.
    pub(crate) fn find_express(&mut self, headers: &HeaderMap, may_import: bool) -> Option<ExpressSid> {
        let importer = self.settings.express.as_ref()?;
        self.express_cookie = importer.cookie(headers);
        let cross_site = self.settings.cookie.same_site != SameSite::None
            && headers
                .get("sec-fetch-site")
                .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        let value = self.express_cookie.as_deref().filter(|_| may_import && !cross_site)?;
        let sid = importer.verify(value);
        if sid.is_none() {
            tracing::debug!("ignored an express cookie that did not verify");
            Outcome::Invalid.count();
        }
        sid
    }

    /// Turns the express session of `sid` into this request's session, stored
    /// and bound as it was. Anything that goes wrong leaves the request anonymous
    /// and the express session where it was. While another request imports the
    /// same session, this one is served like a stale ticket's: anonymous, its
    /// writes refused, the client's cookies left alone (they are about to hold the
    /// new ticket).
    pub(crate) async fn import_express(&self, sid: &ExpressSid) {
        let Some(importer) = &self.settings.express else {
            return;
        };
        let now = self.now();
        let found = match importer.take(sid, now, RESERVED_PREFIX).await {
            Ok(Ok(found)) => found,
            Ok(Err(outcome)) => {
                match outcome {
                    Outcome::Unreadable => tracing::warn!(
                        "an express session record is not a session's JSON (or its cookie's expiry no date); it \
                         was left to express"
                    ),
                    Outcome::Claimed => self.state().incoming = Incoming::Moved,
                    _ => {}
                }
                tracing::debug!(
                    outcome = outcome.as_str(),
                    "a signed express cookie brought no express session to import"
                );
                outcome.count();
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "reading the express session failed; the request goes on anonymous");
                Outcome::Failed.count();
                return;
            }
        };
        let record = self.record_of(&found, now);
        let bytes: usize = record.data.iter().map(|(key, value)| key.len() + value.len()).sum();
        if bytes > self.settings.max_session_bytes {
            tracing::warn!(
                bytes,
                limit = self.settings.max_session_bytes,
                "an express session is larger than the size cap (max_session_bytes); it was left to express"
            );
            self.undo(found).await;
            Outcome::TooLarge.count();
            return;
        }
        match self.create(SessionId::generate(), record).await {
            Ok(()) => {
                tracing::info!(user = found.user.is_some(), "imported an express session");
                let mut state = self.state();
                state.express_removal = found.removal;
                if let (Some(claim), Some(id)) = (found.claim, &state.id) {
                    state.express_claim = Some(PendingImport {
                        settings: self.settings.clone(),
                        claim: Some(claim),
                        session: id.store_key(),
                    });
                }
                Outcome::Imported.count();
            }
            Err(err) => {
                tracing::warn!(error = ?err, "storing an imported express session failed; it was left to express");
                self.undo(found).await;
                Outcome::Failed.count();
            }
        }
    }

    /// The session record an express session becomes at `now`.
    fn record_of(&self, found: &Found, now: std::time::SystemTime) -> SessionRecord {
        let mut record = SessionRecord::new(self.settings.fresh_meta(now));
        if let Some(end) = found.ends_at {
            let meta = &mut record.meta;
            meta.absolute_deadline = meta.absolute_deadline.min(end);
            meta.idle_deadline = meta.idle_deadline.min(end);
        }
        record.data.extend(found.fields.iter().cloned());
        if !found.persistent {
            // express gave it a browser-session cookie: so does cloakroom.
            record.data.insert(PERSISTENT_KEY.to_owned(), "false".to_owned());
        }
        record.meta.user.clone_from(&found.user);
        if let Some(device) = &self.device {
            let signed_in_at = found.user.is_some().then(|| to_millis(now));
            record
                .data
                .insert(DEVICE_KEY.to_owned(), device.device(signed_in_at).to_json());
        }
        record
    }

    /// Puts back the record of an express session that was not imported.
    async fn undo(&self, found: Found) {
        if let (Some(claim), Some(importer)) = (&found.claim, &self.settings.express) {
            importer.put_back(claim).await;
        }
    }

    /// The response carries the imported session's ticket: the import is final.
    pub(crate) async fn settle_import(&self) {
        let pending = self.state().express_claim.take();
        if let Some(pending) = pending {
            pending.settle(self.now()).await;
        }
    }

    /// After this request destroyed its session: the express session its express
    /// cookie names (if any) ends too, so no later request imports it again.
    pub(crate) async fn end_express(&self) {
        let (Some(importer), Some(value)) = (&self.settings.express, &self.express_cookie) else {
            return;
        };
        let Some(sid) = importer.verify(value) else {
            return;
        };
        match importer.end(&sid).await {
            // An import of this very request already removes the cookie, with the
            // attributes its record gave.
            Ok(removal) => {
                self.state().express_removal.get_or_insert(removal);
            }
            Err(err) => tracing::warn!(error = %err, "ending the express session at sign-out failed"),
        }
    }

    /// Adds the `Set-Cookie` that removes the express cookie, when due; returns
    /// whether it did.
    pub(crate) fn remove_express_cookie(&self, response: &mut Parts) -> bool {
        let removal: Option<HeaderValue> = self.state().express_removal.take();
        match removal {
            Some(removal) => {
                response.headers.append(SET_COOKIE, removal);
                true
            }
            None => false,
        }
    }
}
