//! The answers cloakroom gives on its own, which an application can replace (JSON
//! error bodies for a store failure and for a conflict:
//! [`SessionConfig::on_store_error`](crate::SessionConfig::on_store_error),
//! [`SessionConfig::on_conflict`](crate::SessionConfig::on_conflict)), and the
//! [`Public`] marker for responses any cache may keep.
//!
//! ```
//! use std::sync::Arc;
//! use cloakroom::response::{StoreErrorResponder, default_store_error_response};
//! use cloakroom::store::StoreError;
//!
//! let respond: StoreErrorResponder = Arc::new(default_store_error_response);
//! assert_eq!(respond(&StoreError::Unsupported("counting")).status(), 503);
//! ```

use std::sync::Arc;

use axum_core::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use http::StatusCode;
use http::header::CONTENT_TYPE;

use crate::store::StoreError;

/// Builds the response sent when the store fails.
///
/// ```
/// use std::sync::Arc;
/// use axum::response::IntoResponse;
/// use cloakroom::response::StoreErrorResponder;
///
/// let respond: StoreErrorResponder = Arc::new(|_err| (http::StatusCode::SERVICE_UNAVAILABLE, "try again").into_response());
/// assert_eq!(respond(&cloakroom::store::StoreError::unavailable("down")).status(), 503);
/// ```
pub type StoreErrorResponder = Arc<dyn Fn(&StoreError) -> Response + Send + Sync>;

/// The default answer to a store failure: 503 `{"error":"session store unavailable"}`.
///
/// ```
/// use cloakroom::response::default_store_error_response;
/// use cloakroom::store::StoreError;
///
/// let response = default_store_error_response(&StoreError::Full { limit: 10 });
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// ```
pub fn default_store_error_response(_: &StoreError) -> Response {
    json_error(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable")
}

/// Builds the response sent when a commit finds that the session changed under the
/// request (a key it read and wrote back, or a regenerate by a concurrent request):
/// nothing of the request was applied, and the client should try again.
///
/// ```
/// use std::sync::Arc;
/// use cloakroom::response::{ConflictResponder, default_conflict_response};
///
/// let respond: ConflictResponder = Arc::new(default_conflict_response);
/// assert_eq!(respond().status(), 409);
/// ```
pub type ConflictResponder = Arc<dyn Fn() -> Response + Send + Sync>;

/// The default answer to a conflict: 409
/// `{"error":"the session changed during this request; try again"}`.
///
/// ```
/// use cloakroom::response::default_conflict_response;
///
/// let response = default_conflict_response();
/// assert_eq!(response.status(), 409);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// ```
pub fn default_conflict_response() -> Response {
    json_error(
        StatusCode::CONFLICT,
        "the session changed during this request; try again",
    )
}

/// Builds the response sent when a commit would take the session past
/// [`SessionConfig::max_session_bytes`](crate::SessionConfig::max_session_bytes):
/// nothing of the request was applied.
///
/// ```
/// use std::sync::Arc;
/// use cloakroom::response::{TooLargeResponder, default_too_large_response};
///
/// let respond: TooLargeResponder = Arc::new(default_too_large_response);
/// assert_eq!(respond().status(), 413);
/// ```
pub type TooLargeResponder = Arc<dyn Fn() -> Response + Send + Sync>;

/// The default answer to a session past its size cap: 413
/// `{"error":"session too large"}`.
///
/// ```
/// use cloakroom::response::default_too_large_response;
///
/// let response = default_too_large_response();
/// assert_eq!(response.status(), 413);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// ```
pub fn default_too_large_response() -> Response {
    json_error(StatusCode::PAYLOAD_TOO_LARGE, "session too large")
}

/// Marks a response as the same for every visitor, though its handler read the
/// session: the layer then adds no `Vary` and no `Cache-Control` for having read it.
/// A response that sets or removes the session cookie gets both anyway.
///
/// ```
/// use axum::response::IntoResponse;
/// use cloakroom::Session;
/// use cloakroom::response::Public;
///
/// async fn logo(session: Session) -> impl IntoResponse {
///     let _seen = session.contains("visits"); // read, but the answer is the same for all
///     (Public, [("cache-control", "public, max-age=3600")], "<svg/>")
/// }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Public;

impl IntoResponseParts for Public {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Self::Error> {
        parts.extensions_mut().insert(self);
        Ok(parts)
    }
}

/// `{"error": message}` with `status`.
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}

/// Marks a response made from a store error, so the layer can answer it with the
/// configured [`SessionConfig::on_store_error`](crate::SessionConfig::on_store_error).
#[derive(Clone)]
pub(crate) struct StoreFailure(pub(crate) Arc<StoreError>);

impl StoreFailure {
    /// The default 503, marked so the layer swaps in the configured response.
    pub(crate) fn response(err: StoreError) -> Response {
        let mut response = default_store_error_response(&err);
        response.extensions_mut().insert(StoreFailure(Arc::new(err)));
        response
    }
}

/// Marks a response made from a conflict, so the layer can answer it with the
/// configured [`SessionConfig::on_conflict`](crate::SessionConfig::on_conflict).
#[derive(Clone, Copy)]
pub(crate) struct ConflictFailure;

impl ConflictFailure {
    /// The default 409, marked so the layer swaps in the configured response.
    pub(crate) fn response() -> Response {
        let mut response = default_conflict_response();
        response.extensions_mut().insert(ConflictFailure);
        response
    }
}

/// Marks a response made from a session past its size cap, so the layer can
/// answer it with the configured
/// [`SessionConfig::on_too_large`](crate::SessionConfig::on_too_large).
#[derive(Clone, Copy)]
pub(crate) struct TooLargeFailure;

impl TooLargeFailure {
    /// The default 413, marked so the layer swaps in the configured response.
    pub(crate) fn response() -> Response {
        let mut response = default_too_large_response();
        response.extensions_mut().insert(TooLargeFailure);
        response
    }
}
