//! # cloakroom
//!
//! Session management for tower and axum services: hand your state in at the
//! counter, keep a ticket.
//!
//! - A [`SessionLayer`] reads a signed ticket (cookie, optionally a header), hands
//!   handlers a [`Session`] (loaded lazily, synchronous after that), and commits
//!   what they changed as a per-key change set.
//! - Stores apply change sets atomically, so concurrent requests on one session keep
//!   each other's writes and a destroyed session is never brought back.
//! - Safe by default: 256-bit IDs, stores keyed by SHA-256 of the ID, HMAC-signed
//!   tickets with secret rotation, strict mode, idle and absolute timeouts,
//!   fixation-safe [`Session::regenerate`].
//! - Sessions per user: [`SessionManager`] lists a user's devices, revokes one, logs
//!   out everywhere.
//!
//! ```
//! use axum::{Json, Router, routing::{get, post}};
//! use cloakroom::{Session, SessionLayer, SignedIn};
//!
//! async fn login(session: Session) -> Result<&'static str, cloakroom::Error> {
//!     session.regenerate();          // new ID, same data: no fixation
//!     session.set_user("alice");     // listed, revoked, logged out with alice
//!     Ok("welcome")
//! }
//!
//! async fn cart(session: Session) -> Result<Json<Vec<String>>, cloakroom::Error> {
//!     Ok(Json(session.get_or("cart", Vec::new())?))
//! }
//!
//! async fn me(SignedIn { user, .. }: SignedIn) -> String {
//!     user
//! }
//!
//! let sessions = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec())
//!     .build()
//!     .expect("valid session configuration");
//! let app: Router = Router::new()
//!     .route("/login", post(login))
//!     .route("/cart", get(cart))
//!     .route("/me", get(me))
//!     .layer(sessions);
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod base64url;
pub mod clock;
mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
#[doc = include_str!("../../../docs/GUIDE.md")]
pub mod guide {}
mod cookie;
mod csrf;
mod decimal;
mod device;
mod error;
mod extract;
mod flash;
mod id;
#[cfg(feature = "express")]
pub mod import;
mod layer;
mod manager;
mod presession;
mod request;
pub mod response;
mod scope;
mod session;
mod settings;
pub mod store;
mod telemetry;
mod ticket;

pub use config::SessionConfig;
pub use cookie::SameSite;
pub use csrf::{CsrfForm, CsrfGuard, CsrfRejection, CsrfToken};
pub use error::Error;
pub use extract::{SessionRejection, SessionWriter, SignedIn};
pub use flash::Flash;
pub use id::{SessionHandle, SessionId};
pub use layer::{SessionLayer, SessionService};
pub use manager::{DeviceSession, SessionManager};
pub use scope::{Scoped, SessionData, SessionScope};
pub use session::Session;
pub use store::memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use store::postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use store::redis::RedisStore;
#[cfg(feature = "sqlite")]
pub use store::sqlite::SqliteStore;
