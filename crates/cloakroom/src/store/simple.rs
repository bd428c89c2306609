//! An adapter for stores written as get/set/destroy of whole records.

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{
    ChangeSet, CommitOutcome, Loaded, SessionMeta, SessionRecord, SessionStore, StoreError, Touch, UserSession,
};
use crate::id::StoreKey;

/// A store written the simple way: whole records in, whole records out.
///
/// Wrap it in [`SimpleStoreAdapter`] to use it as a [`SessionStore`].
///
/// **Caveat: last writer wins.** The adapter applies a change set by reading the
/// record, changing it and writing it back. Two requests on one session that
/// commit at the same moment can lose one another's writes (its compare-and-set and
/// its additions are checked against the record it read, not atomically with the
/// write), and a request that commits just after another destroyed the session can
/// bring it back. It keeps no moved markers either: a stale ticket after a
/// regenerate reads as a gone session, and its response removes the cookie. Every
/// store that ships with cloakroom applies change sets atomically instead;
/// implement [`SessionStore`] directly when your backend can do the same.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use async_trait::async_trait;
/// use cloakroom::SessionLayer;
/// use cloakroom::store::{SessionRecord, SimpleStore, SimpleStoreAdapter, StoreError, StoreKey};
///
/// #[derive(Debug, Default)]
/// struct MyStore(Mutex<HashMap<StoreKey, SessionRecord>>);
///
/// #[async_trait]
/// impl SimpleStore for MyStore {
///     async fn get(&self, key: &StoreKey) -> Result<Option<SessionRecord>, StoreError> {
///         Ok(self.0.lock().unwrap().get(key).cloned())
///     }
///     async fn set(&self, key: &StoreKey, record: &SessionRecord) -> Result<(), StoreError> {
///         self.0.lock().unwrap().insert(*key, record.clone());
///         Ok(())
///     }
///     async fn destroy(&self, key: &StoreKey) -> Result<(), StoreError> {
///         self.0.lock().unwrap().remove(key);
///         Ok(())
///     }
/// }
///
/// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec())
///     .store(SimpleStoreAdapter::new(MyStore::default()))
///     .build()
///     .unwrap();
/// ```
#[async_trait]
pub trait SimpleStore: Send + Sync + fmt::Debug + 'static {
    /// The record under `key`, expired or not; `None` if there is none.
    ///
    /// ```
    /// use cloakroom::store::{SimpleStore, StoreError, StoreKey};
    ///
    /// async fn user_of(store: &impl SimpleStore, key: &StoreKey) -> Result<Option<String>, StoreError> {
    ///     Ok(store.get(key).await?.and_then(|record| record.meta.user))
    /// }
    /// ```
    async fn get(&self, key: &StoreKey) -> Result<Option<SessionRecord>, StoreError>;

    /// Writes the whole record under `key`, replacing any record there.
    ///
    /// ```
    /// use cloakroom::store::{SessionRecord, SimpleStore, StoreError, StoreKey};
    ///
    /// async fn forget_data(store: &impl SimpleStore, key: &StoreKey) -> Result<(), StoreError> {
    ///     if let Some(record) = store.get(key).await? {
    ///         store.set(key, &SessionRecord::new(record.meta)).await?;
    ///     }
    ///     Ok(())
    /// }
    /// ```
    async fn set(&self, key: &StoreKey, record: &SessionRecord) -> Result<(), StoreError>;

    /// Deletes the record under `key`, if any; deleting nothing is not an error.
    ///
    /// ```
    /// use cloakroom::store::{SimpleStore, StoreError, StoreKey};
    ///
    /// async fn sign_out(store: &impl SimpleStore, key: &StoreKey) -> Result<(), StoreError> {
    ///     store.destroy(key).await
    /// }
    /// ```
    async fn destroy(&self, key: &StoreKey) -> Result<(), StoreError>;

    /// Writes new metadata for the record under `key`. The default reads the record
    /// and writes it back whole; override it when the backend can write the
    /// metadata alone (the adapter calls it when a load slides the idle deadline).
    ///
    /// ```
    /// use cloakroom::store::{SimpleStore, StoreError, StoreKey};
    ///
    /// async fn unbind(store: &impl SimpleStore, key: &StoreKey) -> Result<(), StoreError> {
    ///     if let Some(mut record) = store.get(key).await? {
    ///         record.meta.user = None;
    ///         store.touch(key, &record.meta).await?;
    ///     }
    ///     Ok(())
    /// }
    /// ```
    async fn touch(&self, key: &StoreKey, meta: &SessionMeta) -> Result<(), StoreError> {
        if let Some(mut record) = self.get(key).await? {
            record.meta = meta.clone();
            self.set(key, &record).await?;
        }
        Ok(())
    }

    /// Every record's key and metadata, for purging, counting and the per-user
    /// index. The default says the store cannot list its records
    /// ([`StoreError::Unsupported`]): those operations then fail.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use cloakroom::store::{SimpleStore, StoreError};
    ///
    /// async fn live_sessions(store: &impl SimpleStore) -> Result<usize, StoreError> {
    ///     let now = SystemTime::now();
    ///     Ok(store.all().await?.iter().filter(|(_, meta)| !meta.is_expired(now)).count())
    /// }
    /// ```
    async fn all(&self) -> Result<Vec<(StoreKey, SessionMeta)>, StoreError> {
        Err(StoreError::Unsupported("listing sessions (SimpleStore::all)"))
    }
}

