//! How the cloakroom demo serves HTTP, apart from the demo so that the
//! tower-sessions app it is benchmarked against (`cloakroom-bench`'s
//! `towerprefs`) is served the same way, and a side-by-side run compares the
//! session libraries, not two servers:
//!
//! - [`server`]: the connection loop, with a header read timeout and a bounded
//!   drain on shutdown;
//! - [`request_log`]: one log line per request;
//! - [`stack`]: the layers both put around their routes (the request log, the
//!   session layer, the body limit), and the log subscriber.
//!
//! No cloakroom in here: the benchmark's tower-sessions app depends on it without
//! building the demo's cloakroom features.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use cloakroom_demo_serve::{RequestLogLayer, ServeOptions, serve};
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/", get(|| async { "hi" })).layer(RequestLogLayer);
//! cloakroom_demo_serve::init_logging();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! serve(listener, app, ServeOptions::default(), std::future::pending()).await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod request_log;
pub mod server;
pub mod stack;

pub use request_log::RequestLogLayer;
pub use server::{Drained, ServeOptions, serve};
pub use stack::{BODY_LIMIT, around_session, init_logging};
