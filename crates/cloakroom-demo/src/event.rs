//! What just happened: an event a form action leaves in the session for the
//! next page view to explain once ("a new session ID was issued at sign-in; your
//! cart came along"), then takes.

use cloakroom::Session;
use serde::{Deserialize, Serialize};

/// The session key of the event waiting to be shown.
pub const EVENT_KEY: &str = "event:last";

/// Something the page explains once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Event {
    /// A sign-in through the page's form: the session got a new ID.
    SignedIn {
        /// Who signed in.
        user: String,
        /// The fingerprint of the session before the sign-in, if there was one.
        before: Option<String>,
        /// How many cart lines the session held when it signed in (they stay).
        cart_lines: usize,
    },
    /// A sign-out through the page's form: the session was deleted.
    SignedOut {
        /// The fingerprint of the session that was deleted.
        before: Option<String>,
    },
}

/// Leaves `event` for the next page view.
pub fn leave(session: &Session, event: &Event) -> Result<(), cloakroom::Error> {
    session.insert(EVENT_KEY, event)
}

/// The event waiting, if any; it is removed, so it is shown once. A session
/// without one is left untouched (a page view stores nothing).
pub fn take(session: &Session) -> Result<Option<Event>, cloakroom::Error> {
    if !session.contains(EVENT_KEY) {
        return Ok(None);
    }
    // A value of another shape (an older demo's) is dropped, not shown.
    let event = session.get::<Event>(EVENT_KEY).unwrap_or(None);
    session.remove(EVENT_KEY)?;
    Ok(event)
}

/// A short, stable, non-secret name of `session` for people to compare: the
/// first 8 characters of its handle (a digest of its ID, never the ID).
pub fn fingerprint(session: &Session) -> Option<String> {
    session.handle().map(|handle| handle_fingerprint(handle.as_str()))
}

/// The fingerprint of a session with this handle.
pub fn handle_fingerprint(handle: &str) -> String {
    handle.chars().take(8).collect()
}
