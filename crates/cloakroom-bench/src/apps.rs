//! The applications under test: one set of axum routes, served three ways, over
//! the memory store, Redis, Postgres or SQLite.
//!
//! | path | what the handler does |
//! | --- | --- |
//! | `/setup` | puts `counter = 1` and a ~100-byte `profile` in a new session (gets the cookie) |
//! | `/read` | reads `counter` of the request's session; 409 when there is none |
//! | `/write` | sets `last` to a new number (cloakroom: the write-only [`SessionWriter`]) |
//! | `/write-load` | the same through the loading [`Session`] (cloakroom only; the others serve `/write` again) |
//! | `/new` | sets `counter = 1`; requested without a cookie, so every request creates a session |
//! | `/untouched` | does not look at the session |
//!
//! Writes store a value no earlier request stored (a process-wide counter):
//! tower-sessions does not save a session when an insert leaves the value as it
//! was, so a constant would turn its write route into a read.
//!
//! The floor serves the same paths with the same bodies and no session layer.
//! cloakroom and tower-sessions get the same cookie (`sid`, `Path=/`, `Secure`,
//! `HttpOnly`, `SameSite=Lax`) and the same 24 h idle expiry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use cloakroom::store::{SessionMeta, SessionRecord};
use cloakroom::{SameSite, Session, SessionConfig, SessionLayer, SessionWriter};
use tower::ServiceExt as _;
use tower_sessions::cookie::SameSite as TowerSameSite;
use tower_sessions::cookie::time::Duration as TowerDuration;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_redis_store::fred::clients::Client as FredClient;
use tower_sessions_redis_store::fred::prelude::{ClientLike as _, Config as FredConfig};

/// The signing secret of every cloakroom layer here.
pub const SECRET: &[u8] = b"cloakroom-bench-signing-secret-0123456789";

/// The session cookie's name, for both libraries.
pub const COOKIE_NAME: &str = "sid";

/// The idle expiry, for both libraries.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The `profile` value every seeded session holds: with `counter`, about 100 bytes
/// of session data.
pub const PROFILE: &str = "alice@example.com|Alice Example|en-GB|Europe/London|theme=dark|plan=pro|since=2021-03-04";

/// Paths served by every application.
pub const PATHS: [&str; 6] = ["/setup", "/read", "/write", "/write-load", "/new", "/untouched"];

/// A value no earlier write stored.
pub fn fresh_value() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The three ways the routes are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lib {
    /// No session layer: the floor.
    Floor,
    /// cloakroom's `SessionLayer`.
    Cloakroom,
    /// tower-sessions' `SessionManagerLayer`.
    TowerSessions,
}

impl Lib {
    /// Every library, floor first.
    pub const ALL: [Lib; 3] = [Lib::Floor, Lib::Cloakroom, Lib::TowerSessions];

    /// The library with this [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Lib> {
        Self::ALL.into_iter().find(|lib| lib.name() == name)
    }

    /// The name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            Lib::Floor => "floor",
            Lib::Cloakroom => "cloakroom",
            Lib::TowerSessions => "tower-sessions",
        }
    }
}

/// A cloakroom session as the benchmarks seed it: `counter` and `profile`, ~100 bytes.
pub fn seeded_record(now: SystemTime, idle: Duration) -> SessionRecord {
    let mut record = SessionRecord::new(SessionMeta::new(
        now,
        idle,
        cloakroom::SessionConfig::DEFAULT_ABSOLUTE_TIMEOUT,
    ));
    record.data.insert("counter".into(), "1".into());
    record
        .data
        .insert("profile".into(), serde_json::to_string(PROFILE).expect("a string"));
    record
}

/// The same session for tower-sessions, expiring at `expiry`, under a fresh ID.
pub fn seeded_tower_record(expiry: tower_sessions::cookie::time::OffsetDateTime) -> tower_sessions::session::Record {
    let mut record = tower_sessions::session::Record {
        id: tower_sessions::session::Id::default(),
        data: Default::default(),
        expiry_date: expiry,
    };
    record.data.insert("counter".into(), 1u64.into());
    record.data.insert("profile".into(), PROFILE.into());
    record
}

/// The application of `lib` over its memory store, for in-process runs.
pub fn in_memory(lib: Lib) -> Router {
    match lib {
        Lib::Floor => floor(),
        Lib::Cloakroom => cloakroom(cloakroom_config().build().expect("valid configuration")),
        Lib::TowerSessions => tower(tower_sessions::MemoryStore::default()),
    }
}

