//! For store authors: the [`SessionStore`] contract, the records and change sets it
//! works with, and the builders of the stores that ship with cloakroom.
//!
//! An application only names a store to hand it to the layer
//! ([`MemoryStore`](crate::MemoryStore), [`RedisStore`](crate::RedisStore) at the
//! crate root); everything here is for writing a store of your own, or for tests
//! that talk to one directly.
//!
//! A store never sees a session ID: every method takes the [`StoreKey`] (SHA-256 of
//! the ID). Writes are change sets applied per key and atomically, never whole
//! records, so concurrent requests on one session keep each other's writes; and a
//! commit only ever updates a session that still exists, so a destroyed, expired or
//! revoked session stays gone. The [`conformance`](crate::conformance) suite checks
//! a store against every rule.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use cloakroom::{MemoryStore, SessionId};
//! use cloakroom::store::{ChangeSet, SessionMeta, SessionRecord, SessionStore, Touch};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (store, key) = (MemoryStore::new(), SessionId::generate().store_key());
//! let now = cloakroom::clock::whole_millis(SystemTime::now());
//! store.create(&key, &SessionRecord::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)))).await?;
//! let mut changes = ChangeSet::new(now);
//! changes.set.push(("theme".into(), r#""dark""#.into()));
//! assert!(store.commit(&key, &changes).await?);
//! let record = store.load(&key, &Touch::new(now, now)).await?.expect("live");
//! assert_eq!(record.data["theme"], r#""dark""#);
//! # Ok::<(), cloakroom::store::StoreError>(())
//! # }).unwrap();
//! ```

mod change;
mod error;
mod fresh;
pub(crate) mod memory;
mod record;
#[cfg(feature = "redis")]
pub(crate) mod redis;
mod session_store;
mod simple;

use std::time::{Duration, SystemTime};

pub use self::change::{ChangeSet, Touch, UserChange};
pub use self::error::StoreError;
pub use self::fresh::{CommitOutcome, FreshSession};
pub use self::memory::MemoryStoreBuilder;
pub use self::record::{SessionMeta, SessionRecord, UserSession};
#[cfg(feature = "redis")]
pub use self::redis::RedisStoreBuilder;
pub use self::session_store::SessionStore;
pub use self::simple::{SimpleStore, SimpleStoreAdapter};
pub use crate::id::StoreKey;

/// Default time between two purges of expired sessions, for the stores that purge
/// in the background.
pub(crate) const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// How many passes "log out everywhere" makes over a user's index at most: a pass
/// that finds a session regenerated meanwhile goes round again for its new key.
pub(crate) const MAX_LOGOUT_PASSES: usize = 8;

/// What a commit did to the session it was meant for, inside a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The session is absent or dead: nothing was written.
    Gone,
    /// The change set was applied; `slid_to` is the session's expiry afterwards
    /// when the idle deadline moved, `None` when it stayed.
    Live {
        /// The session's expiry after the commit, when the commit moved it.
        slid_to: Option<SystemTime>,
    },
}

impl Applied {
    /// True unless the session was gone.
    pub(crate) fn is_live(self) -> bool {
        matches!(self, Applied::Live { .. })
    }
}
