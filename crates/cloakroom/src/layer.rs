//! The tower layer: read the ticket, run the handler, commit, answer with the ticket.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument as _;

use crate::config::SessionConfig;
use crate::error::Error;
use crate::manager::SessionManager;
use crate::request::{CommitError, Incoming, RequestSession, plain_http_host, read_ticket};
use crate::response::{ConflictFailure, StoreFailure, TooLargeFailure};
use crate::session::{CURRENT, LazySession, Session};
use crate::settings::Settings;
use crate::store::SessionStore;
use crate::telemetry::request_span;

/// The session layer: wrap your router with it and extract [`Session`] in handlers.
///
/// For each request it reads the ticket (cookie, or the transport header when
/// configured), makes the session available to extractors (loaded lazily, only by
/// handlers that ask), runs the handler inside a `tracing` span carrying the
/// session's fingerprint, commits what the handler changed, and sets the cookie.
///
/// Responses with a 5xx status are not committed: the request's changes are
/// discarded. A store failure answers 503 (`{"error":"session store unavailable"}`
/// by default, see [`SessionConfig::on_store_error`]).
///
/// ```
/// use axum::{Router, routing::get};
/// use cloakroom::{Session, SessionLayer};
///
/// let sessions = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec())
///     .build()
///     .expect("valid session configuration");
/// let manager = sessions.manager();
/// let app: Router = Router::new()
///     .route("/", get(|session: Session| async move { format!("new: {}", session.is_new()) }))
///     .layer(sessions);
/// ```
#[derive(Clone)]
pub struct SessionLayer {
    settings: Arc<Settings>,
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("settings", &self.settings)
            .finish()
    }
}

impl SessionConfig {
    /// Checks every option and builds the layer.
    ///
    /// ```
    /// use cloakroom::{Error, SessionConfig};
    ///
    /// assert!(SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().is_ok());
    /// let err = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").path("app").build().unwrap_err();
    /// assert!(matches!(err, Error::Config { option: "path", .. }));
    /// ```
    pub fn build(self) -> Result<SessionLayer, Error> {
        Ok(SessionLayer {
            settings: Arc::new(Settings::new(self)?),
        })
    }
}

