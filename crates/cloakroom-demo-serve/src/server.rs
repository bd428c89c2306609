//! Serving HTTP/1.1 connections with two limits `axum::serve` does not offer: a
//! header read timeout (a client that never finishes its headers is cut off), and a
//! bounded drain on shutdown (open requests get so long to finish, then the server
//! stops anyway).

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Extension;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Layer as _;

/// How the demo serves connections.
///
/// ```
/// use std::time::Duration;
/// use cloakroom_demo_serve::ServeOptions;
///
/// let options = ServeOptions { header_read_timeout: Duration::from_secs(5), ..ServeOptions::default() };
/// assert_eq!(options.shutdown_grace, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long open requests may take to finish once shutdown begins.
    pub shutdown_grace: Duration,
    /// How long a client has to send a request's headers.
    pub header_read_timeout: Duration,
}

impl Default for ServeOptions {
    /// 10 s to drain, 30 s for the headers.
    fn default() -> Self {
        Self {
            shutdown_grace: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

/// What became of the open connections when the server stopped.
///
/// ```no_run
/// use cloakroom_demo_serve::{Drained, ServeOptions, serve};
///
/// # async fn run(router: axum::Router, listener: tokio::net::TcpListener) -> std::io::Result<()> {
/// let drained = serve(listener, router, ServeOptions::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await?;
/// if drained == Drained::TimedOut {
///     eprintln!("some requests were cut off");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every connection finished within the grace period.
    All,
    /// Some were still open when the grace period ran out; they were dropped.
    TimedOut,
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting,
/// lets open connections finish their requests for at most
/// [`shutdown_grace`](ServeOptions::shutdown_grace), and returns.
///
/// ```no_run
/// use cloakroom_demo_serve::server::{ServeOptions, serve};
///
/// # async fn run(router: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// serve(listener, router, ServeOptions::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<Drained> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let connections = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait, and go on.
                tracing::warn!(error = %err, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Each request knows its peer, as axum's `into_make_service_with_connect_info`
        // does: around the router, not `Router::layer` (which would box every route
        // again for each connection, and make each request clone one more box).
        let service = Extension(ConnectInfo(peer)).layer(router.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection closed with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = connections.shutdown() => Ok(Drained::All),
        () = tokio::time::sleep(options.shutdown_grace) => Ok(Drained::TimedOut),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::sync::Notify;

    use super::*;

    /// Serves `router` on a free port until `stop` is notified.
    async fn start(
        router: Router,
        options: ServeOptions,
    ) -> (SocketAddr, Arc<Notify>, tokio::task::JoinHandle<Drained>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(Notify::new());
        let signal = stop.clone();
        let task = tokio::spawn(async move {
            serve(listener, router, options, async move { signal.notified().await })
                .await
                .unwrap()
        });
        (addr, stop, task)
    }

    async fn send(addr: SocketAddr, request: &[u8]) -> tokio::net::TcpStream {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        stream
    }

    #[tokio::test]
    async fn a_request_still_running_when_the_grace_period_ends_is_dropped_and_serving_returns() {
        let entered = Arc::new(Notify::new());
        let inside = entered.clone();
        let router = Router::new().route(
            "/forever",
            get(move || async move {
                inside.notify_one();
                std::future::pending::<()>().await;
            }),
        );
        let options = ServeOptions {
            shutdown_grace: Duration::from_millis(200),
            ..ServeOptions::default()
        };
        let (addr, stop, task) = start(router, options).await;
        let _stuck = send(addr, b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n").await;
        entered.notified().await;
        stop.notify_one();
        assert_eq!(task.await.unwrap(), Drained::TimedOut);
    }

    #[tokio::test]
    async fn finished_requests_drain_at_once() {
        let router = Router::new().route("/", get(|| async { "hi" }));
        let (addr, stop, task) = start(router, ServeOptions::default()).await;
        let mut client = send(addr, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200 OK"));
        let _idle = send(addr, b"").await;
        stop.notify_one();
        assert_eq!(task.await.unwrap(), Drained::All);
    }
}
