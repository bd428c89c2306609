//! Taking over an express session: the record becomes this request's session
//! before the handler runs, its claim is settled once the response carries the
//! new ticket (or undone when the request never answers), and a sign-out here
//! ends the express session too.

use std::sync::Arc;

use http::header::{HeaderName, SET_COOKIE};
use http::response::Parts;
use http::{HeaderMap, HeaderValue};

use super::RequestSession;
use super::state::{CookieAction, Incoming, PERSISTENT_KEY, RESERVED_PREFIX};
use crate::clock::to_millis;
use crate::cookie::SameSite;
use crate::device::DEVICE_KEY;
use crate::id::{SessionId, StoreKey};
use crate::import::express::{Claim, ExpressSid, Found, Outcome};
use crate::settings::Settings;
use crate::store::{SessionRecord, data_bytes};

/// The fetch metadata header that tells a cross-site request (looked up by name on
/// every request while an import is configured, so parsed once here).
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// An import holding its record's claim until the response is ready. Dropped
/// unsettled (the request failed or was cancelled before it answered), it undoes
/// itself in a spawned task: the session made of the record is deleted and the
/// record put back, so the next request imports again. Where no task can run (no
/// runtime, or one shutting down), the claim lapses after its window instead.
pub(crate) struct PendingImport {
    settings: Arc<Settings>,
    claim: Option<Claim>,
    /// The session made of the record, once one may exist (its current key: a
    /// regenerate moves it).
    pub(crate) session: Option<StoreKey>,
}

impl PendingImport {
    fn new(settings: Arc<Settings>, claim: Claim) -> Self {
        Self {
            settings,
            claim: Some(claim),
            session: None,
        }
    }

    /// Makes the import final. The claim is let go only once settled: a request
    /// dropped during the settle still undoes it (its response never went out).
    async fn settle(&mut self, now: std::time::SystemTime) {
        if let (Some(claim), Some(importer)) = (&self.claim, &self.settings.express) {
            importer.settle(claim, now).await;
        }
        self.claim = None;
    }

    /// Undoes the import now.
    async fn undo(&mut self) {
        if let Some(claim) = self.claim.take() {
            undo(&self.settings, claim, self.session).await;
        }
    }
}

/// Deletes the session made of a record (if any), then puts the record back.
async fn undo(settings: &Settings, claim: Claim, session: Option<StoreKey>) {
    if let Some(session) = session
        && let Err(err) = settings.store.delete(&session).await
    {
        tracing::warn!(error = %err, "deleting the session of an undone express import failed");
    }
    if let Some(importer) = &settings.express {
        importer.put_back(&claim).await;
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
            undo(&settings, claim, session).await;
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
        let cross_site = self.settings.cookie.same_site != Some(SameSite::None)
            && headers
                .get(SEC_FETCH_SITE)
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
        let mut found = match importer.take(sid, now, RESERVED_PREFIX).await {
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
        // From here on the claim is held by a guard: a request dropped while the
        // session is stored undoes the import.
        let mut pending = found
            .claim
            .take()
            .map(|claim| PendingImport::new(self.settings.clone(), claim));
        let record = self.record_of(&mut found, now);
        let bytes = data_bytes(&record.data);
        if bytes > self.settings.max_session_bytes {
            tracing::warn!(
                bytes,
                limit = self.settings.max_session_bytes,
                "an express session is larger than the size cap (max_session_bytes); it was left to express"
            );
            if let Some(pending) = pending.as_mut() {
                pending.undo().await;
            }
            Outcome::TooLarge.count();
            return;
        }
        let id = SessionId::generate();
        if let Some(pending) = pending.as_mut() {
            pending.session = Some(id.store_key());
        }
        match self.create(id, record).await {
            Ok(()) => {
                tracing::info!(user = found.user.is_some(), "imported an express session");
                let mut state = self.state();
                state.express_removal = found.removal;
                if let Some(mut pending) = pending {
                    pending.session = state.id.as_ref().map(SessionId::store_key);
                    state.express_claim = Some(pending);
                }
                Outcome::Imported.count();
            }
            Err(err) => {
                tracing::warn!(error = ?err, "storing an imported express session failed; it was left to express");
                if let Some(pending) = pending.as_mut() {
                    pending.undo().await;
                }
                Outcome::Failed.count();
            }
        }
    }

    /// The session record an express session becomes at `now` (its fields move
    /// into the record).
    fn record_of(&self, found: &mut Found, now: std::time::SystemTime) -> SessionRecord {
        let mut record = SessionRecord::new(self.settings.fresh_meta(now));
        if let Some(end) = found.ends_at {
            let meta = &mut record.meta;
            meta.absolute_deadline = meta.absolute_deadline.min(end);
            meta.idle_deadline = meta.idle_deadline.min(end);
        }
        record.data.extend(std::mem::take(&mut found.fields));
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

    /// An import of this request waits for its response.
    pub(crate) fn import_pending(&self) -> bool {
        self.state().express_claim.is_some()
    }

    /// The response (`parts`, finished) is ready: an import of this request
    /// becomes final when the response carries its ticket or the session was
    /// ended here; otherwise it is undone, and the express cookie kept, so the
    /// next request imports again.
    pub(crate) async fn conclude_import(&self, parts: &mut Parts) {
        let (pending, sent, ended) = {
            let mut state = self.state();
            let sent = state.cookie == CookieAction::Set && state.id.is_some();
            (state.express_claim.take(), sent, state.id.is_none())
        };
        let Some(mut pending) = pending else {
            return;
        };
        if sent || ended {
            pending.settle(self.now()).await;
            return;
        }
        tracing::warn!("an imported session's ticket did not go out; the import was undone");
        pending.undo().await;
        if let Some(importer) = &self.settings.express {
            let kept: Vec<HeaderValue> = parts
                .headers
                .get_all(SET_COOKIE)
                .iter()
                .filter(|cookie| !importer.is_removal(cookie))
                .cloned()
                .collect();
            parts.headers.remove(SET_COOKIE);
            for cookie in kept {
                parts.headers.append(SET_COOKIE, cookie);
            }
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
