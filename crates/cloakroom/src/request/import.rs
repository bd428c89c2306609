//! Taking over an express session: the record becomes this request's session
//! before the handler runs, and a sign-out here ends the express session too.

use http::HeaderValue;
use http::header::SET_COOKIE;
use http::response::Parts;

use super::RequestSession;
use super::state::{PERSISTENT_KEY, RESERVED_PREFIX};
use crate::clock::to_millis;
use crate::device::DEVICE_KEY;
use crate::id::SessionId;
use crate::import::express::{ExpressSid, Importer, Missed, count};
use crate::store::SessionRecord;

impl RequestSession {
    /// Keeps the request's express cookie (for a sign-out), and answers its sid
    /// when it verifies and the request may import it (`may_import`: it carries
    /// no valid ticket of the layer, and came with cookies).
    pub(crate) fn find_express(&mut self, headers: &http::HeaderMap, may_import: bool) -> Option<ExpressSid> {
        let importer = self.settings.express.as_ref()?;
        self.express_cookie = importer.cookie(headers);
        let sid = importer.verify(self.express_cookie.as_deref().filter(|_| may_import)?);
        if sid.is_none() {
            tracing::debug!("ignored an express cookie that did not verify");
            count("invalid");
        }
        sid
    }

    /// Turns the express session of `sid` into this request's session, stored
    /// and bound as it was. Anything that goes wrong leaves the request anonymous
    /// and the express session where it was.
    pub(crate) async fn import_express(&self, importer: &Importer, sid: &ExpressSid) {
        let now = self.now();
        let found = match importer.take(sid, now, RESERVED_PREFIX).await {
            Ok(Ok(found)) => found,
            Ok(Err(missed)) => {
                let outcome = match missed {
                    Missed::Unknown => "unknown",
                    Missed::Expired => "expired",
                    Missed::Unreadable => {
                        tracing::warn!("an express session record is not a session's JSON; it was not imported");
                        "unreadable"
                    }
                };
                tracing::debug!(outcome, "a signed express cookie brought no live express session");
                count(outcome);
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "reading the express session failed; the request goes on anonymous");
                count("failed");
                return;
            }
        };
        let settings = &self.settings;
        let mut record = SessionRecord::new(settings.fresh_meta(now));
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
        let bytes: usize = record.data.iter().map(|(key, value)| key.len() + value.len()).sum();
        if bytes > settings.max_session_bytes {
            tracing::warn!(
                bytes,
                limit = settings.max_session_bytes,
                "an express session is larger than the size cap (max_session_bytes); it was left to express"
            );
            self.put_back(importer, &found).await;
            count("too_large");
            return;
        }
        match self.create(SessionId::generate(), record).await {
            Ok(()) => {
                tracing::info!(user = found.user.is_some(), "imported an express session");
                self.state().express_removal = found.removal;
                count("imported");
            }
            Err(err) => {
                tracing::warn!(error = ?err, "storing an imported express session failed; it was left to express");
                self.put_back(importer, &found).await;
                count("failed");
            }
        }
    }

    async fn put_back(&self, importer: &Importer, found: &crate::import::express::Found) {
        match importer.put_back(found).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("an express session could not be put back: its key is taken again"),
            Err(err) => tracing::error!(error = %err, "an express session taken for import could not be put back"),
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
            Ok(removal) => self.state().express_removal = Some(removal),
            Err(err) => tracing::warn!(error = %err, "ending the express session at sign-out failed"),
        }
    }

    /// Adds the `Set-Cookie` that removes the express cookie, when due.
    pub(crate) fn remove_express_cookie(&self, response: &mut Parts) {
        let removal: Option<HeaderValue> = self.state().express_removal.take();
        if let Some(removal) = removal {
            response.headers.append(SET_COOKIE, removal);
        }
    }
}
