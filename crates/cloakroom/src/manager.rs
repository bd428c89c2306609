//! The out-of-request API: sessions by ID, by user, and counts.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::id::{SessionHandle, SessionId};
use crate::layer::Shared;
use crate::store::{ChangeSet, SessionRecord, Touch};

/// One of a user's sessions, as a "your devices" page shows it.
///
/// ```
/// # use std::time::{Duration, SystemTime};
/// # use cloakroom::{SessionId, SessionLayer, SessionMeta, SessionRecord, SessionStore};
/// # async fn stored(layer: &SessionLayer, user: Option<&str>) -> SessionId {
/// #     let id = SessionId::generate();
/// #     let now = cloakroom::whole_millis(SystemTime::now());
/// #     let mut meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
/// #     meta.user = user.map(str::to_owned);
/// #     layer.store().create(&id.store_key(), &SessionRecord::new(meta)).await.unwrap();
/// #     id
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build().unwrap();
/// stored(&layer, Some("alice")).await; // a session some request bound to alice
/// let devices = layer.manager().list_user("alice").await?;
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
    shared: Arc<Shared>,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("store", &self.shared.store)
            .finish()
    }
}

impl SessionManager {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn now(&self) -> SystemTime {
        crate::clock::whole_millis(self.shared.config.clock.now())
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
        self.shared.signer.sign(id)
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
        self.shared.signer.verify(ticket.as_bytes()).map(|t| t.id)
    }

    /// The live session `id`, without sliding its idle deadline.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// # use cloakroom::{SessionId, SessionLayer, SessionMeta, SessionRecord, SessionStore};
    /// # async fn stored(layer: &SessionLayer, user: Option<&str>) -> SessionId {
    /// #     let id = SessionId::generate();
    /// #     let now = cloakroom::whole_millis(SystemTime::now());
    /// #     let mut meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// #     meta.user = user.map(str::to_owned);
    /// #     layer.store().create(&id.store_key(), &SessionRecord::new(meta)).await.unwrap();
    /// #     id
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build().unwrap();
    /// let manager = layer.manager();
    /// let id = stored(&layer, Some("alice")).await; // a session some request created
    /// let record = manager.get(&id).await?.expect("live session");
    /// assert_eq!(record.meta.user.as_deref(), Some("alice"));
    /// assert!(manager.get(&SessionId::generate()).await?.is_none());
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn get(&self, id: &SessionId) -> Result<Option<SessionRecord>, Error> {
        let now = self.now();
        Ok(self.shared.store.load(&id.store_key(), &Touch::new(now, now)).await?)
    }

