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
    pub fn ticket(&self, id: &SessionId) -> String {
        self.shared.signer.sign(id)
    }

    /// The session ID inside a ticket, if the ticket verifies.
    pub fn verify_ticket(&self, ticket: &str) -> Option<SessionId> {
        self.shared.signer.verify(ticket.as_bytes()).map(|t| t.id)
    }

    /// The live session `id`, without sliding its idle deadline.
    pub async fn get(&self, id: &SessionId) -> Result<Option<SessionRecord>, Error> {
        let now = self.now();
        Ok(self.shared.store.load(&id.store_key(), &Touch::new(now, now)).await?)
    }

    /// One value of the live session `id`.
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
    pub async fn remove(&self, id: &SessionId, key: &str) -> Result<bool, Error> {
        let mut changes = ChangeSet::new(self.now());
        changes.remove.push(key.to_owned());
        Ok(self.shared.store.commit(&id.store_key(), &changes).await?)
    }

    /// Deletes session `id`; `true` if there was one.
    pub async fn destroy(&self, id: &SessionId) -> Result<bool, Error> {
        Ok(self.shared.store.delete(&id.store_key()).await?)
    }

    /// The live sessions of `user`, newest first (times are whole milliseconds:
    /// sessions created in the same millisecond come most recently used first,
    /// then by handle).
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
    pub async fn revoke(&self, user: &str, handle: &SessionHandle) -> Result<bool, Error> {
        let sessions = self.shared.store.list_user(user, self.now()).await?;
        match sessions.iter().find(|s| &s.handle() == handle) {
            Some(session) => Ok(self.shared.store.delete(&session.key).await?),
            None => Ok(false),
        }
    }

    /// Deletes every session of `user` (log out everywhere); returns how many went.
    pub async fn destroy_user(&self, user: &str) -> Result<usize, Error> {
        Ok(self.shared.store.delete_user(user).await?)
    }

    /// The number of live sessions.
    pub async fn count(&self) -> Result<usize, Error> {
        Ok(self.shared.store.count(self.now()).await?)
    }

    /// Deletes expired sessions now; returns how many went.
    pub async fn purge_expired(&self) -> Result<usize, Error> {
        Ok(self.shared.store.purge_expired(self.now()).await?)
    }

    /// Checks that the store answers (for health checks).
    pub async fn ping(&self) -> Result<(), Error> {
        Ok(self.shared.store.ping().await?)
    }
}
