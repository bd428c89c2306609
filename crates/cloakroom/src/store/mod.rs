#![doc = include_str!("../../../../docs/STORES.md")]

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
