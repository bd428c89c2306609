//! The demo's preference routes on tower-sessions, as a server of its own beside
//! the demo binary (`loadbench --parts demo` runs both): `PORT` (default 3000),
//! `SESSION_STORE` `memory` (default) or `redis://HOST:PORT` (tower-sessions-redis-store
//! on one fred client). Served as the demo is: the same runtime (`#[tokio::main]`,
//! one worker per core), the demo's connection loop (a header read timeout) and
//! request log, and the same log subscriber (`RUST_LOG`, default `info`), so that
//! a side-by-side run measures the session libraries.

use cloakroom_bench::prefs_app::router;
use cloakroom_demo_serve::{ServeOptions, serve};
use tower_sessions_redis_store::fred::clients::Client;
use tower_sessions_redis_store::fred::prelude::{ClientLike as _, Config};

#[tokio::main]
async fn main() {
    cloakroom_demo_serve::init_logging();
    if let Err(err) = run().await {
        eprintln!("towerprefs: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT={port:?} is not a port number"))?,
        Err(_) => 3000,
    };
    let store = std::env::var("SESSION_STORE").unwrap_or_else(|_| "memory".to_owned());
    let app = if store == "memory" {
        router(tower_sessions::MemoryStore::default())
    } else if store.starts_with("redis://") {
        let config = Config::from_url(&store).map_err(|e| format!("SESSION_STORE: {e}"))?;
        let client = Client::new(config, None, None, None);
        client.init().await.map_err(|e| format!("connect to {store}: {e}"))?;
        router(tower_sessions_redis_store::RedisStore::new(client))
    } else {
        return Err(format!("SESSION_STORE={store:?}: use memory or redis://HOST:PORT"));
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("listen on 127.0.0.1:{port}: {e}"))?;
    serve(listener, app, ServeOptions::default(), std::future::pending())
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}
