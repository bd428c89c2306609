//! The request's session: a synchronous view of its data plus the change set the
//! request is building.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::id::{SessionHandle, SessionId, StoreKey};
use crate::layer::Shared;
use crate::store::{SessionMeta, StoreError, Touch, UserChange};
use crate::ticket::VerifiedTicket;

/// Keys that start with this prefix belong to [`Scoped`](crate::Scoped) slices.
///
/// ```
/// use cloakroom::SCOPE_PREFIX;
///
/// assert_eq!(SCOPE_PREFIX, "scope::");
/// // So `Session::insert("scope::checkout", ..)` fails with `Error::ReservedKey`.
/// ```
pub const SCOPE_PREFIX: &str = "scope::";

/// The session of the current request.
///
/// Extract it in a handler (it is an axum extractor): the store is read then, once,
/// and every method after that is synchronous. Changes are recorded as a change set
/// and committed by the layer when the response is ready (or earlier with
/// [`save`](Self::save)); keys this request did not touch are left as the store has
/// them, so concurrent requests on one session keep each other's writes.
///
/// Clones share the same session. `Debug` shows neither the ID nor the values.
///
/// ```
/// use axum::{Router, routing::get};
/// use cloakroom::{Session, SessionLayer};
///
/// async fn visits(session: Session) -> Result<String, cloakroom::Error> {
///     let n = session.update("visits", |n: u64| n + 1)?;
///     Ok(format!("visit number {n}"))
/// }
///
/// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec())
///     .build()
///     .unwrap();
/// let app: Router = Router::new().route("/", get(visits)).layer(layer);
/// ```
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<RequestSession>,
}

/// What the layer puts in the request's extensions: a session not loaded yet. A
/// private type, so only the extractors (which load it) hand out a `Session`.
#[derive(Clone)]
pub(crate) struct LazySession(pub(crate) Session);

/// Where the request's ticket stood when it arrived.
#[derive(Debug, Clone)]
pub(crate) enum Incoming {
    /// No ticket.
    Absent,
    /// A ticket that failed verification.
    Invalid,
    /// A ticket the server signed.
    Valid(VerifiedTicket),
}

/// What the response should do with the client's ticket, as decided so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieAction {
    /// Send nothing (unless the end of the request decides otherwise).
    Keep,
    /// Send the current ticket.
    Set,
    /// Tell the client to forget its ticket.
    Remove,
}

/// Per-request session state shared by every extractor of the request.
pub(crate) struct RequestSession {
    pub(crate) shared: Arc<Shared>,
    pub(crate) incoming: Incoming,
    /// The ticket came in the transport header: answer in the header, not a cookie.
    pub(crate) via_header: bool,
    pub(crate) span: tracing::Span,
    /// Held while reading the store, so two extractors do not load twice.
    pub(crate) load_lock: tokio::sync::Mutex<()>,
    pub(crate) state: Mutex<State>,
}

/// What changed in this request and is not yet committed.
#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) clear: bool,
    pub(crate) set: HashMap<String, String>,
    pub(crate) remove: HashSet<String>,
    pub(crate) user: Option<UserChange>,
    pub(crate) regenerate: bool,
    /// The store key of a destroyed session, to delete at commit.
    pub(crate) destroy: Option<StoreKey>,
    pub(crate) touch: bool,
}

impl Pending {
    pub(crate) fn has_writes(&self) -> bool {
        self.clear || !self.set.is_empty() || !self.remove.is_empty() || self.user.is_some()
    }

    /// Puts back what a failed commit took, under what was written since.
    pub(crate) fn restore_under(&mut self, newer: Pending) {
        let older = std::mem::replace(self, newer);
        if self.clear {
            return;
        }
        self.clear |= older.clear;
        for (key, value) in older.set {
            if !self.remove.contains(&key) {
                self.set.entry(key).or_insert(value);
            }
        }
        for key in older.remove {
            if !self.set.contains_key(&key) {
                self.remove.insert(key);
            }
        }
        self.user = self.user.take().or(older.user);
        self.regenerate |= older.regenerate;
        self.destroy = self.destroy.or(older.destroy);
        self.touch |= older.touch;
    }
}

