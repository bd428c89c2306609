//! The answers cloakroom gives on its own: JSON error bodies, and the response to a
//! store failure, which an application can replace
//! ([`SessionConfig::on_store_error`](crate::SessionConfig::on_store_error)).
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

use axum_core::response::{IntoResponse, Response};
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
