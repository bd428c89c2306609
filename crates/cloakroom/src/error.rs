//! The one error type of cloakroom.

use axum_core::response::{IntoResponse, Response};
use http::StatusCode;

use crate::response::{ConflictFailure, StoreFailure, TooLargeFailure, json_error};
use crate::store::StoreError;

/// Everything that can go wrong in cloakroom.
///
/// Configuration mistakes come out of [`SessionConfig::build`](crate::SessionConfig::build)
/// as [`Error::Config`], naming the option and the fix. Bad client input is never an
/// error: a garbage or forged ticket just gets an anonymous session.
///
/// ```
/// use cloakroom::{Error, SessionLayer};
///
/// let err = SessionLayer::builder(b"short".to_vec()).build().unwrap_err();
/// assert!(matches!(err, Error::Config { option: "secret", .. }));
/// assert!(err.to_string().contains("at least 32 bytes"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration option has a value that cannot work.
    #[error("invalid session configuration `{option}`: {problem}")]
    Config {
        /// The option (builder method or environment variable) at fault.
        option: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value could not be turned into JSON.
    #[error("session value `{key}` could not be serialized: {source}")]
    Serialize {
        /// The session key.
        key: String,
        /// The serializer's error.
        source: serde_json::Error,
    },
    /// A stored value does not have the type asked for.
    #[error("session value `{key}` does not have the expected type: {source}")]
    Deserialize {
        /// The session key.
        key: String,
        /// The deserializer's error.
        source: serde_json::Error,
    },
    /// The key is reserved for session scopes (it starts with `scope::`).
    #[error("session key `{key}` is reserved for session scopes; use the Scoped extractor or another key")]
    ReservedKey {
        /// The key.
        key: String,
    },
    /// The session changed during the request (a key it read and wrote back was
    /// changed by another request, or the session was regenerated): nothing of
    /// the request was applied. [`Session::save`](crate::Session::save) returns it;
    /// reload and try again, or let the layer answer 409.
    #[error("the session changed during this request; try again")]
    Conflict,
    /// The request's writes would take the session to `bytes` (keys and values),
    /// past the layer's `limit`
    /// ([`max_session_bytes`](crate::SessionConfig::max_session_bytes)): nothing
    /// of the request was applied. The layer answers 413.
    #[error("the session would hold {bytes} bytes, past its cap of {limit}")]
    TooLarge {
        /// The size the request's writes would give the session.
        bytes: usize,
        /// The cap.
        limit: usize,
    },
    /// A session was asked for outside a request handled by a `SessionLayer`.
    #[error(
        "no session layer: add cloakroom::SessionLayer to the router with `.layer(session_layer)` \
         after the `.route(..)` calls whose handlers use sessions, so that it wraps them"
    )]
    MissingLayer,
}

impl Error {
    pub(crate) fn config(option: &'static str, problem: impl Into<String>) -> Self {
        Self::Config {
            option,
            problem: problem.into(),
        }
    }
}

/// Lets handlers return `Result<_, cloakroom::Error>`: a store error answers 503
/// `{"error":"session store unavailable"}` (or the layer's
/// [`on_store_error`](crate::SessionConfig::on_store_error) response), a conflict
/// 409 (or the layer's [`on_conflict`](crate::SessionConfig::on_conflict)
/// response), anything else 500 with a generic message. The cause is logged, never sent to the client.
///
/// ```
/// use axum::response::IntoResponse;
/// use cloakroom::Error;
/// use cloakroom::store::StoreError;
///
/// assert_eq!(Error::Store(StoreError::unavailable("down")).into_response().status(), 503);
/// assert_eq!(Error::Conflict.into_response().status(), 409);
/// assert_eq!(Error::TooLarge { bytes: 70_000, limit: 65_536 }.into_response().status(), 413);
/// assert_eq!(Error::MissingLayer.into_response().status(), 500);
/// ```
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::Store(err) => {
                tracing::error!(error = %err, "session store failed in a handler");
                StoreFailure::response(err)
            }
            Error::Conflict => ConflictFailure::response(),
            Error::TooLarge { .. } => TooLargeFailure::response(),
            other => {
                tracing::error!(error = %other, "session error in a handler");
                json_error(StatusCode::INTERNAL_SERVER_ERROR, "session error")
            }
        }
    }
}
