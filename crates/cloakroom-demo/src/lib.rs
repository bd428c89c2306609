//! # cloakroom-demo
//!
//! A small shop-like service showing cloakroom at work: sign-in with session
//! regeneration, "your devices" (list, revoke, sign out everywhere), a cart that
//! anonymous visitors have too, a multi-step checkout kept in a session scope,
//! preferences written through the write-only handle, and header transport for API
//! clients.
//!
//! [`app`] builds the whole router from a [`DemoConfig`], so tests can serve it
//! without starting a process; `main.rs` only reads the environment and serves.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod cart;
pub mod checkout;
pub mod config;
pub mod event;
pub mod health;
pub mod metrics;
pub mod page;
pub mod prefs;
pub mod time;
pub mod users;

use axum::Router;
use axum::routing::{delete, get, post, put};
use cloakroom::SessionManager;

pub use cloakroom_demo_serve::{BODY_LIMIT, Drained, ServeOptions, init_logging, request_log, serve, server};
pub use config::{ConfigError, DemoConfig, StoreChoice};

/// Builds the demo's router, wrapped in the session layer `config` describes, and
/// the [`SessionManager`] over the same store.
///
/// Fails only when the session configuration is invalid.
pub fn app(config: DemoConfig) -> Result<(Router, SessionManager), cloakroom::Error> {
    // Count from the first request on.
    metrics::recorder();
    let layer = config.session.build()?;
    let manager = layer.manager();
    let router = routes()
        .with_state(manager.clone())
        .layer(cloakroom_demo_serve::around_session(layer));
    Ok((router, manager))
}

/// Every route of the demo; the state is the session manager.
fn routes() -> Router<SessionManager> {
    Router::new()
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/style.css", get(page::style))
        .route("/favicon.svg", get(page::favicon))
        .route("/favicon.ico", get(page::favicon))
        .route("/auth/login", post(auth::login))
        .route("/auth/me", get(auth::me))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/logout-all", post(auth::logout_all))
        .route("/auth/logout-others", post(auth::logout_others))
        .route("/auth/sessions", get(auth::sessions))
        .route("/auth/sessions/{handle}", delete(auth::revoke))
        .route("/cart", get(cart::show).post(cart::add))
        .route("/cart/{id}", delete(cart::remove))
        .route("/checkout", get(checkout::show))
        .route("/checkout/advance", post(checkout::advance))
        .route("/checkout/reset", post(checkout::reset))
        .route("/prefs", get(prefs::list))
        .route("/prefs/{name}", put(prefs::put))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::render))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
}
