//! The write-only handle: sets and removes keys without reading the store.

use std::fmt;

use axum_core::extract::FromRequestParts;
use http::request::Parts;
use serde::Serialize;

use super::{SessionRejection, lazy_session};
use crate::error::Error;
use crate::session::{Session, checked_key};

/// A write-only handle on the request's session, for handlers that only set or
/// remove keys: it never reads the store, so its request makes exactly one store
/// call, the commit.
///
/// If the request's ticket is missing, or its session is gone, that same commit
/// creates a fresh anonymous session (new ID, new cookie, no user) holding only
/// these changes.
///
/// ```
/// use axum::{Router, extract::Path, routing::put};
/// use cloakroom::{SessionLayer, SessionWriter};
///
/// async fn set_theme(writer: SessionWriter, Path(theme): Path<String>) -> Result<(), cloakroom::Error> {
///     writer.insert("theme", theme)
/// }
///
/// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build().unwrap();
/// let app: Router = Router::new().route("/theme/{theme}", put(set_theme)).layer(layer);
/// ```
#[derive(Clone)]
pub struct SessionWriter {
    session: Session,
}

impl fmt::Debug for SessionWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionWriter").finish_non_exhaustive()
    }
}

impl SessionWriter {
    /// Sets `key` to `value` at commit. Keys starting with
    /// [`Session::SCOPE_PREFIX`] are refused.
    ///
    /// ```
    /// use cloakroom::SessionWriter;
    ///
    /// async fn remember_locale(writer: SessionWriter) -> Result<(), cloakroom::Error> {
    ///     writer.insert("locale", "fr-CA")
    /// }
    /// ```
    pub fn insert(&self, key: impl Into<String>, value: impl Serialize) -> Result<(), Error> {
        self.session.insert(key, value)
    }

    /// Adds `by` to the integer under `key` at commit (absent counts as 0), applied
    /// by the store: concurrent increments all count and never conflict. Without a
    /// read, the handle cannot see the result; a key that holds no integer when the
    /// commit comes answers 409.
    ///
    /// ```
    /// use cloakroom::SessionWriter;
    ///
    /// async fn count_view(writer: SessionWriter) -> Result<(), cloakroom::Error> {
    ///     writer.increment("views", 1)
    /// }
    /// ```
    pub fn increment(&self, key: &str, by: i64) -> Result<(), Error> {
        self.session.increment_blind(checked_key(key.to_owned())?, by)
    }

    /// Removes `key` at commit.
    ///
    /// ```
    /// use cloakroom::SessionWriter;
    ///
    /// async fn dismiss_banner(writer: SessionWriter) -> Result<(), cloakroom::Error> {
    ///     writer.remove("banner")
    /// }
    /// ```
    pub fn remove(&self, key: &str) -> Result<(), Error> {
        let key = checked_key(key.to_owned())?;
        self.session.remove_raw(&key);
        Ok(())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionWriter {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            session: lazy_session(parts)?,
        })
    }
}
