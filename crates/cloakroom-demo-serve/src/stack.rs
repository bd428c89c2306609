//! The layers around the demo's routes, and its log subscriber: what both the
//! demo and the tower-sessions app it is measured against put around their
//! routes, defined once.

use std::io::IsTerminal as _;

use axum::extract::DefaultBodyLimit;
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tracing_subscriber::EnvFilter;

use crate::request_log::RequestLogLayer;

/// The largest request body the demo accepts (a preference value, a cart line).
///
/// ```
/// assert_eq!(cloakroom_demo_serve::BODY_LIMIT, 16 * 1024);
/// ```
pub const BODY_LIMIT: usize = 16 * 1024;

/// The layers of [`around_session`], outermost first: the request log, the
/// session layer, the body limit.
pub type Layers<L> = ServiceBuilder<Stack<DefaultBodyLimit, Stack<L, Stack<RequestLogLayer, Identity>>>>;

/// One stack of layers around every route, for `Router::layer` (each call of it
/// boxes every route once more, and a request clones the boxes of its route):
/// the request log outside `session`, so it logs the status actually sent (a 503
/// or 409 the session layer answered with, not the handler's), and the
/// [`BODY_LIMIT`] inside it.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower::layer::util::Identity;
///
/// // Any session layer goes in the middle; `Identity` stands for none here.
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hi" }))
///     .layer(cloakroom_demo_serve::around_session(Identity::new()));
/// ```
pub fn around_session<L>(session: L) -> Layers<L> {
    ServiceBuilder::new()
        .layer(RequestLogLayer)
        .layer(session)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// Installs the process's log subscriber: `RUST_LOG` filters (default `info`),
/// colours only on a terminal. Call it once, first thing in `main`.
///
/// ```no_run
/// cloakroom_demo_serve::init_logging();
/// tracing::info!("ready");
/// ```
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}
