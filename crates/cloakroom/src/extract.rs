//! axum extractors: the session, the write-only handle, and the sign-in guard.

use std::fmt;

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use serde::Serialize;

use crate::error::Error;
use crate::layer::CURRENT;
use crate::session::{LazySession, SCOPE_PREFIX, Session};

/// Why a session extractor could not run. Its response is what the client gets.
///
/// For example, a handler that extracts a [`Session`] on a router without the
/// [`SessionLayer`](crate::SessionLayer) is answered with a 500:
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use cloakroom::Session;
/// use tower::ServiceExt;
///
/// let app: Router = Router::new().route("/", get(|_session: Session| async {})); // no `.layer(...)`
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// let response = rt.block_on(app.oneshot(http::Request::new(Body::empty()))).unwrap();
/// assert_eq!(response.status(), 500);
/// ```
pub struct SessionRejection {
    response: Box<Response>,
    reason: &'static str,
}

impl SessionRejection {
    fn missing_layer() -> Self {
        Self {
            response: Box::new(json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &Error::MissingLayer.to_string(),
            )),
            reason: "missing SessionLayer",
        }
    }

    fn store(session: &Session, err: crate::StoreError) -> Self {
        tracing::error!(error = %err, "session load failed; answering with the store error response");
        Self {
            response: Box::new((session.inner.shared.config.on_store_error)(&err)),
            reason: "session store failed",
        }
    }
}

impl fmt::Debug for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRejection")
            .field("status", &self.response.status())
            .field("reason", &self.reason)
            .finish()
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        *self.response
    }
}

pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn lazy_session(parts: &Parts) -> Result<Session, SessionRejection> {
    parts
        .extensions
        .get::<LazySession>()
        .map(|lazy| lazy.0.clone())
        .ok_or_else(SessionRejection::missing_layer)
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let session = lazy_session(parts)?;
        match session.inner.ensure_loaded().await {
            Ok(()) => Ok(session),
            Err(err) => Err(SessionRejection::store(&session, err)),
        }
    }
}

impl Session {
    /// The session of the request this task is serving, loaded. For services deep
    /// in the call stack that were not handed the session. It is a tokio task-local:
    /// tasks spawned by the handler do not see it (pass them a clone instead).
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn current_user() -> Option<String> {
    ///     Session::current().await.ok()?.user()
    /// }
    /// ```
    pub async fn current() -> Result<Session, Error> {
        let session = CURRENT.try_with(Session::clone).map_err(|_| Error::MissingLayer)?;
        session.inner.ensure_loaded().await?;
        Ok(session)
    }
}

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
    /// Sets `key` to `value` at commit.
    ///
    /// ```
    /// use cloakroom::SessionWriter;
    ///
    /// async fn handler(writer: SessionWriter) -> Result<(), cloakroom::Error> {
    ///     writer.insert("locale", "fr-CA")?;
    ///     assert!(writer.insert("scope::checkout", 1).is_err()); // reserved for `Scoped`
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn insert(&self, key: impl Into<String>, value: impl Serialize) -> Result<(), Error> {
        self.session.insert(key, value)
    }

    /// Removes `key` at commit.
    ///
    /// ```
    /// use cloakroom::SessionWriter;
    ///
    /// async fn dismiss_banner(writer: SessionWriter) -> Result<(), cloakroom::Error> {
    ///     writer.remove("banner")
    /// }
    /// # let handler = dismiss_banner;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn remove(&self, key: &str) -> Result<(), Error> {
        let key = key.to_owned();
        if key.starts_with(SCOPE_PREFIX) {
            return Err(Error::ReservedKey { key });
        }
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

/// A guard: the request's session bound to a user (see [`Session::set_user`]), or a
/// 401 `{"error":"not signed in"}` before the handler runs.
///
/// ```
/// use cloakroom::SignedIn;
///
/// async fn me(SignedIn { user, .. }: SignedIn) -> String {
///     format!("hello {user}")
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The user the session is bound to.
    pub user: String,
    /// The session itself.
    pub session: Session,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        match session.user() {
            Some(user) => Ok(Self { user, session }),
            None => Err(SessionRejection {
                response: Box::new(json_error(StatusCode::UNAUTHORIZED, "not signed in")),
                reason: "not signed in",
            }),
        }
    }
}