pub(crate) struct State {
    pub(crate) loaded: bool,
    /// The session exists in the store under `id`.
    pub(crate) persisted: bool,
    pub(crate) id: Option<SessionId>,
    /// The session's data as this request sees it: the store's, with pending
    /// changes applied.
    pub(crate) data: HashMap<String, String>,
    pub(crate) meta: Option<SessionMeta>,
    /// When the session ends, as a blind commit reported it (no `meta` then).
    pub(crate) expires_at: Option<SystemTime>,
    pub(crate) pending: Pending,
    pub(crate) cookie: CookieAction,
    /// The load slid the idle deadline: the cookie should follow.
    pub(crate) slid: bool,
    /// The incoming ticket was valid but its session is gone.
    pub(crate) incoming_gone: bool,
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            loaded: false,
            persisted: false,
            id: None,
            data: HashMap::new(),
            meta: None,
            expires_at: None,
            pending: Pending::default(),
            cookie: CookieAction::Keep,
            slid: false,
            incoming_gone: false,
        }
    }

    fn write(&mut self, key: String, json: String) {
        self.pending.remove.remove(&key);
        // Before the load (the write-only handle), the view is built by the load
        // from the store's data and the pending changes: no copy needed here.
        if self.loaded {
            self.data.insert(key.clone(), json.clone());
        }
        self.pending.set.insert(key, json);
    }

    fn delete(&mut self, key: &str) -> bool {
        self.pending.set.remove(key);
        if self.persisted || !self.loaded {
            self.pending.remove.insert(key.to_owned());
        }
        self.data.remove(key).is_some()
    }

    /// Replaces the view with the store's data and re-applies pending changes.
    pub(crate) fn rebase(&mut self, mut data: HashMap<String, String>) {
        if self.pending.clear {
            data.clear();
        }
        for key in &self.pending.remove {
            data.remove(key);
        }
        for (key, value) in &self.pending.set {
            data.insert(key.clone(), value.clone());
        }
        self.data = data;
    }
}

