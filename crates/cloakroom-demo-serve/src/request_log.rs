//! One log line per request, at `info`: method, path, the status sent and how
//! long it took. A tower layer of its own rather than axum's `from_fn`, which
//! boxes each request's future and clones the services inside it: here the
//! request's future is wrapped in place, and when `info` is off the request only
//! pays for one check of the filter.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{Method, Request, Response, Uri};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// Logs each request that passes through (see the [module](self)).
///
/// ```
/// use axum::{Router, routing::get};
/// use cloakroom_demo_serve::request_log::RequestLogLayer;
///
/// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(RequestLogLayer);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLogLayer;

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLog { inner }
    }
}

/// The service [`RequestLogLayer`] wraps around `S`.
///
/// ```
/// use axum::{Router, routing::get};
/// use cloakroom_demo_serve::request_log::{RequestLog, RequestLogLayer};
/// use tower::Layer as _;
///
/// let logged: RequestLog<Router> = RequestLogLayer.layer(Router::new().route("/", get(|| async { "hi" })));
/// # let _ = logged;
/// ```
#[derive(Debug, Clone)]
pub struct RequestLog<S> {
    inner: S,
}

/// What the line needs from the request, taken before the request moves on.
#[derive(Debug)]
struct Started {
    method: Method,
    uri: Uri,
    at: Instant,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestLog<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequestLogFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // A clone of the URI shares its bytes: no allocation.
        let started = tracing::enabled!(tracing::Level::INFO).then(|| Started {
            method: request.method().clone(),
            uri: request.uri().clone(),
            at: Instant::now(),
        });
        RequestLogFuture {
            inner: self.inner.call(request),
            started,
        }
    }
}

pin_project! {
    /// The future of a [`RequestLog`]: the inner service's, and the line written
    /// when it answers.
    ///
    /// ```
    /// use axum::{Router, body::Body, http::Request, routing::get};
    /// use cloakroom_demo_serve::request_log::RequestLogLayer;
    /// use tower::{Layer as _, Service as _};
    ///
    /// # async fn run() {
    /// let mut logged = RequestLogLayer.layer(Router::new().route("/", get(|| async { "hi" })));
    /// let response = logged.call(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(response.status(), 200);
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct RequestLogFuture<F> {
        #[pin]
        inner: F,
        started: Option<Started>,
    }
}

impl<F, ResBody, E> Future for RequestLogFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(started)) = (&result, this.started.take()) {
            let micros = u64::try_from(started.at.elapsed().as_micros()).unwrap_or(u64::MAX);
            tracing::info!(
                method = %started.method,
                path = %started.uri.path(),
                status = response.status().as_u16(),
                micros,
                "request"
            );
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt as _;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn app() -> RequestLog<Router> {
        RequestLogLayer.layer(Router::new().route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT })))
    }

    async fn logged(level: tracing::Level) -> String {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .with_max_level(level)
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let response = app()
            .oneshot(Request::get("/teapot?x=1").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    #[tokio::test]
    async fn a_request_is_logged_with_its_method_path_and_the_status_sent() {
        let text = logged(tracing::Level::INFO).await;
        assert!(text.contains("request"), "{text}");
        assert!(text.contains("method=GET"), "{text}");
        assert!(text.contains("path=/teapot "), "the path, without the query: {text}");
        assert!(text.contains("status=418"), "{text}");
        assert!(text.contains("micros="), "{text}");
    }

    #[tokio::test]
    async fn nothing_is_logged_when_info_is_off() {
        assert_eq!(logged(tracing::Level::WARN).await, "");
    }
}
