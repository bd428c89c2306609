//! The validated, immutable configuration a layer runs on: what every request and
//! the manager of one layer share.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderName;

use crate::clock::{Clock, whole_millis};
use crate::config::SessionConfig;
use crate::cookie::CookieAttributes;
use crate::device::DeviceOptions;
use crate::error::Error;
use crate::presession::PresessionSigner;
use crate::response::{ConflictResponder, StoreErrorResponder, TooLargeResponder};
use crate::store::memory::MemoryStore;
use crate::store::{SessionMeta, SessionStore};
use crate::telemetry::Fingerprinter;
use crate::ticket::TicketSigner;

/// Loads and commits skip writing the idle deadline unless it moves by at least
/// this share of the idle timeout (1/20: at most 5% of the idle timeout is lost).
const TOUCH_STEP_DIVISOR: u32 = 20;

/// A checked [`SessionConfig`], turned into what requests use: the store, the
/// signer, the cookie's attributes.
pub(crate) struct Settings {
    /// The store every call goes to (counted and timed with the `metrics` feature).
    pub(crate) store: Arc<dyn SessionStore>,
    /// The store as the application gave it.
    pub(crate) given_store: Arc<dyn SessionStore>,
    pub(crate) signer: TicketSigner,
    pub(crate) fingerprinter: Fingerprinter,
    /// Pre-session CSRF tokens, and the name of their nonce's cookie.
    pub(crate) presession: PresessionSigner,
    pub(crate) presession_cookie: String,
    pub(crate) cookie: CookieAttributes,
    /// The transport header for API clients, if any.
    pub(crate) header: Option<HeaderName>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) idle_timeout: Duration,
    pub(crate) absolute_timeout: Duration,
    /// The smallest move of the idle deadline worth a write.
    pub(crate) touch_step: Duration,
    pub(crate) rolling: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) resave: bool,
    pub(crate) on_store_error: StoreErrorResponder,
    pub(crate) on_conflict: ConflictResponder,
    /// What device details to record, and how.
    pub(crate) devices: DeviceOptions,
    /// The most a session may hold (keys and values, bytes), and the answer past it.
    pub(crate) max_session_bytes: usize,
    pub(crate) on_too_large: TooLargeResponder,
    /// The plain-http warning was logged (once per layer).
    pub(crate) warned_plain_http: std::sync::atomic::AtomicBool,
    /// The express-session import, when configured.
    #[cfg(feature = "express")]
    pub(crate) express: Option<crate::import::express::Importer>,
}

impl Settings {
    /// Checks `config` and builds the settings; the default store is a new
    /// [`MemoryStore`].
    pub(crate) fn new(config: SessionConfig) -> Result<Self, Error> {
        config.validate()?;
        let header = config
            .header
            .as_deref()
            .map(|name| HeaderName::from_bytes(name.as_bytes()).expect("validated"));
        let given_store = config.store.clone().unwrap_or_else(|| Arc::new(MemoryStore::new()));
        #[cfg(feature = "express")]
        let express = match config.express {
            Some(import) => Some(import.into_importer(&config.cookie_name, config.store_redis)?),
            None => None,
        };
        Ok(Self {
            store: metered(given_store.clone()),
            given_store,
            signer: TicketSigner::new(&config.cookie_name, &config.secrets),
            fingerprinter: Fingerprinter::new(&config.secrets[0]),
            presession: PresessionSigner::new(&config.secrets[0]),
            presession_cookie: format!("{}_csrf", config.cookie_name),
            cookie: CookieAttributes {
                name: config.cookie_name,
                path: config.path,
                domain: config.domain,
                secure: config.secure,
                http_only: config.http_only,
                same_site: Some(config.same_site),
                partitioned: false,
                persistent: config.persistent,
            },
            header,
            clock: config.clock,
            idle_timeout: config.idle_timeout,
            absolute_timeout: config.absolute_timeout,
            touch_step: config.idle_timeout / TOUCH_STEP_DIVISOR,
            rolling: config.rolling,
            save_uninitialized: config.save_uninitialized,
            resave: config.resave,
            on_store_error: config.on_store_error,
            on_conflict: config.on_conflict,
            devices: config.devices,
            max_session_bytes: config.max_session_bytes,
            on_too_large: config.on_too_large,
            warned_plain_http: std::sync::atomic::AtomicBool::new(false),
            #[cfg(feature = "express")]
            express,
        })
    }

    /// Now, in whole milliseconds: the precision stores keep.
    pub(crate) fn now(&self) -> SystemTime {
        whole_millis(self.clock.now())
    }

    /// The metadata of a session created at `now` under these timeouts.
    pub(crate) fn fresh_meta(&self, now: SystemTime) -> SessionMeta {
        SessionMeta::new(now, self.idle_timeout, self.absolute_timeout)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("signer", &self.signer)
            .field("cookie", &self.cookie)
            .field("header", &self.header)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("rolling", &self.rolling)
            .field("save_uninitialized", &self.save_uninitialized)
            .field("resave", &self.resave)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// The store, its calls counted and timed when the `metrics` feature is on.
fn metered(store: Arc<dyn SessionStore>) -> Arc<dyn SessionStore> {
    #[cfg(feature = "metrics")]
    let store: Arc<dyn SessionStore> = Arc::new(crate::store::metered::Metered::new(store));
    store
}