impl RequestSession {
    pub(crate) fn new(shared: Arc<Shared>, incoming: Incoming, via_header: bool, span: tracing::Span) -> Self {
        Self {
            shared,
            incoming,
            via_header,
            span,
            load_lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(State::new()),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> SystemTime {
        crate::clock::whole_millis(self.shared.config.clock.now())
    }

    /// Reads the session from the store unless this request already did.
    pub(crate) async fn ensure_loaded(&self) -> Result<(), StoreError> {
        if self.state().loaded {
            return Ok(());
        }
        let _guard = self.load_lock.lock().await;
        if self.state().loaded {
            return Ok(());
        }
        let key = match &self.incoming {
            Incoming::Valid(ticket) => Some(ticket.id.clone()),
            _ => None,
        };
        self.load(key).await
    }

    /// Reads the session at `id` (if any) into the state.
    async fn load(&self, id: Option<SessionId>) -> Result<(), StoreError> {
        let record = match &id {
            Some(id) => self.read_live(id).await?,
            None => None,
        };
        let mut state = self.state();
        state.loaded = true;
        match (id, record) {
            (Some(id), Some((record, slid))) => {
                state.persisted = true;
                state.id = Some(id);
                state.meta = Some(record.meta);
                state.slid |= slid;
                state.rebase(record.data);
            }
            (id, _) => {
                if id.is_some() {
                    state.incoming_gone = true;
                    // Writes meant for the session that is gone go nowhere.
                    state.pending = Pending::default();
                    tracing::debug!("session ticket refers to a session that is gone; starting anew");
                }
                state.persisted = false;
                state.id = None;
                state.meta = None;
                state.rebase(HashMap::new());
            }
        }
        Ok(())
    }

    /// Loads a live session, enforcing this layer's timeouts on top of the store's
    /// deadlines. Returns the record and whether its idle deadline slid.
    async fn read_live(&self, id: &SessionId) -> Result<Option<(crate::store::SessionRecord, bool)>, StoreError> {
        let config = &self.shared.config;
        let now = self.now();
        let touch = Touch::new(now, now + config.idle_timeout).min_step(self.shared.touch_step);
        let key = id.store_key();
        let Some(record) = self.shared.store.load(&key, &touch).await? else {
            return Ok(None);
        };
        let meta = &record.meta;
        if now >= meta.created_at + config.absolute_timeout || now >= meta.last_seen + config.idle_timeout {
            // Stored under longer timeouts than this layer allows: dead here.
            self.shared.store.delete(&key).await?;
            tracing::debug!("session expired under the configured timeouts");
            return Ok(None);
        }
        let slid = meta.idle_deadline == touch.idle_deadline && meta.last_seen == now;
        Ok(Some((record, slid)))
    }

    /// Reads the session again, keeping this request's pending changes.
    pub(crate) async fn reload(&self) -> Result<(), StoreError> {
        let _guard = self.load_lock.lock().await;
        let id = {
            let state = self.state();
            if state.loaded {
                state.persisted.then(|| state.id.clone()).flatten()
            } else {
                match &self.incoming {
                    Incoming::Valid(ticket) => Some(ticket.id.clone()),
                    _ => None,
                }
            }
        };
        self.load(id).await
    }
}

impl Session {
    pub(crate) fn from_request(inner: Arc<RequestSession>) -> Self {
        Self { inner }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state()
    }

    /// The session ID, or `None` for a new session that has not been given one yet
    /// (it gets one when first stored). Treat it as a secret.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     assert!(session.id().is_none());
    ///     session.insert("visits", 1)?;
    ///     session.save().await?;
    ///     assert!(session.id().is_some());
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn id(&self) -> Option<SessionId> {
        self.state().id.clone()
    }

    /// The opaque handle of this session in per-user listings
    /// ([`SessionManager::list_user`](crate::SessionManager::list_user)), once stored.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.set_user("alice");
    ///     session.save().await?;
    ///     let handle = session.handle().expect("stored");
    ///     assert_eq!(handle, session.id().unwrap().store_key().handle());
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn handle(&self) -> Option<SessionHandle> {
        let state = self.state();
        state
            .id
            .as_ref()
            .filter(|_| state.persisted)
            .map(|id| id.store_key().handle())
    }

    /// The value under `key`, or `None` when there is none.
    ///
    /// Fails with [`Error::Deserialize`] when the stored value is not a `T`.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.insert("theme", "dark")?;
    ///     assert_eq!(session.get::<String>("theme")?.as_deref(), Some("dark"));
    ///     assert_eq!(session.get::<String>("missing")?, None);
    ///     assert!(session.get::<u64>("theme").is_err()); // not a number
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let state = self.state();
        let Some(json) = state.data.get(key) else {
            return Ok(None);
        };
        serde_json::from_str(json)
            .map(Some)
            .map_err(|source| Error::Deserialize {
                key: key.to_owned(),
                source,
            })
    }

    /// The value under `key`, or `fallback` when there is none.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     let cart: Vec<String> = session.get_or("cart", Vec::new())?;
    ///     assert!(cart.is_empty());
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, fallback: T) -> Result<T, Error> {
        Ok(self.get(key)?.unwrap_or(fallback))
    }

    /// Sets `key` to `value`.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.insert("cart", ["apple", "pear"])?;
    ///     assert_eq!(session.get::<Vec<String>>("cart")?.unwrap().len(), 2);
    ///     assert!(session.insert("scope::checkout", 1).is_err()); // reserved for `Scoped`
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn insert(&self, key: impl Into<String>, value: impl Serialize) -> Result<(), Error> {
        let key = checked_key(key.into())?;
        let json = to_json(&key, &value)?;
        self.state().write(key, json);
        Ok(())
    }