/// Makes a [`SimpleStore`] usable as a [`SessionStore`], with the last-writer-wins
/// caveat described there.
///
/// ```
/// use cloakroom::{Error, SessionLayer};
/// use cloakroom::store::{SimpleStore, SimpleStoreAdapter};
///
/// fn layer_over(store: impl SimpleStore) -> Result<SessionLayer, Error> {
///     SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec())
///         .store(SimpleStoreAdapter::new(store))
///         .build()
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SimpleStoreAdapter<S> {
    inner: S,
}

impl<S: SimpleStore> SimpleStoreAdapter<S> {
    /// Wraps `store`.
    ///
    /// ```
    /// use cloakroom::store::{SessionStore, SimpleStore, SimpleStoreAdapter};
    ///
    /// fn as_session_store<S: SimpleStore>(store: S) -> impl SessionStore {
    ///     SimpleStoreAdapter::new(store)
    /// }
    /// ```
    pub fn new(store: S) -> Self {
        Self { inner: store }
    }

    /// The wrapped store.
    ///
    /// ```
    /// use cloakroom::store::{SimpleStore, SimpleStoreAdapter};
    ///
    /// fn unwrap_ref<S: SimpleStore>(adapter: &SimpleStoreAdapter<S>) -> &S {
    ///     adapter.get_ref()
    /// }
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    async fn live(&self, key: &StoreKey, now: SystemTime) -> Result<Option<SessionRecord>, StoreError> {
        match self.inner.get(key).await? {
            Some(record) if record.meta.is_expired(now) => {
                self.inner.destroy(key).await?;
                Ok(None)
            }
            other => Ok(other),
        }
    }
}

#[async_trait]
impl<S: SimpleStore> SessionStore for SimpleStoreAdapter<S> {
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        let Some(mut record) = self.live(key, touch.now).await? else {
            return Ok(Loaded::Gone);
        };
        if record.meta.apply_touch(touch) {
            self.inner.touch(key, &record.meta).await?;
        }
        Ok(Loaded::Live(record))
    }

    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        if self.live(key, record.meta.created_at).await?.is_some() {
            return Ok(false);
        }
        self.inner.set(key, record).await?;
        Ok(true)
    }

    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<CommitOutcome, StoreError> {
        let Some(mut record) = self.live(key, changes.now).await? else {
            return Ok(CommitOutcome::Gone);
        };
        if !record.admits(changes) {
            return Ok(CommitOutcome::Conflict);
        }
        let slid = changes.slides(record.meta.idle_deadline);
        record.apply(changes);
        self.inner.set(key, &record).await?;
        Ok(CommitOutcome::Applied(slid.then(|| record.meta.expires_at())))
    }

    async fn regenerate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        let Some(mut record) = self.live(old, changes.now).await? else {
            return Ok(CommitOutcome::Gone);
        };
        if !record.admits(changes) || self.live(new, changes.now).await?.is_some() {
            return Ok(CommitOutcome::Conflict);
        }
        record.apply(changes);
        self.inner.set(new, &record).await?;
        self.inner.destroy(old).await?;
        Ok(CommitOutcome::Applied(None))
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let existed = self.inner.get(key).await?.is_some();
        self.inner.destroy(key).await?;
        Ok(existed)
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<usize, StoreError> {
        let mut purged = 0;
        for (key, meta) in self.inner.all().await? {
            if meta.is_expired(now) {
                self.inner.destroy(&key).await?;
                purged += 1;
            }
        }
        Ok(purged)
    }

    async fn list_user(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError> {
        Ok(self
            .inner
            .all()
            .await?
            .into_iter()
            .filter(|(_, meta)| meta.user.as_deref() == Some(user) && !meta.is_expired(now))
            .map(|(key, meta)| UserSession { key, meta })
            .collect())
    }

    async fn delete_user(&self, user: &str) -> Result<usize, StoreError> {
        let now = SystemTime::now();
        let mut deleted = 0;
        for (key, meta) in self.inner.all().await? {
            if meta.user.as_deref() == Some(user) {
                self.inner.destroy(&key).await?;
                deleted += usize::from(!meta.is_expired(now));
            }
        }
        Ok(deleted)
    }

    async fn count(&self, now: SystemTime) -> Result<usize, StoreError> {
        Ok(self
            .inner
            .all()
            .await?
            .iter()
            .filter(|(_, meta)| !meta.is_expired(now))
            .count())
    }

    fn kind(&self) -> &'static str {
        "simple"
    }
}
