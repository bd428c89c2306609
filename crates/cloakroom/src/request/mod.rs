//! One request's session: its state, the lazy load, the commit plan, and what the
//! response tells the client.
//!
//! | file | concern |
//! | --- | --- |
//! | `incoming.rs` | reading the ticket (cookie or transport header) |
//! | `state.rs` | the request's status, view and pending changes |
//! | `load.rs` | the lazy load, with the layer's own timeouts on top of the store's |
//! | `commit.rs` | turning pending changes into store calls |
//! | `respond.rs` | the ticket, `Vary` and `Cache-Control` of the response |
//! | `import.rs` | taking over an express session, and ending it at a sign-out |

mod commit;
#[cfg(feature = "express")]
mod import;
mod incoming;
mod load;
mod respond;
mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

pub(crate) use self::commit::CommitError;
pub(crate) use self::incoming::read_ticket;
pub(crate) use self::respond::plain_http_host;
pub(crate) use self::state::{AddError, CookieAction, Incoming, PERSISTENT_KEY, RESERVED_PREFIX, State, Status};
use crate::settings::Settings;

/// Per-request session state shared by every extractor of the request.
pub(crate) struct RequestSession {
    pub(crate) settings: Arc<Settings>,
    /// The ticket came in the transport header: answer in the header, not a cookie.
    via_header: bool,
    /// A session outside any request (no response to carry cookies).
    detached: bool,
    /// The request's device details, when the layer records them.
    pub(crate) device: Option<crate::device::Captured>,
    /// The host of a request that came over plain http to a host that is not a
    /// loopback one, when the layer sends `Secure` cookies (a browser drops them).
    pub(crate) plain_http_host: Option<String>,
    /// The request's express cookie (URL-decoded, not yet verified), when the
    /// layer imports express sessions.
    #[cfg(feature = "express")]
    pub(crate) express_cookie: Option<String>,
    span: tracing::Span,
    /// Held while reading the store, so two extractors do not load twice.
    load_lock: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

impl RequestSession {
    /// The session of a request whose ticket stands as `incoming`.
    pub(crate) fn new(settings: Arc<Settings>, incoming: Incoming, via_header: bool, span: tracing::Span) -> Self {
        Self {
            settings,
            via_header,
            detached: false,
            device: None,
            plain_http_host: None,
            #[cfg(feature = "express")]
            express_cookie: None,
            span,
            load_lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(State::new(incoming)),
        }
    }

    /// A session outside any request: new, anonymous, already "read" (there is
    /// nothing to read), committed by `save()` alone.
    pub(crate) fn detached(settings: Arc<Settings>) -> Self {
        let mut session = Self::new(settings, Incoming::Absent, false, tracing::Span::none());
        session.detached = true;
        session.state().status = Status::New;
        session
    }

    /// True for a session outside any request.
    pub(crate) fn is_detached(&self) -> bool {
        self.detached
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.settings.now()
    }
}
