//! The public handle on a request's session, and the task-local that holds it
//! while the request is served.

use std::fmt;
use std::sync::{Arc, MutexGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::id::{SessionHandle, SessionId};
use crate::request::{AddError, CommitError, CookieAction, PERSISTENT_KEY, RequestSession, State};
use crate::settings::Settings;
use crate::store::SessionMeta;

tokio::task_local! {
    /// The session of the request this task is serving.
    pub(crate) static CURRENT: Session;
}

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

impl Session {
    /// Keys that start with this prefix belong to [`Scoped`](crate::Scoped) slices:
    /// [`insert`](Self::insert), [`update`](Self::update) and
    /// [`remove`](Self::remove) refuse them with [`Error::ReservedKey`].
    ///
    /// ```
    /// use cloakroom::{Error, Session};
    ///
    /// assert_eq!(Session::SCOPE_PREFIX, "scope::");
    /// let err = Session::detached().insert("scope::checkout", 1).unwrap_err();
    /// assert!(matches!(err, Error::ReservedKey { .. }));
    /// ```
    pub const SCOPE_PREFIX: &'static str = crate::request::RESERVED_PREFIX;

    pub(crate) fn from_request(inner: Arc<RequestSession>) -> Self {
        Self { inner }
    }

    /// A session outside any request, over its own in-memory store with the
    /// default settings: for tests and examples. It starts new and anonymous;
    /// [`save`](Self::save) stores it.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// session.insert("theme", "dark")?;
    /// assert_eq!(session.get::<String>("theme")?.as_deref(), Some("dark"));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn detached() -> Self {
        let config = crate::config::SessionConfig::new(SessionId::generate().expose().repeat(2));
        let settings = Settings::new(config).expect("the default settings are valid");
        Self::detached_over(Arc::new(settings))
    }

    /// A new, anonymous session outside any request, over `settings`.
    pub(crate) fn detached_over(settings: Arc<Settings>) -> Self {
        Self::from_request(Arc::new(RequestSession::detached(settings)))
    }

    /// The session of the request this task is serving, loaded. For services deep
    /// in the call stack that were not handed the session. It is a tokio task-local:
    /// tasks spawned by the handler do not see it (pass them a clone instead).
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// async fn current_user() -> Option<String> {
    ///     Session::current().await.ok()?.user()
    /// }
    /// ```
    pub async fn current() -> Result<Session, Error> {
        let session = CURRENT.try_with(Session::clone).map_err(|_| Error::MissingLayer)?;
        session.inner.ensure_loaded().await?;
        Ok(session)
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
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cloakroom::Error> {
    /// let session = Session::detached();
    /// assert!(session.id().is_none());
    /// session.insert("visits", 1)?;
    /// session.save().await?;
    /// assert!(session.id().is_some());
    /// # Ok(())
    /// # }
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
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cloakroom::Error> {
    /// let session = Session::detached();
    /// session.set_user("alice");
    /// session.save().await?;
    /// let handle = session.handle().expect("stored");
    /// assert_eq!(handle, session.id().unwrap().store_key().handle());
    /// # Ok(())
    /// # }
    /// ```
    pub fn handle(&self) -> Option<SessionHandle> {
        let state = self.state();
        state
            .id
            .as_ref()
            .filter(|_| state.status.is_stored())
            .map(|id| id.store_key().handle())
    }

    /// The value under `key`, or `None` when there is none.
    ///
    /// Fails with [`Error::Deserialize`] when the stored value is not a `T`.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// session.insert("theme", "dark")?;
    /// assert_eq!(session.get::<String>("theme")?.as_deref(), Some("dark"));
    /// assert_eq!(session.get::<String>("missing")?, None);
    /// assert!(session.get::<u64>("theme").is_err()); // not a number
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let state = self.state();
        let Some(json) = state.data.get(key) else {
            return Ok(None);
        };
        from_json(key, json).map(Some)
    }

    /// The value under `key`, or `fallback` when there is none.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let cart: Vec<String> = Session::detached().get_or("cart", Vec::new())?;
    /// assert!(cart.is_empty());
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, fallback: T) -> Result<T, Error> {
        Ok(self.get(key)?.unwrap_or(fallback))
    }

    /// Sets `key` to `value`.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// session.insert("cart", ["apple", "pear"])?;
    /// assert_eq!(session.get::<Vec<String>>("cart")?.unwrap().len(), 2);
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn insert(&self, key: impl Into<String>, value: impl Serialize) -> Result<(), Error> {
        self.insert_raw(checked_key(key.into())?, value)
    }

    /// Replaces the value under `key` with `f(current)`, starting from
    /// `T::default()` when absent; returns the new value. `f` runs without any lock
    /// held, so it may use the session itself.
    ///
    /// The write is a compare-and-set: it is committed only if the store still holds
    /// what this request read under `key`. When a concurrent request changed the key
    /// first, nothing of this request is applied and the layer answers 409
    /// ([`SessionConfig::on_conflict`](crate::SessionConfig::on_conflict)); so no
    /// update is ever silently lost. Counters and quantities that only add up are
    /// better served by [`increment`](Self::increment), which never conflicts.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// assert_eq!(session.update("visits", |n: u64| n + 1)?, 1);
    /// assert_eq!(session.update("visits", |n: u64| n + 1)?, 2);
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn update<T, F>(&self, key: &str, f: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned + Default,
        F: FnOnce(T) -> T,
    {
        self.update_raw(checked_key(key.to_owned())?, f)
    }

    /// [`update`](Self::update) without the reserved-key check, for scopes.
    pub(crate) fn update_raw<T, F>(&self, key: String, f: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned + Default,
        F: FnOnce(T) -> T,
    {
        let current = {
            let mut state = self.state();
            state.guard(&key);
            match state.data.get(&key) {
                Some(json) => from_json(&key, json)?,
                None => T::default(),
            }
        };
        let next = f(current);
        let json = to_json(&key, &next)?;
        self.state().write(key, json);
        Ok(next)
    }

    /// Adds `by` to the integer under `key` (absent counts as 0), applied by the store
    /// at commit: concurrent increments of one key all count and never conflict.
    /// Returns the value as this request sees it now; other requests' increments
    /// land beside it.
    ///
    /// Fails with [`Error::Deserialize`] when the key holds something other than an
    /// integer, or the sum would leave ±[`MAX_COUNT`](crate::store::MAX_COUNT)
    /// (2^53 - 1, the integers every JSON reader holds exactly).
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// assert_eq!(session.increment("cart:apple", 2)?, 2);
    /// assert_eq!(session.increment("cart:apple", -1)?, 1);
    /// session.insert("theme", "dark")?;
    /// assert!(session.increment("theme", 1).is_err());
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn increment(&self, key: &str, by: i64) -> Result<i64, Error> {
        let key = checked_key(key.to_owned())?;
        match self.state().add(&key, by, None) {
            Ok(seen) => Ok(seen.unwrap_or(by)),
            Err(_) => Err(not_a_count(key)),
        }
    }

    /// [`increment`](Self::increment), capped: `None`, recording nothing, when the
    /// sum this request sees would pass `cap`; and at commit, when other requests'
    /// increments have brought the sum past it, nothing of this request is applied
    /// (409), so the cap holds whatever the concurrency. For quantities and
    /// attempts with a most.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// assert_eq!(session.increment_at_most("cart:socks", 60, 99)?, Some(60));
    /// assert_eq!(session.increment_at_most("cart:socks", 40, 99)?, None, "100 would pass 99");
    /// assert_eq!(session.get::<i64>("cart:socks")?, Some(60));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn increment_at_most(&self, key: &str, by: i64, cap: i64) -> Result<Option<i64>, Error> {
        let key = checked_key(key.to_owned())?;
        match self.state().add(&key, by, Some(cap)) {
            Ok(seen) => Ok(Some(seen.unwrap_or(by))),
            Err(AddError::OverCap) => Ok(None),
            Err(AddError::NotACount) => Err(not_a_count(key)),
        }
    }

    /// [`increment`](Self::increment) without reading the view: for the write-only
    /// handle, before the session is loaded.
    pub(crate) fn increment_blind(&self, key: String, by: i64) -> Result<(), Error> {
        self.state().add(&key, by, None).map(drop).map_err(|_| not_a_count(key))
    }

    /// Records that a write about to be made is computed from `key`'s value, for
    /// the typed views that write back what they read.
    pub(crate) fn guard_raw(&self, key: &str) {
        self.state().guard(key);
    }

    /// [`insert`](Self::insert) without the reserved-key check, for scopes.
    pub(crate) fn insert_raw(&self, key: String, value: impl Serialize) -> Result<(), Error> {
        let json = to_json(&key, &value)?;
        self.state().write(key, json);
        Ok(())
    }

    /// [`remove`](Self::remove) without the reserved-key check, for scopes.
    pub(crate) fn remove_raw(&self, key: &str) -> bool {
        self.state().delete(key)
    }

    /// Removes `key`; returns whether it was there.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// session.insert("flash", "Saved!")?;
    /// assert!(session.remove("flash")?);
    /// assert!(!session.remove("flash")?);
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn remove(&self, key: &str) -> Result<bool, Error> {
        let key = checked_key(key.to_owned())?;
        Ok(self.remove_raw(&key))
    }

    /// True when `key` holds a value.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// assert!(!session.contains("cart"));
    /// session.insert("cart", Vec::<String>::new())?;
    /// assert!(session.contains("cart"));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn contains(&self, key: &str) -> bool {
        self.state().data.contains_key(key)
    }

    /// Every key of the session, sorted (scope keys included).
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// session.insert("theme", "dark")?;
    /// session.insert("cart", ["apple"])?;
    /// assert_eq!(session.keys(), ["cart", "theme"]);
    /// # Ok::<(), cloakroom::Error>(())
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
    /// let session = Session::detached();
    /// session.insert("theme", "dark")?;
    /// session.set_user("alice");
    /// session.clear();
    /// assert!(session.keys().is_empty());
    /// assert_eq!(session.user().as_deref(), Some("alice"));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn clear(&self) {
        self.state().clear();
    }

    /// True when the session is not (yet) in the store: no valid ticket came with
    /// the request, or its session had expired or been destroyed.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cloakroom::Error> {
    /// let session = Session::detached();
    /// assert!(session.is_new());
    /// session.insert("visits", 1)?;
    /// session.save().await?;
    /// assert!(!session.is_new());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_new(&self) -> bool {
        !self.state().status.is_stored()
    }

    /// Gives the session a new ID at commit, keeping its data; the old ID stops
    /// working. Call it when privileges change (after login) against fixation.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cloakroom::Error> {
    /// let session = Session::detached();
    /// session.insert("cart", ["apple"])?;
    /// session.save().await?;
    /// let before = session.id();
    /// session.regenerate(); // e.g. right after the password checked out
    /// session.save().await?;
    /// assert_ne!(session.id(), before);
    /// assert!(session.contains("cart"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn regenerate(&self) {
        let mut state = self.state();
        state.pending.regenerate = true;
        // The CSRF token goes with the old ID: the next one is drawn afresh.
        if state.data.contains_key(CSRF_KEY) {
            state.delete(CSRF_KEY);
        }
    }

    /// Ends the session: at commit it is deleted from the store and the client's
    /// cookie is removed. The handle then stands for a new, empty anonymous
    /// session: writes after `destroy()` go to that one (a new ID and cookie), so a
    /// logout page can still leave a message.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cloakroom::Error> {
    /// let session = Session::detached();
    /// session.set_user("alice");
    /// session.save().await?;
    /// session.destroy(); // log out
    /// assert!(session.is_new() && session.user().is_none());
    /// session.insert("flash", "Signed out")?; // goes to a new anonymous session
    /// # Ok(())
    /// # }
    /// ```
    pub fn destroy(&self) {
        self.state().destroy();
    }

    /// True once [`destroy`](Self::destroy) was called in this request.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cloakroom::Error> {
    /// let session = Session::detached();
    /// session.insert("visits", 1)?;
    /// session.save().await?;
    /// assert!(!session.is_destroyed());
    /// session.destroy();
    /// assert!(session.is_destroyed());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_destroyed(&self) -> bool {
        self.state().pending.ended
    }

    /// Reads the session from the store again, to see what concurrent requests
    /// committed. This request's uncommitted changes stay applied on top. If the
    /// session is gone meanwhile, it becomes a new anonymous session and the
    /// uncommitted changes are dropped. After a conflict ([`Error::Conflict`]) it
    /// is the fresh start a retry needs.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cloakroom::Error> {
    /// let session = Session::detached();
    /// session.insert("draft", "unsaved text")?;
    /// session.reload().await?; // see what other requests committed meanwhile
    /// assert_eq!(session.get::<String>("draft")?.as_deref(), Some("unsaved text"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn reload(&self) -> Result<(), Error> {
        self.inner.reload().await.map_err(Error::from)
    }

    /// Commits the changes so far, now. The layer still commits whatever the rest
    /// of the request changes.
    ///
    /// Fails with [`Error::Conflict`] when the session changed under the request
    /// (see [`update`](Self::update)): nothing was applied and the pending changes
    /// are dropped. To retry, [`reload`](Self::reload) and redo the work; a
    /// handler that returns the error (or ignores it) answers 409.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cloakroom::Error> {
    /// let session = Session::detached();
    /// session.insert("order", 42)?;
    /// session.save().await?; // stored now, before e.g. a slow call elsewhere
    /// assert!(!session.is_new());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn save(&self) -> Result<(), Error> {
        self.inner.commit().await.map_err(|err| match err {
            CommitError::Store(err) => Error::Store(err),
            CommitError::Conflict => Error::Conflict,
            CommitError::TooLarge { bytes } => Error::TooLarge {
                bytes,
                limit: self.inner.settings.max_session_bytes,
            },
        })
    }

    /// Slides the idle deadline at commit (and re-sends the cookie), even when
    /// nothing else changed; a new session is stored so its cookie can be sent.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cloakroom::Error> {
    /// // A "keep me signed in" ping from an open tab.
    /// let session = Session::detached();
    /// session.touch();
    /// session.save().await?;
    /// assert!(!session.is_new());
    /// # Ok(())
    /// # }
    /// ```
    pub fn touch(&self) {
        self.state().pending.touch = true;
    }

    /// An alias of [`touch`](Self::touch), under the name express-session users
    /// know (`req.session.resetMaxAge()`): the cookie goes out again with a full
    /// `Max-Age`, and the idle deadline slides so the two agree.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cloakroom::Error> {
    /// let session = Session::detached();
    /// session.reset_max_age(); // the same as session.touch()
    /// session.save().await?;
    /// assert!(!session.is_new());
    /// # Ok(())
    /// # }
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
    /// let session = Session::detached();
    /// session.regenerate();
    /// session.set_user("alice");
    /// assert_eq!(session.user().as_deref(), Some("alice"));
    /// ```
    pub fn set_user(&self, user: impl Into<String>) {
        self.state().bind(Some(user.into()));
    }

    /// Makes this session's cookie persistent (`true`: with `Max-Age`, it
    /// outlives the browser) or a browser-session cookie (`false`: no `Max-Age`,
    /// gone when the browser closes), whatever the layer's
    /// [`persistent`](crate::SessionConfig::persistent) default: "remember me" at
    /// sign-in. Kept in the session, so it survives `regenerate()`; the cookie is
    /// sent again with this request's response.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// assert_eq!(session.persistent(), None, "the layer's default");
    /// session.regenerate();
    /// session.set_user("alice");
    /// session.set_persistent(false); // "remember me" left unticked
    /// assert_eq!(session.persistent(), Some(false));
    /// ```
    pub fn set_persistent(&self, persistent: bool) {
        let mut state = self.state();
        state.write(PERSISTENT_KEY.to_owned(), persistent.to_string());
        state.cookie = CookieAction::Set;
    }

    /// This session's own cookie persistence, or `None` when it follows the
    /// layer's default ([`set_persistent`](Self::set_persistent)).
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// session.set_persistent(true);
    /// assert_eq!(session.persistent(), Some(true));
    /// ```
    pub fn persistent(&self) -> Option<bool> {
        self.get::<bool>(PERSISTENT_KEY).ok().flatten()
    }

    /// The user the session is bound to, if any.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// assert_eq!(session.user(), None);
    /// session.set_user("alice");
    /// assert_eq!(session.user().as_deref(), Some("alice"));
    /// ```
    pub fn user(&self) -> Option<String> {
        self.state().user()
    }

    /// Removes the user binding.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// let session = Session::detached();
    /// session.set_user("alice");
    /// session.clear_user();
    /// assert_eq!(session.user(), None);
    /// ```
    pub fn clear_user(&self) {
        self.state().bind(None);
    }

    /// The session's metadata as loaded (creation time, deadlines, user), or `None`
    /// for a new session.
    ///
    /// ```
    /// use cloakroom::Session;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cloakroom::Error> {
    /// let session = Session::detached();
    /// assert!(session.meta().is_none());
    /// session.insert("visits", 1)?;
    /// session.save().await?;
    /// let meta = session.meta().expect("stored");
    /// assert!(meta.created_at < meta.expires_at());
    /// # Ok(())
    /// # }
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
            .field("new", &!state.status.is_stored())
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

/// `key`, unless it is reserved for scopes.
/// Where a session keeps its CSRF token (the scope namespace: no application key
/// can collide with it).
pub(crate) const CSRF_KEY: &str = "scope::csrf";

pub(crate) fn checked_key(key: String) -> Result<String, Error> {
    if key.starts_with(Session::SCOPE_PREFIX) {
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

fn not_a_count(key: String) -> Error {
    Error::Deserialize {
        key,
        source: serde::de::Error::custom(format!(
            "an increment needs an integer within ±{}",
            crate::store::MAX_COUNT
        )),
    }
}

fn from_json<T: DeserializeOwned>(key: &str, json: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|source| Error::Deserialize {
        key: key.to_owned(),
        source,
    })
}
