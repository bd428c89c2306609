//! Configuration: the builder behind [`SessionLayer::builder`](crate::SessionLayer::builder)
//! and [`SessionConfig::from_env`], and the checks `build()` runs. It does not build
//! the layer: `layer.rs` turns a checked configuration into one.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum_core::response::Response;
use http::HeaderName;

use crate::clock::{Clock, SystemClock};
use crate::cookie::{SameSite, is_valid_attribute_value, is_valid_cookie_name};
use crate::device::DeviceOptions;
use crate::error::Error;
use crate::response::{
    ConflictResponder, StoreErrorResponder, TooLargeResponder, default_conflict_response, default_store_error_response,
    default_too_large_response,
};
use crate::store::{SessionStore, StoreError};
use crate::ticket::MIN_SECRET_LEN;

/// True when an `APP_ENV` value says production (trimmed, any case).
fn app_env_is_production(value: Option<String>) -> bool {
    value.is_some_and(|env| env.trim().eq_ignore_ascii_case("production"))
}

/// The default cap on a session's keys and values, in bytes.
pub(crate) const DEFAULT_MAX_SESSION_BYTES: usize = 64 * 1024;
/// The smallest cap accepted.
const MIN_SESSION_BYTES: usize = 1024;
/// The largest cap accepted: below every store's own limit on a value.
const MAX_SESSION_BYTES: usize = 16 * 1024 * 1024;

/// Every option of a [`SessionLayer`](crate::SessionLayer); checked as a whole by [`build`](Self::build).
///
/// | option | default |
/// | --- | --- |
/// | secrets | required, each >= 32 bytes; the first signs, all verify |
/// | [`cookie_name`](Self::cookie_name) | `sid` |
/// | [`idle_timeout`](Self::idle_timeout) | 24 h, sliding |
/// | [`absolute_timeout`](Self::absolute_timeout) | 7 days from creation |
/// | [`rolling`](Self::rolling) | false |
/// | [`persistent`](Self::persistent) | true |
/// | [`save_uninitialized`](Self::save_uninitialized) | false |
/// | [`resave`](Self::resave) | false |
/// | [`secure`](Self::secure) / [`http_only`](Self::http_only) / [`same_site`](Self::same_site) / [`path`](Self::path) / [`domain`](Self::domain) | true / true / Lax / `/` / none |
/// | [`header`](Self::header) | off (cookie only) |
/// | [`store`](Self::store) | [`MemoryStore`](crate::MemoryStore) |
///
/// ```
/// use std::time::Duration;
/// use cloakroom::{SameSite, SessionLayer};
///
/// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec())
///     .previous_secret(b"the-secret-we-signed-with-until-yesterday".to_vec())
///     .cookie_name("__Host-sid")
///     .idle_timeout(Duration::from_secs(30 * 60))
///     .absolute_timeout(Duration::from_secs(12 * 3600))
///     .same_site(SameSite::Strict)
///     .build()
///     .unwrap();
/// ```
#[derive(Clone)]
pub struct SessionConfig {
    pub(crate) secrets: Vec<Vec<u8>>,
    pub(crate) cookie_name: String,
    pub(crate) idle_timeout: Duration,
    pub(crate) absolute_timeout: Duration,
    pub(crate) rolling: bool,
    pub(crate) persistent: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) resave: bool,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) header: Option<String>,
    pub(crate) production: bool,
    pub(crate) check_app_env: bool,
    pub(crate) store: Option<Arc<dyn SessionStore>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) on_store_error: StoreErrorResponder,
    pub(crate) on_conflict: ConflictResponder,
    pub(crate) devices: DeviceOptions,
    pub(crate) max_session_bytes: usize,
    pub(crate) on_too_large: TooLargeResponder,
    /// The express-session import, when asked for.
    #[cfg(feature = "express")]
    pub(crate) express: Option<crate::import::ExpressImport>,
    /// The Redis of the store, when it is a `RedisStore`: where the express
    /// import reads unless told otherwise.
    #[cfg(feature = "express")]
    pub(crate) store_redis: Option<(crate::store::redis::Connection, Duration)>,
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("secrets", &format_args!("[{} redacted]", self.secrets.len()))
            .field("cookie_name", &self.cookie_name)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("rolling", &self.rolling)
            .field("persistent", &self.persistent)
            .field("save_uninitialized", &self.save_uninitialized)
            .field("resave", &self.resave)
            .field("secure", &self.secure)
            .field("http_only", &self.http_only)
            .field("same_site", &self.same_site)
            .field("path", &self.path)
            .field("domain", &self.domain)
            .field("header", &self.header)
            .field("store", &self.store)
            .field("express", &self.express_import())
            .finish_non_exhaustive()
    }
}