/// The clients both libraries use for the Redis server at `url`: cloakroom's
/// `RedisStore` (redis-rs, one multiplexed connection) and the fred client behind
/// tower-sessions' Redis store (one client, which pipelines).
pub async fn redis_clients(url: &str) -> Result<(cloakroom::RedisStore, FredClient), String> {
    let cloakroom = cloakroom::RedisStore::connect(url)
        .await
        .map_err(|e| format!("cloakroom RedisStore: {e}"))?;
    let config = FredConfig::from_url(url).map_err(|e| format!("fred config: {e}"))?;
    let fred = FredClient::new(config, None, None, None);
    fred.init().await.map_err(|e| format!("fred connect: {e}"))?;
    Ok((cloakroom, fred))
}

/// The application of `lib` over Redis, through clients from [`redis_clients`].
pub fn over_redis(lib: Lib, store: &cloakroom::RedisStore, fred: &FredClient) -> Router {
    match lib {
        Lib::Floor => floor(),
        Lib::Cloakroom => cloakroom(
            cloakroom_config()
                .store(store.clone())
                .build()
                .expect("valid configuration"),
        ),
        Lib::TowerSessions => tower(tower_sessions_redis_store::RedisStore::new(fred.clone())),
    }
}

/// The stores both libraries use for the Postgres database at `url`: cloakroom's
/// `PostgresStore` (its own pool of 10) and tower-sessions-sqlx-store's on a
/// default sqlx 0.8 `PgPool` (10 connections), each table created by its own
/// migration.
pub async fn postgres_stores(
    url: &str,
) -> Result<(cloakroom::PostgresStore, tower_sessions_sqlx_store::PostgresStore), String> {
    let cloakroom = cloakroom::PostgresStore::connect(url)
        .await
        .map_err(|e| format!("cloakroom PostgresStore: {e}"))?;
    let pool = tower_sessions_sqlx_store::sqlx::PgPool::connect(url)
        .await
        .map_err(|e| format!("sqlx 0.8 pool: {e}"))?;
    let tower = tower_sessions_sqlx_store::PostgresStore::new(pool);
    tower
        .migrate()
        .await
        .map_err(|e| format!("tower-sessions-sqlx-store migrate: {e}"))?;
    Ok((cloakroom, tower))
}

/// The application of `lib` over a cloakroom store and a tower-sessions store of
/// the same backend (from [`postgres_stores`] or [`sqlite_stores`]).
pub fn over_stores<S, T>(lib: Lib, store: &S, tower_store: &T) -> Router
where
    S: cloakroom::store::SessionStore + Clone,
    T: tower_sessions::SessionStore + Clone,
{
    match lib {
        Lib::Floor => floor(),
        Lib::Cloakroom => cloakroom(
            cloakroom_config()
                .store(store.clone())
                .build()
                .expect("valid configuration"),
        ),
        Lib::TowerSessions => tower(tower_store.clone()),
    }
}

/// The stores both libraries use for SQLite, each in a file of its own under
/// `dir`: cloakroom's `SqliteStore::open` (WAL, `synchronous = FULL`, one writer,
/// ten readers) and tower-sessions-sqlx-store's on a sqlx 0.8 `SqlitePool` of
/// its default 10 connections, opened the same way (WAL, `synchronous = FULL`,
/// sqlx's 5 s busy timeout), its table created by its own migration.
pub async fn sqlite_stores(
    dir: &std::path::Path,
) -> Result<(cloakroom::SqliteStore, tower_sessions_sqlx_store::SqliteStore), String> {
    use tower_sessions_sqlx_store::sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous,
    };
    let cloakroom = cloakroom::SqliteStore::open(dir.join("cloakroom.db"))
        .await
        .map_err(|e| format!("cloakroom SqliteStore: {e}"))?;
    let options = SqliteConnectOptions::new()
        .filename(dir.join("tower.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = SqlitePool::connect_with(options)
        .await
        .map_err(|e| format!("sqlx 0.8 SQLite pool: {e}"))?;
    let tower = tower_sessions_sqlx_store::SqliteStore::new(pool);
    tower
        .migrate()
        .await
        .map_err(|e| format!("tower-sessions-sqlx-store migrate: {e}"))?;
    Ok((cloakroom, tower))
}

/// The cookie (`name=value`) an in-process request to an existing-session route of
/// `app` sends: the one `/setup` set, or for the floor a cookie of the same length
/// (hyper parses the same bytes).
pub async fn session_cookie(lib: Lib, app: &Router) -> Option<String> {
    match lib {
        Lib::Floor => Some(format!("{COOKIE_NAME}={}", "x".repeat(87))),
        _ => call(app, "/setup", None).await.cookie,
    }
}

/// The routes without a session layer.
pub fn floor() -> Router {
    Router::new()
        .route("/setup", get(ok))
        .route("/read", get(|| async { "1" }))
        .route("/write", get(ok))
        .route("/write-load", get(ok))
        .route("/new", get(ok))
        .route("/untouched", get(ok))
}

async fn ok() -> &'static str {
    "ok"
}

