//! `Flash`: messages set in one request and shown once, in a later one.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum_core::extract::FromRequestParts;
use http::request::Parts;

use crate::error::Error;
use crate::extract::SessionRejection;
use crate::id::SessionId;
use crate::session::Session;

/// Where flash messages live in the session: a key each, in the reserved scope
/// namespace, so no key of the application can collide with one.
const FLASH_PREFIX: &str = "scope::flash::";

/// Flash messages: [`push`](Self::push) one in a request (before a redirect,
/// say), [`take`](Self::take) them in a later one, which shows each message once.
///
/// Safe under concurrency, as a per-key change set makes it:
/// - each message is a session key of its own, so messages pushed by concurrent
///   requests are all kept (no read-modify-write of one list);
/// - taking removes the messages in the request's own commit, expecting each to
///   be there still: of two concurrent requests that took the same messages, one
///   commits and the other answers 409 (its page, with the messages, is not
///   sent), so no message is shown twice and none is lost;
/// - a request that finds no message writes nothing, so a page view of a
///   visitor without a session stores no session.
///
/// Taking costs no store call of its own: the messages come with the request's
/// load and go with its commit.
///
/// ```
/// use axum::response::Redirect;
/// use cloakroom::Flash;
///
/// async fn save_profile(flash: Flash) -> Result<Redirect, cloakroom::Error> {
///     flash.push("Profile saved")?;
///     Ok(Redirect::to("/"))
/// }
///
/// async fn home(flash: Flash) -> String {
///     flash.take().join("\n") // shown once: the next view finds nothing
/// }
/// ```
#[derive(Clone)]
pub struct Flash {
    session: Session,
}

impl From<Session> for Flash {
    /// The flash of a session a handler already has.
    ///
    /// ```
    /// use cloakroom::{Flash, Session};
    ///
    /// let session = Session::detached();
    /// Flash::from(session.clone()).push("Welcome back")?;
    /// assert_eq!(Flash::from(session).take(), ["Welcome back"]);
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    fn from(session: Session) -> Self {
        Self { session }
    }
}

impl std::fmt::Debug for Flash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flash").field("messages", &self.keys().len()).finish()
    }
}

impl Flash {
    /// Adds a message for a later request, after the ones already waiting.
    ///
    /// ```
    /// use cloakroom::{Flash, Session};
    ///
    /// let flash = Flash::from(Session::detached());
    /// flash.push("Signed in as alice")?;
    /// flash.push("You have 2 new messages")?;
    /// assert_eq!(flash.peek(), ["Signed in as alice", "You have 2 new messages"]);
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn push(&self, message: impl Into<String>) -> Result<(), Error> {
        self.session.insert_raw(next_key(), message.into())
    }

    /// The waiting messages, oldest first, removed from the session at this
    /// request's commit (each only if no other request took it first: 409).
    /// A value that is not a string (written by hand under the flash prefix)
    /// reads as its JSON text.
    ///
    /// ```
    /// use cloakroom::{Flash, Session};
    ///
    /// let flash = Flash::from(Session::detached());
    /// flash.push("Saved")?;
    /// assert_eq!(flash.take(), ["Saved"]);
    /// assert!(flash.take().is_empty());
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn take(&self) -> Vec<String> {
        let keys = self.keys();
        let messages = self.messages(&keys);
        for key in &keys {
            self.session.guard_raw(key);
            self.session.remove_raw(key);
        }
        messages
    }

    /// The waiting messages, oldest first, left in the session.
    ///
    /// ```
    /// use cloakroom::{Flash, Session};
    ///
    /// let flash = Flash::from(Session::detached());
    /// flash.push("Saved")?;
    /// assert_eq!(flash.peek(), ["Saved"]);
    /// assert_eq!(flash.peek(), ["Saved"]);
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn peek(&self) -> Vec<String> {
        self.messages(&self.keys())
    }

    /// The messages under `keys`, in their order.
    fn messages(&self, keys: &[String]) -> Vec<String> {
        keys.iter()
            .filter_map(|key| match self.session.get::<String>(key) {
                Ok(message) => message,
                Err(_) => self
                    .session
                    .get::<serde_json::Value>(key)
                    .ok()
                    .flatten()
                    .map(|v| v.to_string()),
            })
            .collect()
    }

    /// The session the messages live in.
    ///
    /// ```
    /// use cloakroom::{Flash, Session};
    ///
    /// let flash = Flash::from(Session::detached());
    /// assert!(flash.session().is_new());
    /// ```
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The flash keys, oldest first (their names sort by time of the push).
    fn keys(&self) -> Vec<String> {
        self.session
            .keys()
            .into_iter()
            .filter(|key| key.starts_with(FLASH_PREFIX))
            .collect()
    }
}

/// A key for a new message: the time of the push in milliseconds, this
/// process's push count (order within a millisecond) and 8 random characters
/// (keys of pushes by other processes at the same moment stay apart).
fn next_key() -> String {
    static PUSHES: AtomicU32 = AtomicU32::new(0);
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let seq = PUSHES.fetch_add(1, Ordering::Relaxed);
    let random = SessionId::generate();
    format!("{FLASH_PREFIX}{ms:015}.{seq:010}.{}", &random.expose()[..8])
}

impl<S: Send + Sync> FromRequestParts<S> for Flash {
    type Rejection = SessionRejection;

    /// Loads the session, as [`Session`] does.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Session::from_request_parts(parts, state).await.map(Self::from)
    }
}