    /// Replaces the value under `key` with `f(current)`, starting from
    /// `T::default()` when absent; returns the new value. `f` runs without any lock
    /// held, so it may use the session itself.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     assert_eq!(session.update("visits", |n: u64| n + 1)?, 1);
    ///     assert_eq!(session.update("visits", |n: u64| n + 1)?, 2);
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn update<T, F>(&self, key: &str, f: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned + Default,
        F: FnOnce(T) -> T,
    {
        let key = checked_key(key.to_owned())?;
        self.update_raw(key, f)
    }

    pub(crate) fn update_raw<T, F>(&self, key: String, f: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned + Default,
        F: FnOnce(T) -> T,
    {
        let current = match self.state().data.get(&key) {
            Some(json) => serde_json::from_str(json).map_err(|source| Error::Deserialize {
                key: key.clone(),
                source,
            })?,
            None => T::default(),
        };
        let next = f(current);
        let json = to_json(&key, &next)?;
        self.state().write(key, json);
        Ok(next)
    }

    pub(crate) fn insert_raw(&self, key: String, value: impl Serialize) -> Result<(), Error> {
        let json = to_json(&key, &value)?;
        self.state().write(key, json);
        Ok(())
    }

    pub(crate) fn remove_raw(&self, key: &str) -> bool {
        self.state().delete(key)
    }

    /// Removes `key`; returns whether it was there.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.insert("flash", "Saved!")?;
    ///     assert!(session.remove("flash")?);
    ///     assert!(!session.remove("flash")?);
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn remove(&self, key: &str) -> Result<bool, Error> {
        let key = checked_key(key.to_owned())?;
        Ok(self.state().delete(&key))
    }

    /// True when `key` holds a value.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     assert!(!session.contains("cart"));
    ///     session.insert("cart", Vec::<String>::new())?;
    ///     assert!(session.contains("cart"));
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn contains(&self, key: &str) -> bool {
        self.state().data.contains_key(key)
    }

    /// Every key of the session, sorted (scope keys included).
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.insert("theme", "dark")?;
    ///     session.insert("cart", ["apple"])?;
    ///     assert_eq!(session.keys(), ["cart", "theme"]);
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.state().data.keys().cloned().collect();
        keys.sort_unstable();
        keys
    }

    /// Removes every key (the session itself, its ID and user binding stay).
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.insert("theme", "dark")?;
    ///     session.set_user("alice");
    ///     session.clear();
    ///     assert!(session.keys().is_empty());
    ///     assert_eq!(session.user().as_deref(), Some("alice"));
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn clear(&self) {
        let mut state = self.state();
        state.data.clear();
        state.pending.set.clear();
        state.pending.remove.clear();
        state.pending.clear = true;
    }

    /// True when the session is not (yet) in the store: no valid ticket came with
    /// the request, or its session had expired or been destroyed.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     assert!(session.is_new()); // this request came without a ticket
    ///     session.insert("visits", 1)?;
    ///     session.save().await?;
    ///     assert!(!session.is_new());
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn is_new(&self) -> bool {
        !self.state().persisted
    }

    /// Gives the session a new ID at commit, keeping its data; the old ID stops
    /// working. Call it when privileges change (after login) against fixation.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.insert("cart", ["apple"])?;
    ///     session.save().await?;
    ///     let before = session.id();
    ///     session.regenerate(); // e.g. right after the password checked out
    ///     session.save().await?;
    ///     assert_ne!(session.id(), before);
    ///     assert!(session.contains("cart"));
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn regenerate(&self) {
        self.state().pending.regenerate = true;
    }

    /// Ends the session: at commit it is deleted from the store and the client's
    /// cookie is removed. The handle then stands for a new, empty anonymous
    /// session: writes after `destroy()` go to that one (a new ID and cookie), so a
    /// logout page can still leave a message.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.set_user("alice");
    ///     session.save().await?;
    ///     session.destroy(); // log out
    ///     assert!(session.is_new() && session.user().is_none());
    ///     session.insert("flash", "Signed out")?; // goes to a new anonymous session
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn destroy(&self) {
        let mut state = self.state();
        if state.persisted {
            let key = state.id.as_ref().map(SessionId::store_key);
            state.pending.destroy = state.pending.destroy.or(key);
        } else if let (Incoming::Valid(ticket), false) = (&self.inner.incoming, state.loaded) {
            state.pending.destroy = Some(ticket.id.store_key());
        }
        let destroy = state.pending.destroy.take();
        state.pending = Pending {
            destroy,
            ..Pending::default()
        };
        state.persisted = false;
        state.loaded = true;
        state.id = None;
        state.meta = None;
        state.data.clear();
        state.slid = false;
    }

    /// True once [`destroy`](Self::destroy) was called in this request.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.insert("visits", 1)?;
    ///     session.save().await?;
    ///     assert!(!session.is_destroyed());
    ///     session.destroy();
    ///     assert!(session.is_destroyed());
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn is_destroyed(&self) -> bool {
        self.state().pending.destroy.is_some()
    }

    /// Reads the session from the store again, to see what concurrent requests
    /// committed. This request's uncommitted changes stay applied on top. If the
    /// session is gone meanwhile, it becomes a new anonymous session and the
    /// uncommitted changes are dropped.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.insert("draft", "unsaved text")?;
    ///     session.reload().await?; // see what other requests committed meanwhile
    ///     assert_eq!(session.get::<String>("draft")?.as_deref(), Some("unsaved text"));
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub async fn reload(&self) -> Result<(), Error> {
        self.inner.reload().await.map_err(Error::from)
    }

    /// Commits the changes so far, now. The layer still commits whatever the rest
    /// of the request changes.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.insert("order", 42)?;
    ///     session.save().await?; // stored now, before e.g. a slow call elsewhere
    ///     assert!(!session.is_new());
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub async fn save(&self) -> Result<(), Error> {
        self.inner.commit().await.map_err(Error::from)
    }

    /// Slides the idle deadline at commit (and re-sends the cookie), even when
    /// nothing else changed.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     // A "keep me signed in" ping from an open tab.
    ///     session.touch();
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn touch(&self) {
        self.state().pending.touch = true;
    }

    /// Re-sends the cookie with a fresh `Max-Age` on this response; like
    /// [`touch`](Self::touch), it slides the idle deadline so the two agree.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.reset_max_age();
    ///     session.save().await?;
    ///     assert!(!session.is_new()); // a fresh session is stored so its cookie can be sent
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn reset_max_age(&self) {
        self.touch();
    }

    /// Binds the session to a user, for the per-user index (list the user's
    /// devices, revoke one, log out everywhere).
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.regenerate();
    ///     session.set_user("alice");
    ///     assert_eq!(session.user().as_deref(), Some("alice"));
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn set_user(&self, user: impl Into<String>) {
        let user = user.into();
        let mut state = self.state();
        if let Some(meta) = state.meta.as_mut() {
            meta.user = Some(user.clone());
        }
        state.pending.user = Some(UserChange::Bind(user));
    }

    /// The user the session is bound to, if any.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     assert_eq!(session.user(), None);
    ///     session.set_user("alice");
    ///     assert_eq!(session.user().as_deref(), Some("alice"));
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn user(&self) -> Option<String> {
        let state = self.state();
        match &state.pending.user {
            Some(UserChange::Bind(user)) => Some(user.clone()),
            Some(UserChange::Unbind) => None,
            None => state.meta.as_ref().and_then(|m| m.user.clone()),
        }
    }

    /// Removes the user binding.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     session.set_user("alice");
    ///     session.clear_user();
    ///     assert_eq!(session.user(), None);
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn clear_user(&self) {
        let mut state = self.state();
        if let Some(meta) = state.meta.as_mut() {
            meta.user = None;
        }
        state.pending.user = Some(UserChange::Unbind);
    }

    /// The session's metadata as loaded (creation time, deadlines, user), or `None`
    /// for a new session.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn handler(session: Session) -> Result<(), cloakroom::Error> {
    ///     assert!(session.meta().is_none());
    ///     session.insert("visits", 1)?;
    ///     session.save().await?;
    ///     let meta = session.meta().expect("stored");
    ///     assert!(meta.created_at < meta.expires_at());
    ///     Ok(())
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = cloakroom::SessionConfig::new(b"a-secret-of-at-least-thirty-two-bytes!").build().unwrap();
    /// # let app = axum::Router::new().route("/", axum::routing::get(handler)).layer(layer);
    /// # let request = http::Request::new(axum::body::Body::empty());
    /// # let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    /// # assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn meta(&self) -> Option<SessionMeta> {
        self.state().meta.clone()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        let mut keys: Vec<&String> = state.data.keys().collect();
        keys.sort_unstable();
        f.debug_struct("Session")
            .field("new", &!state.persisted)
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

fn checked_key(key: String) -> Result<String, Error> {
    if key.starts_with(SCOPE_PREFIX) {
        Err(Error::ReservedKey { key })
    } else {
        Ok(key)
    }
}

fn to_json(key: &str, value: &impl Serialize) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|source| Error::Serialize {
        key: key.to_owned(),
        source,
    })
}