impl SessionLayer {
    /// Starts a configuration with `secret` (at least 32 bytes) as the signing
    /// secret; finish it with [`SessionConfig::build`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use cloakroom::SessionLayer;
    ///
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec())
    ///     .idle_timeout(Duration::from_secs(3600))
    ///     .build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn builder(secret: impl Into<Vec<u8>>) -> SessionConfig {
        SessionConfig::new(secret)
    }

    /// The out-of-request API over the same store and secrets: sessions by ID, by
    /// user, counts.
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
    /// let manager = layer.manager(); // keep it (e.g. in axum state) after `.layer(layer)`
    /// let id = SessionId::generate();
    /// assert_eq!(manager.verify_ticket(&manager.ticket(&id)), Some(id));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn manager(&self) -> SessionManager {
        SessionManager::new(self.settings.clone())
    }

    /// The store this layer uses.
    ///
    /// ```
    /// use cloakroom::SessionLayer;
    /// use cloakroom::store::SessionStore;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
    /// let store = layer.store(); // the default MemoryStore
    /// assert_eq!(store.count(std::time::SystemTime::now()).await?, 0);
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn store(&self) -> Arc<dyn SessionStore> {
        self.settings.given_store.clone()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around yours.
///
/// You rarely name it: `Router::layer` builds it. Any tower service answering
/// `http::Response`s can be wrapped directly:
///
/// ```
/// use axum::body::Body;
/// use cloakroom::{SessionLayer, SessionService};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
/// let hello = service_fn(|_request: http::Request<Body>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("hello")))
/// });
/// let service: SessionService<_> = layer.layer(hello);
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// let response = rt.block_on(service.oneshot(http::Request::new(Body::empty()))).unwrap();
/// assert_eq!(response.status(), 200);
/// # Ok::<(), cloakroom::Error>(())
/// ```
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S: fmt::Debug> fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum_core::BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let settings = self.settings.clone();
        let span = request_span();
        let (incoming, via_header) = read_ticket(&settings, request.headers());
        match &incoming {
            Incoming::Valid(ticket) => {
                // The fingerprint costs an HMAC: only when someone listens.
                if !span.is_disabled() {
                    span.record(
                        "session",
                        tracing::field::display(settings.fingerprinter.fingerprint(&ticket.id)),
                    );
                }
            }
            Incoming::Invalid => tracing::debug!(parent: &span, "rejected a session ticket that did not verify"),
            Incoming::Absent | Incoming::Gone | Incoming::Moved => {}
        }
        #[cfg(feature = "express")]
        let may_import = !via_header && matches!(incoming, Incoming::Absent | Incoming::Invalid);
        let mut request_session = RequestSession::new(settings.clone(), incoming, via_header, span.clone());
        #[cfg(feature = "express")]
        let express_sid = request_session.find_express(request.headers(), may_import);
        request_session.device = settings.devices.capture(request.headers(), request.extensions());
        if settings.cookie.secure && !settings.warned_plain_http.load(std::sync::atomic::Ordering::Relaxed) {
            request_session.plain_http_host = plain_http_host(request.headers());
        }
        let state = Arc::new(request_session);
        let session = Session::from_request(state.clone());
        request.extensions_mut().insert(LazySession(session.clone()));

        Box::pin(
            async move {
                #[cfg(feature = "express")]
                if let Some(sid) = &express_sid {
                    Box::pin(state.import_express(sid)).await;
                }
                let response = CURRENT.scope(session, inner.call(request)).await?;
                let response = answer(&state, &settings, response).await;
                // Boxed, and only for a request that imported: the common request
                // carries no Redis future.
                #[cfg(feature = "express")]
                let response = if settings.express.is_some() && state.import_pending() {
                    let (mut parts, body) = response.into_parts();
                    Box::pin(state.conclude_import(&mut parts)).await;
                    Response::from_parts(parts, body)
                } else {
                    response
                };
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// The response the handler gave, once the request's changes are committed: the
/// handler's own, or the store-error, conflict or too-large response, each with
/// the request's ticket and cache headers.
async fn answer<ResBody>(state: &RequestSession, settings: &Settings, response: Response<ResBody>) -> Response<Body>
where
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum_core::BoxError>,
{
    let (mut parts, body) = response.into_parts();
    // The store's failure answers, still with any ticket the request
    // already stored a session under (an import, an earlier `save()`).
    let failed = |err: &crate::store::StoreError| {
        let (mut parts, body) = (settings.on_store_error)(err).into_parts();
        state.finish(&mut parts);
        Response::from_parts(parts, body)
    };
    if let Some(StoreFailure(err)) = parts.extensions.remove::<StoreFailure>() {
        return failed(&err);
    }
    let mut conflict = parts.extensions.remove::<ConflictFailure>().is_some();
    let mut too_large = parts.extensions.remove::<TooLargeFailure>().is_some();
    if !conflict && !too_large && !parts.status.is_server_error() {
        match state.commit().await {
            Ok(()) => {}
            Err(CommitError::Store(err)) => {
                tracing::error!(error = %err, "session commit failed; answering with the store error response");
                return failed(&err);
            }
            Err(CommitError::Conflict) => conflict = true,
            Err(CommitError::TooLarge { bytes }) => {
                tracing::info!(
                    bytes,
                    limit = settings.max_session_bytes,
                    "the request would take the session past its size cap; answering with the too-large response"
                );
                too_large = true;
            }
        }
    }
    let mut body = Body::new(body);
    if conflict {
        tracing::info!("the session changed during the request; answering with the conflict response");
        let (conflict_parts, conflict_body) = (settings.on_conflict)().into_parts();
        (parts, body) = (conflict_parts, conflict_body);
    } else if too_large {
        let (large_parts, large_body) = (settings.on_too_large)().into_parts();
        (parts, body) = (large_parts, large_body);
    }
    state.finish(&mut parts);
    Response::from_parts(parts, body)
}