    /// One value of the live session `id`.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// # use cloakroom::{SessionId, SessionLayer, SessionMeta, SessionRecord, SessionStore};
    /// # async fn stored(layer: &SessionLayer, user: Option<&str>) -> SessionId {
    /// #     let id = SessionId::generate();
    /// #     let now = cloakroom::whole_millis(SystemTime::now());
    /// #     let mut meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// #     meta.user = user.map(str::to_owned);
    /// #     layer.store().create(&id.store_key(), &SessionRecord::new(meta)).await.unwrap();
    /// #     id
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build().unwrap();
    /// let manager = layer.manager();
    /// let id = stored(&layer, None).await; // a session some request created
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
    /// # use std::time::{Duration, SystemTime};
    /// # use cloakroom::{SessionId, SessionLayer, SessionMeta, SessionRecord, SessionStore};
    /// # async fn stored(layer: &SessionLayer, user: Option<&str>) -> SessionId {
    /// #     let id = SessionId::generate();
    /// #     let now = cloakroom::whole_millis(SystemTime::now());
    /// #     let mut meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// #     meta.user = user.map(str::to_owned);
    /// #     layer.store().create(&id.store_key(), &SessionRecord::new(meta)).await.unwrap();
    /// #     id
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build().unwrap();
    /// let manager = layer.manager();
    /// let id = stored(&layer, None).await; // a session some request created
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
        Ok(self.shared.store.commit(&id.store_key(), &changes).await?)
    }

    /// Removes one key of the live session `id`; `false` if the session is gone.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// # use cloakroom::{SessionId, SessionLayer, SessionMeta, SessionRecord, SessionStore};
    /// # async fn stored(layer: &SessionLayer, user: Option<&str>) -> SessionId {
    /// #     let id = SessionId::generate();
    /// #     let now = cloakroom::whole_millis(SystemTime::now());
    /// #     let mut meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// #     meta.user = user.map(str::to_owned);
    /// #     layer.store().create(&id.store_key(), &SessionRecord::new(meta)).await.unwrap();
    /// #     id
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build().unwrap();
    /// let manager = layer.manager();
    /// let id = stored(&layer, None).await; // a session some request created
    /// manager.set(&id, "notice", "hello").await?;
    /// assert!(manager.remove(&id, "notice").await?);
    /// assert_eq!(manager.get_value::<String>(&id, "notice").await?, None);
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn remove(&self, id: &SessionId, key: &str) -> Result<bool, Error> {
        let mut changes = ChangeSet::new(self.now());
        changes.remove.push(key.to_owned());
        Ok(self.shared.store.commit(&id.store_key(), &changes).await?)
    }

    /// Deletes session `id`; `true` if there was one.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// # use cloakroom::{SessionId, SessionLayer, SessionMeta, SessionRecord, SessionStore};
    /// # async fn stored(layer: &SessionLayer, user: Option<&str>) -> SessionId {
    /// #     let id = SessionId::generate();
    /// #     let now = cloakroom::whole_millis(SystemTime::now());
    /// #     let mut meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// #     meta.user = user.map(str::to_owned);
    /// #     layer.store().create(&id.store_key(), &SessionRecord::new(meta)).await.unwrap();
    /// #     id
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build().unwrap();
    /// let manager = layer.manager();
    /// let id = stored(&layer, None).await; // a session some request created
    /// assert!(manager.destroy(&id).await?);
    /// assert!(!manager.destroy(&id).await?);
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn destroy(&self, id: &SessionId) -> Result<bool, Error> {
        Ok(self.shared.store.delete(&id.store_key()).await?)
    }

    /// The live sessions of `user`, newest first (times are whole milliseconds:
    /// sessions created in the same millisecond come most recently used first,
    /// then by handle).
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// # use cloakroom::{SessionId, SessionLayer, SessionMeta, SessionRecord, SessionStore};
    /// # async fn stored(layer: &SessionLayer, user: Option<&str>) -> SessionId {
    /// #     let id = SessionId::generate();
    /// #     let now = cloakroom::whole_millis(SystemTime::now());
    /// #     let mut meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// #     meta.user = user.map(str::to_owned);
    /// #     layer.store().create(&id.store_key(), &SessionRecord::new(meta)).await.unwrap();
    /// #     id
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build().unwrap();
    /// let manager = layer.manager();
    /// stored(&layer, Some("alice")).await; // alice on her laptop
    /// stored(&layer, Some("alice")).await; // ... and on her phone
    /// assert_eq!(manager.list_user("alice").await?.len(), 2);
    /// assert!(manager.list_user("bob").await?.is_empty());
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn list_user(&self, user: &str) -> Result<Vec<DeviceSession>, Error> {
        let mut sessions: Vec<DeviceSession> = self
            .shared
            .store
            .list_user(user, self.now())
            .await?
            .into_iter()
            .map(|s| DeviceSession {
                handle: s.handle(),
                created_at: s.meta.created_at,
                last_seen: s.meta.last_seen,
                expires_at: s.meta.expires_at(),
            })
            .collect();
        sessions.sort_by(|a, b| {
            (b.created_at.cmp(&a.created_at))
                .then_with(|| b.last_seen.cmp(&a.last_seen))
                .then_with(|| a.handle.cmp(&b.handle))
        });
        Ok(sessions)
    }

    /// Deletes the session of `user` named by `handle`; `false` when `handle` names
    /// none of that user's live sessions (a user cannot revoke someone else's).
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// # use cloakroom::{SessionId, SessionLayer, SessionMeta, SessionRecord, SessionStore};
    /// # async fn stored(layer: &SessionLayer, user: Option<&str>) -> SessionId {
    /// #     let id = SessionId::generate();
    /// #     let now = cloakroom::whole_millis(SystemTime::now());
    /// #     let mut meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// #     meta.user = user.map(str::to_owned);
    /// #     layer.store().create(&id.store_key(), &SessionRecord::new(meta)).await.unwrap();
    /// #     id
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build().unwrap();
    /// let manager = layer.manager();
    /// stored(&layer, Some("alice")).await;
    /// stored(&layer, Some("alice")).await;
    /// let handle = manager.list_user("alice").await?[0].handle.clone();
    /// assert!(!manager.revoke("mallory", &handle).await?);
    /// assert!(manager.revoke("alice", &handle).await?);
    /// assert_eq!(manager.list_user("alice").await?.len(), 1);
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn revoke(&self, user: &str, handle: &SessionHandle) -> Result<bool, Error> {
        let sessions = self.shared.store.list_user(user, self.now()).await?;
        match sessions.iter().find(|s| &s.handle() == handle) {
            Some(session) => Ok(self.shared.store.delete(&session.key).await?),
            None => Ok(false),
        }
    }

    /// Deletes every session of `user` (log out everywhere); returns how many went.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// # use cloakroom::{SessionId, SessionLayer, SessionMeta, SessionRecord, SessionStore};
    /// # async fn stored(layer: &SessionLayer, user: Option<&str>) -> SessionId {
    /// #     let id = SessionId::generate();
    /// #     let now = cloakroom::whole_millis(SystemTime::now());
    /// #     let mut meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// #     meta.user = user.map(str::to_owned);
    /// #     layer.store().create(&id.store_key(), &SessionRecord::new(meta)).await.unwrap();
    /// #     id
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build().unwrap();
    /// let manager = layer.manager();
    /// stored(&layer, Some("alice")).await;
    /// stored(&layer, Some("alice")).await;
    /// assert_eq!(manager.destroy_user("alice").await?, 2);
    /// assert!(manager.list_user("alice").await?.is_empty());
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn destroy_user(&self, user: &str) -> Result<usize, Error> {
        Ok(self.shared.store.delete_user(user).await?)
    }

    /// The number of live sessions.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// # use cloakroom::{SessionId, SessionLayer, SessionMeta, SessionRecord, SessionStore};
    /// # async fn stored(layer: &SessionLayer, user: Option<&str>) -> SessionId {
    /// #     let id = SessionId::generate();
    /// #     let now = cloakroom::whole_millis(SystemTime::now());
    /// #     let mut meta = SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600));
    /// #     meta.user = user.map(str::to_owned);
    /// #     layer.store().create(&id.store_key(), &SessionRecord::new(meta)).await.unwrap();
    /// #     id
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).build().unwrap();
    /// let manager = layer.manager();
    /// assert_eq!(manager.count().await?, 0);
    /// stored(&layer, None).await; // a session some request created
    /// assert_eq!(manager.count().await?, 1);
    /// # Ok::<(), cloakroom::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn count(&self) -> Result<usize, Error> {
        Ok(self.shared.store.count(self.now()).await?)
    }

    /// Deletes expired sessions now; returns how many went.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cloakroom::{Clock, ManualClock, SessionId, SessionLayer, SessionMeta, SessionRecord, SessionStore};
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
        Ok(self.shared.store.purge_expired(self.now()).await?)
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
        Ok(self.shared.store.ping().await?)
    }
}
