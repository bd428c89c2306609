//! Why a session extractor could not run, as a typed rejection: one variant per
//! failure, each with its status and JSON body.

use std::fmt;
use std::sync::Once;

use axum_core::response::{IntoResponse, Response};
use http::StatusCode;

use crate::error::Error;
use crate::response::{StoreFailure, json_error};
use crate::store::StoreError;

/// Why a session extractor ([`Session`](crate::Session),
/// [`SessionWriter`](crate::SessionWriter), [`SignedIn`](crate::SignedIn),
/// [`Scoped`](crate::Scoped), [`SessionData`](crate::SessionData)) could not run.
/// Its response is what the client gets.
///
/// | variant | status | body |
/// | --- | --- | --- |
/// | [`MissingLayer`](Self::MissingLayer) | 500 | `{"error":"no session layer: ..."}` |
/// | [`StoreUnavailable`](Self::StoreUnavailable) | 503 | `{"error":"session store unavailable"}`, or the layer's [`on_store_error`](crate::SessionConfig::on_store_error) response |
/// | [`NotSignedIn`](Self::NotSignedIn) | 401 | `{"error":"not signed in"}` |
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use cloakroom::{Session, SessionRejection};
/// use tower::ServiceExt;
///
/// // A handler can take the rejection to answer in its own way.
/// async fn page(session: Result<Session, SessionRejection>) -> String {
///     match session {
///         Ok(session) => format!("new visitor: {}", session.is_new()),
///         Err(rejection) => format!("no session ({})", rejection.status()),
///     }
/// }
///
/// let app: Router = Router::new().route("/", get(page)); // no `.layer(...)`
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// let response = rt.block_on(app.oneshot(http::Request::new(Body::empty()))).unwrap();
/// assert_eq!(response.status(), 200);
/// assert_eq!(SessionRejection::MissingLayer.status(), 500);
/// assert_eq!(SessionRejection::NotSignedIn.body_text(), r#"{"error":"not signed in"}"#);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionRejection {
    /// No [`SessionLayer`](crate::SessionLayer) wraps the handler's route: the
    /// layer must be added with `.layer()` after the `.route()`s that use it. Logged
    /// once at error level, with the fix.
    MissingLayer,
    /// The store failed while the session was being read. Logged at error level.
    StoreUnavailable(StoreError),
    /// The [`SignedIn`](crate::SignedIn) guard found no user bound to the session.
    NotSignedIn,
}

impl SessionRejection {
    /// The status the client gets.
    ///
    /// ```
    /// use cloakroom::SessionRejection;
    /// use cloakroom::store::StoreError;
    ///
    /// assert_eq!(SessionRejection::StoreUnavailable(StoreError::unavailable("down")).status(), 503);
    /// assert_eq!(SessionRejection::NotSignedIn.status(), 401);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
            Self::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotSignedIn => StatusCode::UNAUTHORIZED,
        }
    }

    /// The JSON body the client gets (before a layer replaces a store failure's
    /// response with its own).
    ///
    /// ```
    /// use cloakroom::SessionRejection;
    ///
    /// assert!(SessionRejection::MissingLayer.body_text().contains("cloakroom::SessionLayer"));
    /// ```
    pub fn body_text(&self) -> String {
        serde_json::json!({ "error": self.message() }).to_string()
    }

    fn message(&self) -> String {
        match self {
            Self::MissingLayer => Error::MissingLayer.to_string(),
            Self::StoreUnavailable(_) => "session store unavailable".to_owned(),
            Self::NotSignedIn => "not signed in".to_owned(),
        }
    }

    /// The rejection for a handler outside any session layer; logs the fix once.
    pub(crate) fn missing_layer() -> Self {
        static LOGGED: Once = Once::new();
        LOGGED.call_once(|| tracing::error!("{}", Error::MissingLayer));
        Self::MissingLayer
    }

    /// The rejection for a load the store failed; logs the cause.
    pub(crate) fn store(err: StoreError) -> Self {
        tracing::error!(error = %err, "session load failed; answering with the store error response");
        Self::StoreUnavailable(err)
    }
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StoreUnavailable(err) => err.fmt(f),
            other => f.write_str(&other.message()),
        }
    }
}

impl std::error::Error for SessionRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::StoreUnavailable(err) => Some(err),
            _ => None,
        }
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            // Marked, so the layer answers with its configured store error response.
            Self::StoreUnavailable(err) => StoreFailure::response(err),
            other => json_error(other.status(), &other.message()),
        }
    }
}