impl SessionConfig {
    /// Default idle timeout: 24 hours.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cloakroom::SessionConfig;
    ///
    /// assert_eq!(SessionConfig::DEFAULT_IDLE_TIMEOUT, Duration::from_secs(24 * 60 * 60));
    /// ```
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    /// Default absolute timeout: 7 days.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cloakroom::SessionConfig;
    ///
    /// assert_eq!(SessionConfig::DEFAULT_ABSOLUTE_TIMEOUT, Duration::from_secs(7 * 24 * 60 * 60));
    /// ```
    pub const DEFAULT_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

    /// A configuration with every default and `secret` as the signing secret.
    /// Same as [`SessionLayer::builder`](crate::SessionLayer::builder).
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secrets: vec![secret.into()],
            cookie_name: "sid".to_owned(),
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            absolute_timeout: Self::DEFAULT_ABSOLUTE_TIMEOUT,
            rolling: false,
            persistent: true,
            save_uninitialized: false,
            resave: false,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            path: "/".to_owned(),
            domain: None,
            header: None,
            production: false,
            check_app_env: true,
            store: None,
            clock: Arc::new(SystemClock),
            on_store_error: Arc::new(default_store_error_response),
            on_conflict: Arc::new(default_conflict_response),
            devices: DeviceOptions::default(),
            max_session_bytes: DEFAULT_MAX_SESSION_BYTES,
            on_too_large: Arc::new(default_too_large_response),
            #[cfg(feature = "express")]
            express: None,
            #[cfg(feature = "express")]
            store_redis: None,
        }
    }

    /// Reads the configuration from the environment.
    ///
    /// | variable | meaning |
    /// | --- | --- |
    /// | `SESSION_SECRET` | required; comma-separated for rotation, the first signs |
    /// | `SESSION_COOKIE_NAME` | cookie name |
    /// | `SESSION_TTL` | idle timeout in seconds |
    /// | `SESSION_ABSOLUTE_TTL` | absolute timeout in seconds |
    /// | `APP_ENV` | `production` forces `Secure` cookies |
    ///
    /// Every value that cannot be parsed is an [`Error::Config`] naming the variable.
    /// Options not set here can still be changed on the result before `build()`.
    ///
    /// ```no_run
    /// use cloakroom::SessionConfig;
    ///
    /// let layer = SessionConfig::from_env()?.build()?;
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    ///
    /// let config = SessionConfig::from_lookup(|name| match name {
    ///     "SESSION_SECRET" => Some("a-secret-of-at-least-thirty-two-bytes!".into()),
    ///     "SESSION_TTL" => Some("not a number".into()),
    ///     _ => None,
    /// });
    /// assert!(config.unwrap_err().to_string().contains("SESSION_TTL"));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let secrets: Vec<Vec<u8>> = lookup("SESSION_SECRET")
            .ok_or_else(|| {
                Error::config(
                    "SESSION_SECRET",
                    "is not set; set it to a random string of at least 32 bytes \
                     (comma-separated to rotate: new,old)",
                )
            })?
            .split(',')
            .map(|s| s.trim().as_bytes().to_vec())
            .collect();
        if let Some(short) = secrets.iter().position(|s| s.len() < MIN_SECRET_LEN) {
            return Err(Error::config(
                "SESSION_SECRET",
                format!(
                    "secret #{} is {} bytes; every secret must be at least {MIN_SECRET_LEN} bytes",
                    short + 1,
                    secrets[short].len()
                ),
            ));
        }
        let mut config = Self::new(Vec::new());
        config.secrets = secrets;
        if let Some(name) = lookup("SESSION_COOKIE_NAME") {
            config.cookie_name = name;
        }
        if let Some(ttl) = lookup("SESSION_TTL") {
            config.idle_timeout = parse_seconds("SESSION_TTL", &ttl)?;
        }
        if let Some(ttl) = lookup("SESSION_ABSOLUTE_TTL") {
            config.absolute_timeout = parse_seconds("SESSION_ABSOLUTE_TTL", &ttl)?;
        }
        if app_env_is_production(lookup("APP_ENV")) {
            config.production = true;
            config.secure = true;
        }
        Ok(config)
    }

    /// True when `APP_ENV=production` was read by [`from_env`](Self::from_env) or
    /// [`from_lookup`](Self::from_lookup). Whatever built the configuration,
    /// `build()` also reads `APP_ENV` from the process environment, and refuses
    /// `secure(false)` in production (unless [`check_app_env(false)`](Self::check_app_env)).
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    ///
    /// let config = SessionConfig::from_lookup(|name| match name {
    ///     "SESSION_SECRET" => Some("a-secret-of-at-least-thirty-two-bytes!".into()),
    ///     "APP_ENV" => Some("production".into()),
    ///     _ => None,
    /// })?;
    /// assert!(config.is_production());
    /// assert!(!SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").is_production());
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn is_production(&self) -> bool {
        self.production
    }

    /// Whether `build()` reads `APP_ENV` from the process environment and, when
    /// it is `production`, refuses `secure(false)` (default `true`). Turn it off
    /// only in tests that serve plain http in an environment that says
    /// production.
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    ///
    /// // A test server on http://127.0.0.1, whatever APP_ENV the machine has.
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!")
    ///     .secure(false)
    ///     .check_app_env(false)
    ///     .build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn check_app_env(mut self, check: bool) -> Self {
        self.check_app_env = check;
        self
    }

    /// Replaces all secrets: the first signs new tickets, every one verifies.
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    ///
    /// let config = SessionConfig::new(Vec::new())
    ///     .secrets(["a-secret-of-at-least-thirty-two-bytes!", "an-older-secret-also-thirty-two-bytes"]);
    /// assert!(config.build().is_ok());
    /// ```
    pub fn secrets<S: Into<Vec<u8>>>(mut self, secrets: impl IntoIterator<Item = S>) -> Self {
        self.secrets = secrets.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a secret that verifies tickets but no longer signs them (rotation).
    /// Tickets it verifies are re-signed with the first secret on their response.
    ///
    /// ```
    /// use cloakroom::{SessionConfig, SessionId};
    ///
    /// let old = SessionConfig::new(b"the-secret-we-signed-with-until-yesterday").build()?;
    /// let new = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!")
    ///     .previous_secret(b"the-secret-we-signed-with-until-yesterday")
    ///     .build()?;
    /// let id = SessionId::generate();
    /// assert_eq!(new.manager().verify_ticket(&old.manager().ticket(&id)), Some(id));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn previous_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// Cookie name (default `sid`). `__Host-` and `__Secure-` prefixes are honoured:
    /// both require `Secure`; `__Host-` also requires path `/` and no domain.
    ///
    /// ```
    /// use cloakroom::{Error, SessionConfig};
    ///
    /// let config = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!");
    /// assert!(config.clone().cookie_name("__Host-sid").build().is_ok());
    /// let err = config.cookie_name("__Host-sid").path("/app").build().unwrap_err();
    /// assert!(matches!(err, Error::Config { option: "cookie_name", .. }));
    /// ```
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Sliding idle timeout (default 24 h): a session unused this long is dead.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cloakroom::SessionConfig;
    ///
    /// let config = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!");
    /// assert!(config.clone().idle_timeout(Duration::from_secs(30 * 60)).build().is_ok());
    /// assert!(config.idle_timeout(Duration::ZERO).build().is_err());
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Absolute timeout (default 7 days): a session is dead this long after its
    /// creation, however active.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cloakroom::SessionConfig;
    ///
    /// let config = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!");
    /// assert!(config.clone().absolute_timeout(Duration::from_secs(12 * 3600)).build().is_ok());
    /// assert!(config.absolute_timeout(Duration::ZERO).build().is_err());
    /// ```
    pub fn absolute_timeout(mut self, timeout: Duration) -> Self {
        self.absolute_timeout = timeout;
        self
    }

    /// Re-send the cookie with a fresh `Max-Age` on every response that loaded a
    /// live session (default false: it is re-sent when the session's idle deadline
    /// slides, about once per 1/20 of the idle timeout while it is in use).
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").rolling(true).build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn rolling(mut self, rolling: bool) -> Self {
        self.rolling = rolling;
        self
    }

    /// False for a browser-session cookie without `Max-Age` (default true).
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// // The Set-Cookie a layer sends with a ticket: its attributes at work.
    /// let set_cookie = |layer: SessionLayer| layer.manager().set_cookie(&SessionId::generate()).to_str().unwrap().to_owned();
    ///
    /// let config = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!");
    /// assert!(set_cookie(config.clone().build()?).contains("; Max-Age="));
    /// assert!(!set_cookie(config.persistent(false).build()?).contains("Max-Age"));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.persistent = persistent;
        self
    }

    /// Store new sessions (and send their cookie) even when nothing was put in
    /// them (default false).
    ///
    /// ```
    /// # use axum::{Router, body::Body, routing::get};
    /// # use tower::ServiceExt as _;
    /// use cloakroom::{Session, SessionConfig};
    ///
    /// async fn look(_session: Session) {}
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").save_uninitialized(true).build()?;
    /// # let manager = layer.manager();
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let app = Router::new().route("/", get(look)).layer(layer);
    /// let response = app.oneshot(http::Request::new(Body::empty())).await.unwrap();
    /// assert!(response.headers().contains_key("set-cookie"));
    /// assert_eq!(manager.count().await?, 1);
    /// # Ok::<(), cloakroom::Error>(())
    /// # })?;
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn save_uninitialized(mut self, save: bool) -> Self {
        self.save_uninitialized = save;
        self
    }

    /// Commit after every request that loaded a live session, even when nothing
    /// changed (default false). The commit slides the idle deadline when it is due
    /// (by at least 1/20 of the idle timeout), like a load.
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").resave(true).build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn resave(mut self, resave: bool) -> Self {
        self.resave = resave;
        self
    }

    /// `Secure` cookie attribute (default true). `APP_ENV=production` refuses
    /// false at `build()`, whatever built the configuration. A browser drops a
    /// `Secure` cookie sent over plain http to any host but a loopback one: the
    /// layer logs one warning when it sees that happen.
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// // The Set-Cookie a layer sends with a ticket: its attributes at work.
    /// let set_cookie = |layer: SessionLayer| layer.manager().set_cookie(&SessionId::generate()).to_str().unwrap().to_owned();
    ///
    /// // Plain-HTTP local development only.
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").secure(false).build()?;
    /// assert!(!set_cookie(layer).contains("Secure"));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// `HttpOnly` cookie attribute (default true).
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// // The Set-Cookie a layer sends with a ticket: its attributes at work.
    /// let set_cookie = |layer: SessionLayer| layer.manager().set_cookie(&SessionId::generate()).to_str().unwrap().to_owned();
    ///
    /// let config = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!");
    /// assert!(set_cookie(config.clone().build()?).contains("; HttpOnly"));
    /// assert!(!set_cookie(config.http_only(false).build()?).contains("HttpOnly"));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// `SameSite` cookie attribute (default Lax). `None` requires `Secure`.
    ///
    /// ```
    /// use cloakroom::{SameSite, SessionConfig};
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// // The Set-Cookie a layer sends with a ticket: its attributes at work.
    /// let set_cookie = |layer: SessionLayer| layer.manager().set_cookie(&SessionId::generate()).to_str().unwrap().to_owned();
    ///
    /// let config = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!");
    /// assert!(set_cookie(config.clone().same_site(SameSite::Strict).build()?).ends_with("; SameSite=Strict"));
    /// assert!(config.same_site(SameSite::None).secure(false).build().is_err());
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// `Path` cookie attribute (default `/`).
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// // The Set-Cookie a layer sends with a ticket: its attributes at work.
    /// let set_cookie = |layer: SessionLayer| layer.manager().set_cookie(&SessionId::generate()).to_str().unwrap().to_owned();
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").path("/app").build()?;
    /// assert!(set_cookie(layer).contains("; Path=/app;"));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// `Domain` cookie attribute (default none: host-only).
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// // The Set-Cookie a layer sends with a ticket: its attributes at work.
    /// let set_cookie = |layer: SessionLayer| layer.manager().set_cookie(&SessionId::generate()).to_str().unwrap().to_owned();
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!")
    ///     .domain(Some("example.com".into()))
    ///     .build()?;
    /// assert!(set_cookie(layer).contains("; Domain=example.com;"));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn domain(mut self, domain: Option<String>) -> Self {
        self.domain = domain;
        self
    }

    /// Header transport for API and mobile clients: a request carrying this header
    /// (e.g. `x-session-id`) uses its value as the ticket instead of the cookie, and
    /// its response carries the current ticket in the same header, never a cookie.
    ///
    /// ```
    /// # use axum::{Router, body::Body, routing::get};
    /// # use tower::ServiceExt as _;
    /// use cloakroom::{Session, SessionConfig};
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").header("x-session-id").build()?;
    /// # let app = Router::new().route("/", get(|s: Session| async move { s.insert("k", 1) })).layer(layer);
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// // A client without a ticket yet sends the header empty.
    /// let request = http::Request::builder().header("x-session-id", "").body(Body::empty()).unwrap();
    /// # let response = rt.block_on(app.oneshot(request)).unwrap();
    /// assert_eq!(response.headers()["x-session-id"].len(), 87);
    /// assert!(!response.headers().contains_key("set-cookie"));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn header(mut self, name: impl Into<String>) -> Self {
        self.header = Some(name.into());
        self
    }

    /// Records each session's device (its `User-Agent`, cut to 256 bytes, and the
    /// client's address, see [`client_addr`](Self::client_addr)) when the
    /// session is created and when it is bound to a user (with the time of that
    /// sign-in); the manager's
    /// [`list_user`](crate::SessionManager::list_user) returns them (default
    /// off: it stores who connects from where).
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").record_devices(true).build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn record_devices(mut self, record: bool) -> Self {
        self.devices.record = record;
        self
    }

    /// How to find a request's peer address in its extensions, for the device
    /// details; with axum, its `ConnectInfo` (serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`). Without it the
    /// address is recorded as unknown.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::extract::ConnectInfo;
    /// use cloakroom::SessionConfig;
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!")
    ///     .record_devices(true)
    ///     .client_addr(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip()))
    ///     .build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn client_addr(
        mut self,
        find: impl Fn(&http::Extensions) -> Option<std::net::IpAddr> + Send + Sync + 'static,
    ) -> Self {
        self.devices.client_addr = Some(Arc::new(find));
        self
    }

    /// The reverse proxies whose `X-Forwarded-For` is believed: when the peer is
    /// one of them, the client is the nearest forwarded hop that is not. The
    /// header of any other peer is ignored (a client can write anything there).
    /// Needs [`client_addr`](Self::client_addr).
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    /// use axum::extract::ConnectInfo;
    /// use cloakroom::SessionConfig;
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!")
    ///     .record_devices(true)
    ///     .client_addr(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip()))
    ///     .trusted_proxies([IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))])
    ///     .build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = std::net::IpAddr>) -> Self {
        self.devices.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// The store (default: a new [`MemoryStore`](crate::MemoryStore)).
    ///
    /// ```
    /// use cloakroom::{MemoryStore, SessionConfig};
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!")
    ///     .store(MemoryStore::builder().max_sessions(10_000).build())
    ///     .build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn store(mut self, store: impl SessionStore) -> Self {
        #[cfg(feature = "express")]
        {
            let any: &dyn std::any::Any = &store;
            self.store_redis = any
                .downcast_ref::<crate::store::redis::RedisStore>()
                .map(crate::store::redis::RedisStore::connection);
        }
        self.store = Some(Arc::new(store));
        self
    }

    /// The store, already shared.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use cloakroom::{MemoryStore, SessionConfig};
    /// use cloakroom::store::SessionStore;
    ///
    /// let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    /// let site = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").shared_store(store.clone()).build()?;
    /// assert!(Arc::ptr_eq(&site.store(), &store));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn shared_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        #[cfg(feature = "express")]
        {
            self.store_redis = None;
        }
        self.store = Some(store);
        self
    }

    /// Takes over the sessions of an Express service (express-session with
    /// connect-redis): a request with no valid ticket of this layer but a signed
    /// express cookie gets its express session as a cloakroom session, and its
    /// response carries this layer's ticket (cargo feature `express`; see
    /// [`ExpressImport`](crate::import::ExpressImport)).
    ///
    /// The layer's build fails when the import has no Redis to read and the store
    /// is not a [`RedisStore`](crate::RedisStore) given with [`store`](Self::store),
    /// or when both cookies have one name.
    ///
    /// ```
    /// use cloakroom::import::ExpressImport;
    /// use cloakroom::{Error, SessionConfig};
    ///
    /// let config = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!")
    ///     .import_express(ExpressImport::new("keyboard cat"));
    /// // The memory store is no connect-redis: the import must be told its Redis.
    /// let err = config.build().unwrap_err();
    /// assert!(matches!(err, Error::Config { option: "import_express", .. }));
    /// assert!(err.to_string().contains("ExpressImport::connect"));
    /// ```
    #[cfg(feature = "express")]
    pub fn import_express(mut self, import: crate::import::ExpressImport) -> Self {
        self.express = Some(import);
        self
    }

    #[cfg(feature = "express")]
    fn express_import(&self) -> Option<&crate::import::ExpressImport> {
        self.express.as_ref()
    }

    #[cfg(not(feature = "express"))]
    fn express_import(&self) -> Option<()> {
        None
    }

    /// The clock deadlines are read from (default: the system clock).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cloakroom::{SessionConfig, SessionId};
    /// use cloakroom::clock::{Clock, ManualClock};
    /// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let clock = ManualClock::new();
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").clock(clock.clone()).build()?;
    /// let meta = SessionMeta::new(clock.now(), Duration::from_secs(60), Duration::from_secs(3600));
    /// layer.store().create(&SessionId::generate().store_key(), &SessionRecord::new(meta)).await?;
    /// assert_eq!(layer.manager().count().await?, 1);
    /// clock.advance(Duration::from_secs(61));
    /// assert_eq!(layer.manager().count().await?, 0);
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Replaces the response sent when the store fails (default: 503
    /// `{"error":"session store unavailable"}`). The cause is logged either way.
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use cloakroom::SessionConfig;
    /// use http::StatusCode;
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!")
    ///     .on_store_error(|_err| (StatusCode::SERVICE_UNAVAILABLE, "please try again shortly").into_response())
    ///     .build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn on_store_error(mut self, respond: impl Fn(&StoreError) -> Response + Send + Sync + 'static) -> Self {
        self.on_store_error = Arc::new(respond);
        self
    }

    /// Replaces the response sent when the session changed during the request
    /// (default: 409 `{"error":"the session changed during this request; try
    /// again"}`): a key the request read and wrote back was changed by another
    /// request first, or the session was regenerated under it. Nothing of the
    /// request was applied; the response still carries the cache headers.
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use cloakroom::SessionConfig;
    /// use http::StatusCode;
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!")
    ///     .on_conflict(|| (StatusCode::CONFLICT, "someone else changed your cart; reload").into_response())
    ///     .build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn on_conflict(mut self, respond: impl Fn() -> Response + Send + Sync + 'static) -> Self {
        self.on_conflict = Arc::new(respond);
        self
    }

    /// The most a session may hold, in bytes of its keys and values (default
    /// 64 KiB; 1 KiB to 16 MiB, below every store's own limit). A request whose
    /// writes would take the session past it applies nothing and is answered 413
    /// `{"error":"session too large"}` ([`on_too_large`](Self::on_too_large));
    /// what the session already holds is left as it is. A request that only
    /// removes keys always passes.
    ///
    /// The cap is checked against the session as the request sees it (what it
    /// loaded, with its own writes); concurrent requests that each stay under it
    /// can together pass it by what they add.
    ///
    /// ```
    /// use cloakroom::SessionConfig;
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").max_session_bytes(16 * 1024).build();
    /// assert!(layer.is_ok());
    /// assert!(SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").max_session_bytes(10).build().is_err());
    /// ```
    pub fn max_session_bytes(mut self, bytes: usize) -> Self {
        self.max_session_bytes = bytes;
        self
    }

    /// Replaces the response sent when a request would take the session past
    /// [`max_session_bytes`](Self::max_session_bytes) (default: 413
    /// `{"error":"session too large"}`). Nothing of the request was applied.
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use cloakroom::SessionConfig;
    /// use http::StatusCode;
    ///
    /// let layer = SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!")
    ///     .on_too_large(|| (StatusCode::PAYLOAD_TOO_LARGE, "your cart is full").into_response())
    ///     .build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn on_too_large(mut self, respond: impl Fn() -> Response + Send + Sync + 'static) -> Self {
        self.on_too_large = Arc::new(respond);
        self
    }

    /// Checks every option together; each error names its option and the fix.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.secrets.is_empty() {
            return Err(Error::config("secret", "at least one secret is required"));
        }
        if let Some(short) = self.secrets.iter().find(|s| s.len() < MIN_SECRET_LEN) {
            return Err(Error::config(
                "secret",
                format!(
                    "a secret of {} bytes was given; each must be at least {MIN_SECRET_LEN} bytes \
                     of random data (e.g. `openssl rand -base64 48`)",
                    short.len()
                ),
            ));
        }
        if !is_valid_cookie_name(&self.cookie_name) {
            return Err(Error::config(
                "cookie_name",
                format!(
                    "{:?} is not a valid cookie name; use letters, digits and -_.",
                    self.cookie_name
                ),
            ));
        }
        if self.idle_timeout.is_zero() {
            return Err(Error::config("idle_timeout", "must be greater than zero"));
        }
        if !(MIN_SESSION_BYTES..=MAX_SESSION_BYTES).contains(&self.max_session_bytes) {
            return Err(Error::config(
                "max_session_bytes",
                format!(
                    "{} bytes was given; use {MIN_SESSION_BYTES} to {MAX_SESSION_BYTES} (the default is \
                     {DEFAULT_MAX_SESSION_BYTES})",
                    self.max_session_bytes
                ),
            ));
        }
        if !self.devices.trusted_proxies.is_empty() && self.devices.client_addr.is_none() {
            return Err(Error::config(
                "trusted_proxies",
                "needs client_addr: without the peer's address no proxy can be recognised",
            ));
        }
        if self.absolute_timeout.is_zero() {
            return Err(Error::config("absolute_timeout", "must be greater than zero"));
        }
        if !self.path.starts_with('/') || !is_valid_attribute_value(&self.path) {
            return Err(Error::config(
                "path",
                format!("{:?} must start with / and hold no spaces or ;", self.path),
            ));
        }
        if let Some(domain) = &self.domain
            && (domain.is_empty() || !is_valid_attribute_value(domain))
        {
            return Err(Error::config(
                "domain",
                format!("{domain:?} is not a valid cookie domain"),
            ));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(Error::config("same_site", "SameSite=None requires secure(true)"));
        }
        let prefixed = |prefix: &str| {
            self.cookie_name
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        };
        if (prefixed("__Secure-") || prefixed("__Host-")) && !self.secure {
            return Err(Error::config(
                "cookie_name",
                format!("{} cookies require secure(true)", self.cookie_name),
            ));
        }
        if prefixed("__Host-") && (self.path != "/" || self.domain.is_some()) {
            return Err(Error::config(
                "cookie_name",
                "__Host- cookies require path(\"/\") and no domain",
            ));
        }
        let production =
            self.production || (self.check_app_env && app_env_is_production(std::env::var("APP_ENV").ok()));
        if production && !self.secure {
            return Err(Error::config(
                "secure",
                "APP_ENV=production requires Secure cookies; remove secure(false) (a test serving plain \
                 http can opt out with check_app_env(false))",
            ));
        }
        if let Some(header) = &self.header
            && HeaderName::from_bytes(header.as_bytes()).is_err()
        {
            return Err(Error::config(
                "header",
                format!("{header:?} is not a valid header name"),
            ));
        }
        Ok(())
    }
}

