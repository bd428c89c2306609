//! What the response tells the client: the ticket (a cookie, or the transport
//! header), and the cache headers that keep a personalised answer out of shared
//! caches.

use std::time::Duration;

use http::header::{CACHE_CONTROL, HeaderValue, SET_COOKIE, VARY};
use http::response::Parts;

use super::RequestSession;
use super::state::{CookieAction, Incoming, Status};

impl RequestSession {
    /// Writes the ticket (cookie or header) and cache headers into the response.
    pub(crate) fn finish(&self, response: &mut Parts) {
        let settings = &self.settings;
        let state = self.state();
        let action = match state.cookie {
            CookieAction::Keep if state.status == Status::Stored => {
                let resign = matches!(&state.incoming, Incoming::Valid(t) if t.needs_resign);
                if settings.rolling || resign {
                    CookieAction::Set
                } else {
                    CookieAction::Keep
                }
            }
            CookieAction::Keep if matches!(state.incoming, Incoming::Invalid | Incoming::Gone) => CookieAction::Remove,
            other => other,
        };
        // Nothing to remove when the client never sent a ticket.
        let action = match (action, &state.incoming) {
            (CookieAction::Remove, Incoming::Absent) => CookieAction::Keep,
            (action, _) => action,
        };
        let via_header = self.via_header && settings.header.is_some();
        if matches!(action, CookieAction::Keep) && !via_header {
            return; // the client's cookie stands: nothing to write
        }
        let ticket = match (action, &state.id) {
            (CookieAction::Set, Some(id)) => Some(settings.signer.sign(id)),
            (CookieAction::Set, None) => return,
            _ => None,
        };
        let max_age = match state.expires_at() {
            Some(expiry) if matches!(action, CookieAction::Set) => {
                expiry.duration_since(self.now()).unwrap_or(Duration::ZERO)
            }
            _ => settings.idle_timeout,
        };
        // A header client keeps the (re-signed) ticket it sent and still holds.
        let echo = match (via_header, action) {
            (true, CookieAction::Keep) => state.incoming.id().map(|id| settings.signer.sign(id)),
            _ => None,
        };
        drop(state);

        if let (true, Some(header)) = (via_header, &settings.header) {
            let value = match (action, ticket) {
                (CookieAction::Set, Some(ticket)) => ticket,
                (CookieAction::Remove, _) => String::new(),
                _ => match echo {
                    Some(ticket) => ticket,
                    None => return,
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
            (CookieAction::Set, Some(ticket)) => settings.cookie.set(&ticket, max_age),
            (CookieAction::Remove, _) => settings.cookie.removal(),
            _ => return,
        };
        response.headers.append(SET_COOKIE, cookie);
        add_cache_headers(response, HeaderValue::from_static("cookie"));
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
