//! The axum extractors, one file each, and their typed rejection.
//!
//! | extractor | loads the session | rejects with |
//! | --- | --- | --- |
//! | [`Session`](crate::Session) | yes, once per request | missing layer (500), store unavailable (503) |
//! | [`SessionWriter`](crate::SessionWriter) | never | missing layer (500) |
//! | [`SignedIn`](crate::SignedIn) | yes | as `Session`, and not signed in (401) |
//! | [`Scoped<T>`](crate::Scoped), [`SessionData<T>`](crate::SessionData) | yes | as `Session` |

mod rejection;
mod session;
mod signed_in;
mod typed;
mod writer;

use http::request::Parts;

pub use self::rejection::SessionRejection;
pub use self::signed_in::SignedIn;
pub use self::writer::SessionWriter;
use crate::session::{LazySession, Session};

/// The request's session as the layer left it, not loaded yet.
fn lazy_session(parts: &Parts) -> Result<Session, SessionRejection> {
    parts
        .extensions
        .get::<LazySession>()
        .map(|lazy| lazy.0.clone())
        .ok_or_else(SessionRejection::missing_layer)
}
