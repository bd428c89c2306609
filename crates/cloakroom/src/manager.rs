//! The out-of-request API: sessions by ID, by user, and counts.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;

use http::HeaderValue;

use crate::clock::from_millis;
use crate::device::{DEVICE_KEY, Device};
use crate::error::Error;
use crate::id::{SessionHandle, SessionId};
use crate::session::Session;
use crate::settings::Settings;
use crate::store::{ChangeSet, SessionRecord, Touch};

/// One of a user's sessions, as a "your devices" page shows it.
///
/// ```
/// use cloakroom::{SessionId, SessionLayer};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let manager = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?.manager();
/// let session = manager.new_session(); // as a sign-in request would make it
/// session.set_user("alice");
/// session.save().await?;
/// let devices = manager.list_user("alice").await?;
/// let device = &devices[0];
/// assert!(device.created_at <= device.last_seen && device.last_seen < device.expires_at);
/// println!("signed in since {:?}; sign out with {}", device.created_at, device.handle);
/// # Ok::<(), cloakroom::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSession {
    /// Opaque name of the session: show it, accept it back to revoke it.
    pub handle: SessionHandle,
    /// When the session was created. Regenerating keeps it (the absolute timeout
    /// counts from here), so for a session that browsed before signing in it is
    /// earlier than the sign-in.
    pub created_at: SystemTime,
    /// When a request last slid its idle deadline.
    pub last_seen: SystemTime,
    /// When it dies if unused.
    pub expires_at: SystemTime,
    /// The browser's `User-Agent` when the session was created or signed in
    /// (cut to 256 bytes), if the layer [records devices](crate::SessionConfig::record_devices).
    pub user_agent: Option<String>,
    /// The client's address then, if recorded and known.
    pub ip: Option<String>,
    /// When the session was bound to the user (the sign-in), if the layer
    /// records devices. Unlike [`created_at`](Self::created_at), this is the
    /// sign-in's own time for a session that browsed anonymously first.
    pub signed_in_at: Option<SystemTime>,
}

/// Sessions outside a request: by ID, by user (list devices, revoke one, log out
/// everywhere), counts. Get one from [`SessionLayer::manager`](crate::SessionLayer::manager);
/// it shares the layer's store, secrets and clock, and is cheap to clone.
///
/// ```
/// use cloakroom::SessionLayer;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build().unwrap();
/// let manager = layer.manager();
/// assert_eq!(manager.count().await.unwrap(), 0);
/// assert!(manager.list_user("alice").await.unwrap().is_empty());
/// # });
/// ```
#[derive(Clone)]
pub struct SessionManager {
    settings: Arc<Settings>,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("store", &self.settings.store)
            .finish()
    }
}

impl SessionManager {
    pub(crate) fn new(settings: Arc<Settings>) -> Self {
        Self { settings }
    }

    fn now(&self) -> SystemTime {
        self.settings.now()
    }