/// cloakroom's configuration for the benchmarks, over `store` (finish with `build`).
pub fn cloakroom_config() -> SessionConfig {
    SessionLayer::builder(SECRET.to_vec())
        .cookie_name(COOKIE_NAME)
        .idle_timeout(IDLE_TIMEOUT)
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
}

/// The routes under a cloakroom layer.
pub fn cloakroom(layer: SessionLayer) -> Router {
    Router::new()
        .route("/setup", get(cloakroom_setup))
        .route("/read", get(cloakroom_read))
        .route("/write", get(cloakroom_write))
        .route("/write-load", get(cloakroom_write_load))
        .route("/new", get(cloakroom_new))
        .route("/untouched", get(ok))
        .layer(layer)
}

async fn cloakroom_setup(session: Session) -> Result<&'static str, cloakroom::Error> {
    session.insert("counter", 1u64)?;
    session.insert("profile", PROFILE)?;
    Ok("ok")
}

async fn cloakroom_read(session: Session) -> Result<Result<String, StatusCode>, cloakroom::Error> {
    Ok(session
        .get::<u64>("counter")?
        .map(|n| n.to_string())
        .ok_or(StatusCode::CONFLICT))
}

async fn cloakroom_write(writer: SessionWriter) -> Result<&'static str, cloakroom::Error> {
    writer.insert("last", fresh_value())?;
    Ok("ok")
}

async fn cloakroom_write_load(session: Session) -> Result<&'static str, cloakroom::Error> {
    session.insert("last", fresh_value())?;
    Ok("ok")
}

async fn cloakroom_new(session: Session) -> Result<&'static str, cloakroom::Error> {
    session.insert("counter", 1u64)?;
    Ok("ok")
}

/// tower-sessions' layer with the same cookie and idle expiry as cloakroom's.
pub fn tower_layer<S: tower_sessions::SessionStore + Clone>(store: S) -> SessionManagerLayer<S> {
    SessionManagerLayer::new(store)
        .with_name(COOKIE_NAME)
        .with_expiry(Expiry::OnInactivity(TowerDuration::seconds(
            IDLE_TIMEOUT.as_secs() as i64
        )))
        .with_path("/")
        .with_secure(true)
        .with_http_only(true)
        .with_same_site(TowerSameSite::Lax)
}

/// The routes under a tower-sessions layer over `store`.
pub fn tower<S: tower_sessions::SessionStore + Clone>(store: S) -> Router {
    Router::new()
        .route("/setup", get(tower_setup))
        .route("/read", get(tower_read))
        .route("/write", get(tower_write))
        .route("/write-load", get(tower_write))
        .route("/new", get(tower_new))
        .route("/untouched", get(ok))
        .layer(tower_layer(store))
}

fn internal(_: tower_sessions::session::Error) -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn tower_setup(session: tower_sessions::Session) -> Result<&'static str, StatusCode> {
    session.insert("counter", 1u64).await.map_err(internal)?;
    session.insert("profile", PROFILE).await.map_err(internal)?;
    Ok("ok")
}

async fn tower_read(session: tower_sessions::Session) -> Result<String, StatusCode> {
    match session.get::<u64>("counter").await.map_err(internal)? {
        Some(n) => Ok(n.to_string()),
        None => Err(StatusCode::CONFLICT),
    }
}

async fn tower_write(session: tower_sessions::Session) -> Result<&'static str, StatusCode> {
    session.insert("last", fresh_value()).await.map_err(internal)?;
    Ok("ok")
}

async fn tower_new(session: tower_sessions::Session) -> Result<&'static str, StatusCode> {
    session.insert("counter", 1u64).await.map_err(internal)?;
    Ok("ok")
}

/// What one in-process call of an application answered.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// `name=value` of the first `Set-Cookie`, if any.
    pub cookie: Option<String>,
    /// The body.
    pub body: String,
}