fn parse_seconds(variable: &'static str, value: &str) -> Result<Duration, Error> {
    match value.trim().parse::<u64>() {
        Ok(0) => Err(Error::config(variable, "must be greater than zero (seconds)")),
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => Err(Error::config(
            variable,
            format!("{value:?} is not a whole number of seconds"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"an-example-secret-of-32-bytes-or-more";

    fn problem(config: SessionConfig) -> (&'static str, String) {
        match config.build() {
            Err(Error::Config { option, problem }) => (option, problem),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn a_short_secret_fails_naming_the_option() {
        assert_eq!(problem(SessionConfig::new(b"short".to_vec())).0, "secret");
        assert_eq!(
            problem(SessionConfig::new(SECRET).previous_secret(b"x".to_vec())).0,
            "secret"
        );
    }

    #[test]
    fn zero_timeouts_fail() {
        assert_eq!(
            problem(SessionConfig::new(SECRET).idle_timeout(Duration::ZERO)).0,
            "idle_timeout"
        );
        assert_eq!(
            problem(SessionConfig::new(SECRET).absolute_timeout(Duration::ZERO)).0,
            "absolute_timeout"
        );
    }

    #[test]
    fn same_site_none_needs_secure() {
        let config = SessionConfig::new(SECRET).same_site(SameSite::None).secure(false);
        assert_eq!(problem(config).0, "same_site");
    }

    #[test]
    fn cookie_prefixes_are_enforced() {
        assert_eq!(
            problem(SessionConfig::new(SECRET).cookie_name("__Host-sid").secure(false)).0,
            "cookie_name"
        );
        assert_eq!(
            problem(SessionConfig::new(SECRET).cookie_name("__Host-sid").path("/app")).0,
            "cookie_name"
        );
        assert_eq!(
            problem(
                SessionConfig::new(SECRET)
                    .cookie_name("__Host-sid")
                    .domain(Some("example.com".into()))
            )
            .0,
            "cookie_name"
        );
        assert_eq!(
            problem(SessionConfig::new(SECRET).cookie_name("__Secure-sid").secure(false)).0,
            "cookie_name"
        );
        assert!(SessionConfig::new(SECRET).cookie_name("__Host-sid").build().is_ok());
    }

    #[test]
    fn bad_names_paths_and_headers_fail() {
        assert_eq!(problem(SessionConfig::new(SECRET).cookie_name("a b")).0, "cookie_name");
        assert_eq!(problem(SessionConfig::new(SECRET).path("app")).0, "path");
        assert_eq!(problem(SessionConfig::new(SECRET).path("/a;b")).0, "path");
        assert_eq!(
            problem(SessionConfig::new(SECRET).domain(Some(String::new()))).0,
            "domain"
        );
        assert_eq!(problem(SessionConfig::new(SECRET).header("bad header")).0, "header");
    }

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn from_env_reads_every_variable() {
        let config = SessionConfig::from_lookup(env(&[
            (
                "SESSION_SECRET",
                "an-example-secret-of-32-bytes-or-more, an-older-secret-of-32-bytes-or-more",
            ),
            ("SESSION_COOKIE_NAME", "app_sid"),
            ("SESSION_TTL", "600"),
            ("SESSION_ABSOLUTE_TTL", "3600"),
        ]))
        .unwrap();
        assert_eq!(config.secrets.len(), 2);
        assert_eq!(config.secrets[1], b"an-older-secret-of-32-bytes-or-more");
        assert_eq!(config.cookie_name, "app_sid");
        assert_eq!(config.idle_timeout, Duration::from_secs(600));
        assert_eq!(config.absolute_timeout, Duration::from_secs(3600));
        assert!(config.build().is_ok());
    }

    #[test]
    fn from_env_names_the_bad_variable() {
        let missing = SessionConfig::from_lookup(env(&[])).unwrap_err();
        assert!(matches!(
            missing,
            Error::Config {
                option: "SESSION_SECRET",
                ..
            }
        ));
        for (var, value) in [("SESSION_TTL", "ten"), ("SESSION_ABSOLUTE_TTL", "0")] {
            let err = SessionConfig::from_lookup(|name| match name {
                "SESSION_SECRET" => Some("an-example-secret-of-32-bytes-or-more".into()),
                n if n == var => Some(value.into()),
                _ => None,
            })
            .unwrap_err();
            assert!(matches!(err, Error::Config { option, .. } if option == var), "{err}");
        }
    }

    #[test]
    fn production_forces_secure_cookies() {
        let config = SessionConfig::from_lookup(env(&[
            ("SESSION_SECRET", "an-example-secret-of-32-bytes-or-more"),
            ("APP_ENV", "production"),
        ]))
        .unwrap();
        assert!(config.secure);
        assert_eq!(problem(config.secure(false)).0, "secure");
    }
}