    /// A new, anonymous session outside any request, over this layer's store and
    /// settings: give it data, a user, then [`save`](Session::save) it; hand its
    /// ticket to the client with [`ticket`](Self::ticket) or
    /// [`set_cookie`](Self::set_cookie). For sign-in links, tests that need a
    /// signed-in client, imports.
    ///
    /// ```
    /// use cloakroom::SessionLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cloakroom::Error> {
    /// let manager = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?.manager();
    /// let session = manager.new_session();
    /// session.set_user("alice");
    /// session.save().await?;
    /// let id = session.id().expect("stored");
    /// assert_eq!(manager.get(&id).await?.unwrap().meta.user.as_deref(), Some("alice"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new_session(&self) -> Session {
        Session::detached_over(self.settings.clone())
    }

    /// The `Set-Cookie` value that hands `id`'s ticket to a browser, with this
    /// layer's cookie attributes and a `Max-Age` of its idle timeout.
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// let manager = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?.manager();
    /// let id = SessionId::generate();
    /// let cookie = manager.set_cookie(&id);
    /// assert!(cookie.to_str().unwrap().starts_with(&format!("sid={}; Path=/; Max-Age=86400;", manager.ticket(&id))));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn set_cookie(&self, id: &SessionId) -> HeaderValue {
        self.settings
            .cookie
            .set(&self.settings.signer.sign(id), self.settings.idle_timeout)
    }

    /// The signed ticket for `id`, as the layer would send it.
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// let manager = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?.manager();
    /// let id = SessionId::generate();
    /// let ticket = manager.ticket(&id); // "ID.MAC", e.g. for an API that logs a client in
    /// assert!(ticket.starts_with(id.expose()));
    /// assert_eq!(manager.verify_ticket(&ticket), Some(id));
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn ticket(&self, id: &SessionId) -> String {
        self.settings.signer.sign(id)
    }

    /// The session ID inside a ticket, if the ticket verifies.
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// let manager = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?.manager();
    /// let forged = format!("{}.not-a-valid-mac", SessionId::generate().expose());
    /// assert_eq!(manager.verify_ticket(&forged), None);
    /// # Ok::<(), cloakroom::Error>(())
    /// ```
    pub fn verify_ticket(&self, ticket: &str) -> Option<SessionId> {
        self.settings.signer.verify(ticket.as_bytes()).map(|t| t.id)
    }

    /// The live session `id`, without sliding its idle deadline.
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
    /// let manager = layer.manager();
    /// let session = manager.new_session(); // as a request would make it
    /// session.set_user("alice");
    /// session.save().await?;
    /// let id = session.id().expect("stored");
    /// let record = manager.get(&id).await?.expect("live session");
    /// assert_eq!(record.meta.user.as_deref(), Some("alice"));
    /// assert!(manager.get(&SessionId::generate()).await?.is_none());
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn get(&self, id: &SessionId) -> Result<Option<SessionRecord>, Error> {
        let now = self.now();
        Ok(self
            .settings
            .store
            .load(&id.store_key(), &Touch::new(now, now))
            .await?
            .live())
    }

    /// One value of the live session `id`.
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
    /// let manager = layer.manager();
    /// let session = manager.new_session(); // as a request would make it
    /// session.insert("visits", 1)?;
    /// session.save().await?;
    /// let id = session.id().expect("stored");
    /// manager.set(&id, "cart", vec!["apple"]).await?;
    /// let cart: Option<Vec<String>> = manager.get_value(&id, "cart").await?;
    /// assert_eq!(cart, Some(vec!["apple".to_owned()]));
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn get_value<T: DeserializeOwned>(&self, id: &SessionId, key: &str) -> Result<Option<T>, Error> {
        let Some(record) = self.get(id).await? else {
            return Ok(None);
        };
        record
            .data
            .get(key)
            .map(|json| serde_json::from_str(json))
            .transpose()
            .map_err(|source| Error::Deserialize {
                key: key.to_owned(),
                source,
            })
    }

    /// Sets one key of the live session `id`; `false` if the session is gone.
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
    /// let manager = layer.manager();
    /// let session = manager.new_session(); // as a request would make it
    /// session.insert("visits", 1)?;
    /// session.save().await?;
    /// let id = session.id().expect("stored");
    /// assert!(manager.set(&id, "notice", "Your export is ready").await?);
    /// assert!(!manager.set(&SessionId::generate(), "notice", "nobody").await?);
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn set(&self, id: &SessionId, key: &str, value: impl Serialize) -> Result<bool, Error> {
        let json = serde_json::to_string(&value).map_err(|source| Error::Serialize {
            key: key.to_owned(),
            source,
        })?;
        let mut changes = ChangeSet::new(self.now());
        changes.set.push((key.to_owned(), json));
        self.commit_to(id, &changes).await
    }

    /// Removes one key of the live session `id`; `false` if the session is gone.
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
    /// let manager = layer.manager();
    /// let session = manager.new_session(); // as a request would make it
    /// session.insert("visits", 1)?;
    /// session.save().await?;
    /// let id = session.id().expect("stored");
    /// manager.set(&id, "notice", "hello").await?;
    /// assert!(manager.remove(&id, "notice").await?);
    /// assert_eq!(manager.get_value::<String>(&id, "notice").await?, None);
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn remove(&self, id: &SessionId, key: &str) -> Result<bool, Error> {
        let mut changes = ChangeSet::new(self.now());
        changes.remove.push(key.to_owned());
        self.commit_to(id, &changes).await
    }

    /// Commits `changes` to the live session `id`; `false` if it is gone.
    async fn commit_to(&self, id: &SessionId, changes: &ChangeSet) -> Result<bool, Error> {
        Ok(self.settings.store.commit(&id.store_key(), changes).await?.is_written())
    }

    /// Deletes session `id`; `true` if there was one.
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
    /// let manager = layer.manager();
    /// let session = manager.new_session(); // as a request would make it
    /// session.insert("visits", 1)?;
    /// session.save().await?;
    /// let id = session.id().expect("stored");
    /// assert!(manager.destroy(&id).await?);
    /// assert!(!manager.destroy(&id).await?);
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn destroy(&self, id: &SessionId) -> Result<bool, Error> {
        Ok(self.settings.store.delete(&id.store_key()).await?)
    }

    /// The live sessions of `user`, newest first (times are whole milliseconds:
    /// sessions created in the same millisecond come most recently used first,
    /// then by handle).
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
    /// let manager = layer.manager();
    /// let session = manager.new_session(); // alice on her laptop
    /// session.set_user("alice");
    /// session.save().await?;
    /// let session = manager.new_session(); // ... and on her phone
    /// session.set_user("alice");
    /// session.save().await?;
    /// assert_eq!(manager.list_user("alice").await?.len(), 2);
    /// assert!(manager.list_user("bob").await?.is_empty());
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn list_user(&self, user: &str) -> Result<Vec<DeviceSession>, Error> {
        let store = &self.settings.store;
        let now = self.now();
        let mut sessions = Vec::new();
        for listed in store.list_user(user, now).await? {
            // The device details live in the session: one read each, only when the
            // layer records them; a read that moves no deadline.
            let device = if self.settings.devices.record {
                let touch = Touch::peek(now, listed.meta.idle_deadline);
                store
                    .load(&listed.key, &touch)
                    .await?
                    .live()
                    .and_then(|record| record.data.get(DEVICE_KEY).cloned())
                    .and_then(|json| serde_json::from_str::<Device>(&json).ok())
                    .unwrap_or_default()
            } else {
                Device::default()
            };
            sessions.push(DeviceSession {
                handle: listed.handle(),
                created_at: listed.meta.created_at,
                last_seen: listed.meta.last_seen,
                expires_at: listed.meta.expires_at(),
                user_agent: device.user_agent,
                ip: device.ip,
                signed_in_at: device.signed_in_at.map(from_millis),
            });
        }
        sessions.sort_by(|a, b| {
            (b.created_at.cmp(&a.created_at))
                .then_with(|| b.last_seen.cmp(&a.last_seen))
                .then_with(|| a.handle.cmp(&b.handle))
        });
        Ok(sessions)
    }

    /// Deletes every session of `user` but `keep` ("sign out my other
    /// devices"); returns how many went. A session of the user made while it runs
    /// (a sign-in elsewhere) may stay.
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let manager = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?.manager();
    /// let mut ids = Vec::new();
    /// for _ in 0..3 {
    ///     let session = manager.new_session(); // alice on three devices
    ///     session.set_user("alice");
    ///     session.save().await?;
    ///     ids.push(session.id().expect("stored"));
    /// }
    /// assert_eq!(manager.destroy_user_except("alice", &ids[0]).await?, 2);
    /// assert_eq!(manager.list_user("alice").await?.len(), 1);
    /// assert!(manager.get(&ids[0]).await?.is_some(), "this device stays signed in");
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn destroy_user_except(&self, user: &str, keep: &SessionId) -> Result<usize, Error> {
        let store = &self.settings.store;
        let keep = keep.store_key();
        let mut destroyed = 0;
        for listed in store.list_user(user, self.now()).await? {
            if listed.key != keep && store.delete(&listed.key).await? {
                destroyed += 1;
            }
        }
        Ok(destroyed)
    }

    /// Deletes the session of `user` named by `handle`; `false` when `handle` names
    /// none of that user's live sessions (a user cannot revoke someone else's).
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
    /// let manager = layer.manager();
    /// let session = manager.new_session();
    /// session.set_user("alice");
    /// session.save().await?;
    /// let session = manager.new_session();
    /// session.set_user("alice");
    /// session.save().await?;
    /// let handle = manager.list_user("alice").await?[0].handle.clone();
    /// assert!(!manager.revoke("mallory", &handle).await?);
    /// assert!(manager.revoke("alice", &handle).await?);
    /// assert_eq!(manager.list_user("alice").await?.len(), 1);
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn revoke(&self, user: &str, handle: &SessionHandle) -> Result<bool, Error> {
        let sessions = self.settings.store.list_user(user, self.now()).await?;
        match sessions.iter().find(|s| &s.handle() == handle) {
            Some(session) => Ok(self.settings.store.delete(&session.key).await?),
            None => Ok(false),
        }
    }

    /// Deletes every session of `user` (log out everywhere); returns how many went.
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
    /// let manager = layer.manager();
    /// let session = manager.new_session();
    /// session.set_user("alice");
    /// session.save().await?;
    /// let session = manager.new_session();
    /// session.set_user("alice");
    /// session.save().await?;
    /// assert_eq!(manager.destroy_user("alice").await?, 2);
    /// assert!(manager.list_user("alice").await?.is_empty());
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn destroy_user(&self, user: &str) -> Result<usize, Error> {
        Ok(self.settings.store.delete_user(user).await?)
    }

    /// The number of live sessions.
    ///
    /// ```
    /// use cloakroom::{SessionId, SessionLayer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
    /// let manager = layer.manager();
    /// assert_eq!(manager.count().await?, 0);
    /// let session = manager.new_session(); // as a request would make it
    /// session.insert("visits", 1)?;
    /// session.save().await?;
    /// assert_eq!(manager.count().await?, 1);
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn count(&self) -> Result<usize, Error> {
        Ok(self.settings.store.count(self.now()).await?)
    }

    /// Deletes expired sessions now; returns how many went.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cloakroom::{SessionId, SessionLayer};
    /// use cloakroom::clock::{Clock, ManualClock};
    /// use cloakroom::store::{SessionMeta, SessionRecord, SessionStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let clock = ManualClock::new();
    /// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec())
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let meta = SessionMeta::new(clock.now(), Duration::from_secs(60), Duration::from_secs(600));
    /// layer.store().create(&SessionId::generate().store_key(), &SessionRecord::new(meta)).await?;
    /// clock.advance(Duration::from_secs(61));
    /// assert_eq!(layer.manager().purge_expired().await?, 1);
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn purge_expired(&self) -> Result<usize, Error> {
        Ok(self.settings.store.purge_expired(self.now()).await?)
    }

    /// Checks that the store answers (for health checks).
    ///
    /// ```
    /// use cloakroom::SessionManager;
    ///
    /// async fn healthz(manager: SessionManager) -> &'static str {
    ///     match manager.ping().await {
    ///         Ok(()) => "ok",
    ///         Err(_) => "session store down",
    ///     }
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let layer = cloakroom::SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build()?;
    /// assert_eq!(healthz(layer.manager()).await, "ok");
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn ping(&self) -> Result<(), Error> {
        Ok(self.settings.store.ping().await?)
    }
}