/// Calls `app` in process (no HTTP) with a GET of `path`, sending `cookie`
/// (`name=value`) when given.
pub async fn call(app: &Router, path: &str, cookie: Option<&str>) -> Answer {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("a valid request"))
        .await
        .expect("routers are infallible");
    let status = response.status();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(cookie_pair);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a small body");
    Answer {
        status,
        cookie,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `name=value` out of a `Set-Cookie` value; `None` for a removal (empty value).
pub fn cookie_pair(set_cookie: &str) -> Option<String> {
    let pair = set_cookie.split(';').next()?.trim();
    let (name, value) = pair.split_once('=')?;
    (!name.is_empty() && !value.is_empty()).then(|| pair.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn check_existing_session_routes(app: &Router, lib: Lib) {
        let setup = call(app, "/setup", None).await;
        assert_eq!(setup.status, StatusCode::OK, "{lib:?}");
        let cookie = setup.cookie.unwrap_or_else(|| panic!("{lib:?}: /setup sets a cookie"));
        assert!(cookie.starts_with("sid="), "{lib:?}: {cookie}");
        for path in PATHS {
            let answer = call(app, path, Some(&cookie)).await;
            assert_eq!(answer.status, StatusCode::OK, "{lib:?} {path}");
        }
        assert_eq!(call(app, "/read", Some(&cookie)).await.body, "1");
        // Without a cookie, reading finds no session and /new creates one.
        assert_eq!(call(app, "/read", None).await.status, StatusCode::CONFLICT);
        assert!(call(app, "/new", None).await.cookie.is_some(), "{lib:?}");
    }

    #[tokio::test]
    async fn cloakroom_and_tower_sessions_serve_every_route_the_same_way() {
        let layer = cloakroom_config().build().unwrap();
        check_existing_session_routes(&cloakroom(layer), Lib::Cloakroom).await;
        check_existing_session_routes(&tower(tower_sessions::MemoryStore::default()), Lib::TowerSessions).await;
    }

    #[tokio::test]
    async fn over_redis_both_libraries_serve_every_route_the_same_way() {
        let server = cloakroom_testing::RedisServer::start_with(&["--appendonly", "no"]);
        let (store, fred) = redis_clients(&server.url()).await.unwrap();
        check_existing_session_routes(&over_redis(Lib::Cloakroom, &store, &fred), Lib::Cloakroom).await;
        check_existing_session_routes(&over_redis(Lib::TowerSessions, &store, &fred), Lib::TowerSessions).await;
        let keys = server.command("DBSIZE");
        assert_ne!(keys.trim(), ":0", "the sessions went to Redis");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_postgres_both_libraries_serve_every_route_the_same_way() {
        let server = cloakroom_testing::PostgresServer::start();
        let (store, tower_store) = postgres_stores(&server.url()).await.unwrap();
        check_existing_session_routes(&over_stores(Lib::Cloakroom, &store, &tower_store), Lib::Cloakroom).await;
        check_existing_session_routes(
            &over_stores(Lib::TowerSessions, &store, &tower_store),
            Lib::TowerSessions,
        )
        .await;
        assert_ne!(server.sql("SELECT count(*) FROM cloakroom_sessions"), "0");
        assert_ne!(server.sql("SELECT count(*) FROM tower_sessions.session"), "0");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_sqlite_both_libraries_serve_every_route_the_same_way() {
        let dir = cloakroom_testing::TempDir::new("bench-sqlite");
        let (store, tower_store) = sqlite_stores(dir.path()).await.unwrap();
        check_existing_session_routes(&over_stores(Lib::Cloakroom, &store, &tower_store), Lib::Cloakroom).await;
        check_existing_session_routes(
            &over_stores(Lib::TowerSessions, &store, &tower_store),
            Lib::TowerSessions,
        )
        .await;
        use cloakroom::store::SessionStore as _;
        assert_ne!(store.count(std::time::SystemTime::now()).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn the_write_only_route_keeps_the_existing_session() {
        let app = cloakroom(cloakroom_config().build().unwrap());
        let cookie = call(&app, "/setup", None).await.cookie.unwrap();
        // The blind commit found the session: no new session, so no other cookie.
        let written = call(&app, "/write", Some(&cookie)).await;
        assert!(
            written.cookie.as_ref().is_none_or(|c| *c == cookie),
            "{:?}",
            written.cookie
        );
        assert_eq!(call(&app, "/read", Some(&cookie)).await.body, "1");
    }

    #[tokio::test]
    async fn tower_sessions_saves_on_every_write() {
        let app = tower(tower_sessions::MemoryStore::default());
        let cookie = call(&app, "/setup", None).await.cookie.unwrap();
        // tower-sessions re-sends its cookie when it saved the session: every write
        // must change a value, or it would skip the save.
        for _ in 0..3 {
            assert!(call(&app, "/write", Some(&cookie)).await.cookie.is_some());
        }
    }

    #[tokio::test]
    async fn the_floor_answers_every_path() {
        let app = floor();
        for path in PATHS {
            let answer = call(&app, path, None).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            assert_eq!(answer.cookie, None);
        }
    }

    #[test]
    fn cookie_pairs() {
        assert_eq!(cookie_pair("sid=abc; Path=/; Secure").as_deref(), Some("sid=abc"));
        assert_eq!(cookie_pair("sid=; Max-Age=0"), None);
        assert_eq!(cookie_pair("garbage"), None);
    }

    #[test]
    fn the_seed_data_is_about_100_bytes() {
        let bytes = "counter".len() + 1 + "profile".len() + PROFILE.len() + 2;
        assert!((90..=120).contains(&bytes), "{bytes}");
    }
}
